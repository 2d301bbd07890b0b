"""Plotly figures in notebooks that render everywhere (``enable()``, once per notebook).

A plotly figure shown in a notebook normally leaves only ``application/vnd.plotly.v1+json`` in
the output, which JupyterLab draws but nbconvert's HTML, GitHub's viewer and most other viewers
ignore: the chart vanishes. After ``enable()`` every figure a cell shows carries two renderings
in one output: the interactive one (JupyterLab, VS Code) and a static PNG (``static_png``)
drawn offline with matplotlib from the figure's own traces, which viewers without plotly show.

``static_png`` covers the traces flyer's figures use: scatter (lines, markers, fills, dashes,
steps), bar (vertical, horizontal, grouped), histogram, heatmap (with cell text), subplots and
secondary y axes, percent tick formats, and horizontal / vertical lines and shaded spans.
"""
from __future__ import annotations

import base64
import io
from typing import Any

RENDERER = "flyer_static"


def enable() -> None:
    """Show every plotly figure as the interactive figure plus a static PNG (module docstring)."""
    import plotly.io as pio
    from plotly.io._base_renderers import MimetypeRenderer

    class StaticRenderer(MimetypeRenderer):
        def to_mimebundle(self, fig_dict: dict[str, Any]) -> dict[str, str]:
            return {"image/png": base64.b64encode(static_png(fig_dict)).decode("ascii")}

    pio.renderers[RENDERER] = StaticRenderer()
    pio.renderers.default = f"plotly_mimetype+{RENDERER}"


def static_png(fig: Any, width: float = 9.0, dpi: int = 90) -> bytes:
    """A PNG of the plotly figure ``fig`` (a ``go.Figure`` or its dict), ``width`` inches wide and
    as tall as the figure's layout height asks (``dpi`` dots per inch)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    d = fig if isinstance(fig, dict) else fig.to_dict()
    layout = d.get("layout", {})
    traces = [{**t, "_color": COLORWAY[i % len(COLORWAY)]} for i, t in enumerate(d.get("data", []))]
    height = float(layout.get("height") or 400) / 100
    canvas = plt.figure(figsize=(width, max(height, 2.5)), dpi=dpi)
    try:
        axes = _axes(canvas, layout, traces, _left(traces))
        groups = _bar_groups(traces, layout)
        for trace in traces:
            _draw(axes[(trace.get("xaxis", "x"), trace.get("yaxis", "y"))], trace, groups)
        _shapes(axes, layout)
        _annotations(canvas, layout)
        _decorate(canvas, axes, layout)
        buf = io.BytesIO()
        canvas.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()
    finally:
        plt.close(canvas)


def _key(ref: str, kind: str) -> str:
    """'x2' -> 'xaxis2', 'y' -> 'yaxis'."""
    return f"{kind}axis{ref[1:]}"


#: plotly's default colour sequence (traces without a colour of their own take the next one)
COLORWAY = ("#636efa", "#EF553B", "#00cc96", "#ab63fa", "#FFA15A", "#19d3f3", "#FF6692", "#B6E880", "#FF97FF",
            "#FECB52")


def _left(traces: list[dict[str, Any]]) -> float:
    """Left margin (figure fraction): wider for horizontal bars with long category names."""
    names = [str(v) for t in traces if t.get("type") == "bar" and t.get("orientation") == "h"
             for v in _values(t.get("y"))]
    return min(0.08 + 0.0085 * max((len(n) for n in names), default=0), 0.35)


def _bar_groups(traces: list[dict[str, Any]], layout: dict[str, Any]) -> dict[int, tuple[int, int]]:
    """``id(trace) -> (position, count)`` of vertical bars drawn side by side (plotly's default
    ``barmode`` is ``group``)."""
    if layout.get("barmode") not in (None, "group"):
        return {}
    by_axes: dict[tuple[str, str], list[int]] = {}
    for i, t in enumerate(traces):
        if t.get("type") == "bar" and t.get("orientation") != "h":
            by_axes.setdefault((t.get("xaxis", "x"), t.get("yaxis", "y")), []).append(i)
    return {id(traces[i]): (k, len(ids)) for ids in by_axes.values() for k, i in enumerate(ids)}


def _axes(canvas: Any, layout: dict[str, Any], traces: list[dict[str, Any]],
          left: float = 0.08) -> dict[tuple[str, str], Any]:
    """One matplotlib axes per (x axis, y axis) pair the traces use, placed at the plotly domains
    (an overlaying y axis shares its base's axes through ``twinx``)."""
    pairs = {(t.get("xaxis", "x"), t.get("yaxis", "y")) for t in traces} or {("x", "y")}
    out: dict[tuple[str, str], Any] = {}
    base: dict[str, Any] = {}
    for x, y in sorted(pairs, key=lambda p: bool(layout.get(_key(p[1], "y"), {}).get("overlaying"))):
        yax = layout.get(_key(y, "y"), {})
        over = yax.get("overlaying")
        if over and over in base:
            out[(x, y)] = base[over].twinx()
            continue
        xd = layout.get(_key(x, "x"), {}).get("domain", [0.0, 1.0])
        yd = yax.get("domain", [0.0, 1.0])
        span = 0.96 - left
        x0, bottom = left + span * xd[0], 0.1 + 0.76 * yd[0]
        ax = canvas.add_axes((x0, bottom, span * (xd[1] - xd[0]) - 0.02, 0.76 * (yd[1] - yd[0]) - 0.05))
        out[(x, y)] = base[y] = ax
    return out


def _color(trace: dict[str, Any], key: str = "line") -> Any:
    c = (trace.get(key) or {}).get("color") or (trace.get("marker") or {}).get("color")
    return c if isinstance(c, str) else trace.get("_color")


def _draw(ax: Any, t: dict[str, Any], groups: dict[int, tuple[int, int]]) -> None:
    """One trace onto ``ax``."""
    kind, name = t.get("type", "scatter"), t.get("name")
    x, y = _values(t.get("x")), _values(t.get("y"))
    if kind == "scatter":
        mode = t.get("mode") or ("lines" if len(x) > 20 else "lines+markers")
        line = t.get("line") or {}
        style = {"label": name, "color": _color(t), "linewidth": min(float(line.get("width") or 1.5), 3.0),
                 "linestyle": {"dot": ":", "dash": "--"}.get(str(line.get("dash")), "-"),
                 "drawstyle": "steps-post" if line.get("shape") == "hv" else "default"}
        if "lines" in mode:
            ax.plot(x, [_num(v) for v in y], marker="o" if "markers" in mode else None, markersize=3, **style)
        else:
            ax.scatter(x, [_num(v) for v in y], s=4, label=name, color=_color(t, "marker"))
        if t.get("fill") in ("tozeroy", "tonexty") and x:
            ax.fill_between(x, [_num(v) for v in y], 0, alpha=0.15, color=_color(t))
    elif kind == "bar":
        _bars(ax, t, groups.get(id(t), (0, 1)))
    elif kind == "histogram":
        vals = [v for v in (x or y) if v is not None]
        ax.hist(vals, bins=int(t.get("nbinsx") or 40), alpha=float(t.get("opacity") or 0.7), label=name,
                color=_color(t, "marker"))
    elif kind == "heatmap":
        _heatmap(ax, t)


def _num(v: Any) -> float:
    return float("nan") if v is None else float(v)


def _values(v: Any) -> list[Any]:
    """A trace's array as a list: plotly writes numpy arrays as ``{dtype, bdata, shape}``."""
    import numpy as np

    if isinstance(v, dict) and "bdata" in v:
        arr = np.frombuffer(base64.b64decode(v["bdata"]), dtype=np.dtype(v["dtype"]))
        if v.get("shape"):
            arr = arr.reshape([int(n) for n in str(v["shape"]).split(",")])
        return arr.tolist()
    if v is None:
        return []
    return v.tolist() if hasattr(v, "tolist") else list(v)


def _bars(ax: Any, t: dict[str, Any], group: tuple[int, int]) -> None:
    """Vertical or horizontal bars; ``group``: (position, count) among bars drawn side by side."""
    colors = (t.get("marker") or {}).get("color")
    color = colors if isinstance(colors, (str, list, tuple)) else t.get("_color")
    if t.get("orientation") == "h":
        ax.barh([str(v) for v in _values(t.get("y"))], [_num(v) for v in _values(t.get("x"))], color=color,
                label=t.get("name"))
        return
    x = _values(t.get("x"))
    y = [_num(v) for v in _values(t.get("y"))]
    k, n = group
    if x and isinstance(x[0], str):  # categories: side by side around each tick
        ax.bar([i - 0.4 + 0.8 * (k + 0.5) / n for i in range(len(x))], y, width=0.8 / n, label=t.get("name"),
               color=color)
        ax.set_xticks(range(len(x)), x)
        return
    width = _width(x) / n
    if n > 1 and len(x) > 1:
        import datetime as dt

        shift = dt.timedelta(days=width * (k - (n - 1) / 2)) if isinstance(x[0], (dt.date, dt.datetime)) else None
        x = [v + shift for v in x] if shift is not None else [v + width * (k - (n - 1) / 2) for v in x]
    ax.bar(x, y, label=t.get("name"), color=color, width=width)


def _width(x: list[Any]) -> float:
    """Bar width: 0.8 on numbers, most of the gap between dates (matplotlib counts days there)."""
    import datetime as dt

    if len(x) > 1 and isinstance(x[0], (dt.date, dt.datetime)):
        return max((x[1] - x[0]).days * 0.8, 0.8)
    return 0.8


def _heatmap(ax: Any, t: dict[str, Any]) -> None:
    import numpy as np

    z = np.array([[np.nan if v is None else float(v) for v in row] for row in _values(t.get("z"))], dtype=float)
    if z.size == 0:
        return
    cmap = {"RdYlGn": "RdYlGn", "RdBu": "RdBu_r" if t.get("reversescale") else "RdBu"}.get(
        str(t.get("colorscale") if isinstance(t.get("colorscale"), str) else "RdYlGn"), "RdYlGn")
    img = ax.imshow(z, aspect="auto", cmap=cmap, vmin=t.get("zmin"), vmax=t.get("zmax"), interpolation="nearest")
    xs, ys = _values(t.get("x")) or list(range(z.shape[1])), _values(t.get("y")) or list(range(z.shape[0]))
    step_x, step_y = max(1, len(xs) // 24), max(1, len(ys) // 30)
    ax.set_xticks(range(0, len(xs), step_x), [str(v) for v in xs[::step_x]], rotation=90 if len(xs) > 13 else 0,
                  fontsize=7)
    ax.set_yticks(range(0, len(ys), step_y), [str(v) for v in ys[::step_y]], fontsize=7)
    text = _values(t.get("text"))
    if text and z.shape[0] * z.shape[1] <= 400:
        for i, row in enumerate(text):
            for j, cell in enumerate(row):
                if cell:
                    ax.text(j, i, str(cell), ha="center", va="center", fontsize=6)
    ax.figure.colorbar(img, ax=ax, fraction=0.03, pad=0.01)


def _shapes(axes: dict[tuple[str, str], Any], layout: dict[str, Any]) -> None:
    """Horizontal / vertical lines and shaded spans (``add_hline``, ``add_vline``, ``add_vrect``)."""
    for s in layout.get("shapes") or []:
        ax = axes.get((str(s.get("xref", "x")).split(" ")[0], str(s.get("yref", "y")).split(" ")[0]))
        if ax is None:
            ax = next(iter(axes.values()))
        if s.get("type") == "rect" and str(s.get("yref", "")).endswith("domain"):
            ax.axvspan(s.get("x0"), s.get("x1"), alpha=float(s.get("opacity") or 0.15),
                       color=s.get("fillcolor") or "#e76f51", linewidth=0)
        elif s.get("type") == "line" and s.get("y0") == s.get("y1") and str(s.get("xref", "")).endswith("domain"):
            ax.axhline(s.get("y0"), color="#999", linewidth=0.8)
        elif s.get("type") == "line" and s.get("x0") == s.get("x1"):
            ax.axvline(s.get("x0"), color="#999", linewidth=0.8, linestyle="--")


def _annotations(canvas: Any, layout: dict[str, Any]) -> None:
    """Annotations placed on the page (subplot titles): text at their paper coordinates."""
    for a in layout.get("annotations") or []:
        if a.get("xref") == "paper" and a.get("yref") == "paper" and a.get("text"):
            canvas.text(0.08 + 0.88 * float(a.get("x", 0.5)), 0.1 + 0.76 * float(a.get("y", 1.0)), str(a["text"]),
                        ha="center", va="bottom", fontsize=8)


def _decorate(canvas: Any, axes: dict[tuple[str, str], Any], layout: dict[str, Any]) -> None:
    """Title, axis titles, percent ticks, log axes, reversed category axes and one legend."""
    from matplotlib.ticker import PercentFormatter

    title = (layout.get("title") or {}).get("text") if isinstance(layout.get("title"), dict) else layout.get("title")
    if title:
        canvas.suptitle(str(title), fontsize=10)
    for (x, y), ax in axes.items():
        xa, ya = layout.get(_key(x, "x"), {}), layout.get(_key(y, "y"), {})
        for axis, spec, setter in ((ax.xaxis, xa, ax.set_xlabel), (ax.yaxis, ya, ax.set_ylabel)):
            label = (spec.get("title") or {}).get("text") if isinstance(spec.get("title"), dict) else None
            if label:
                setter(str(label), fontsize=8)
            if str(spec.get("tickformat", "")).endswith("%"):
                axis.set_major_formatter(PercentFormatter(1.0, decimals=None))
        if xa.get("type") == "log":
            ax.set_xscale("log")
        if ya.get("autorange") == "reversed" and not ax.images:
            ax.invert_yaxis()
        ax.tick_params(labelsize=7)
    handles = [h for ax in axes.values() for h in ax.get_legend_handles_labels()[0]]
    labels = [lab for ax in axes.values() for lab in ax.get_legend_handles_labels()[1]]
    if len(labels) > 1 and len(labels) <= 12:
        canvas.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.95), ncol=min(len(labels), 4),
                      fontsize=7, frameon=False)
