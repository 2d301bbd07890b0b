"""Side-by-side comparison of runs, saved backtests and experiments (``flyer compare A B ...``).

``items(home, ids)`` resolves each id (a unique prefix is enough; id-shaped, never a path:
``flyer.core.names.resolve_id``) to what it names, in this order: a run (with its canonical saved
backtest, if any: ``flyer.backtest.canonical``), a saved backtest (``$FLYER_HOME/backtests/<id>``;
with its run), an experiment (each of its backtests, or its runs when it has none).
``table(items)`` is one row per field (config key fields, test IC / RankIC / ICIR,
backtest figures) and one column per item; ``page(items, table)`` is an HTML page with the
table and the NAV, excess and cumulative RankIC curves overlaid.
"""
from __future__ import annotations

import html
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from flyer.core.errors import FlyerError

Home = str | os.PathLike | None


@dataclass(frozen=True)
class Item:
    """One compared thing: a label, the run's summary row (or None) and a saved backtest (or None)."""

    label: str
    run: dict[str, Any] | None
    backtest: Any | None  # flyer.backtest.records.Record


def _run_row(home: Home, run_id: str) -> dict[str, Any]:
    from flyer.models.runs import list_runs, load_run

    run = load_run(home, run_id)
    row = list_runs(home).filter(pl.col("id") == run.id)
    return {**(row.row(0, named=True) if row.height else {"id": run.id}), "path": str(run.path)}


def _from_backtest(home: Home, rec: Any) -> Item:
    run = _run_row(home, rec.meta["run"]) if rec.meta.get("run") else None
    return Item(rec.id, run, rec)


def resolve(home: Home, ident: str) -> list[Item]:
    """What ``ident`` names (see the module docstring); FlyerError when nothing matches."""
    from flyer import experiments
    from flyer.backtest import records
    from flyer.backtest.canonical import canonical
    from flyer.core.names import NotFoundError, safe_name

    safe_name(ident, "id")  # an id, never a path: refused with exit 2
    try:  # a run first: its saved backtests' ids start with the run's id
        row = _run_row(home, ident)
        return [Item(row["id"], row, canonical(home, row["id"]).record)]
    except NotFoundError:
        pass
    try:
        return [_from_backtest(home, records.load(home, ident))]
    except NotFoundError:
        pass
    try:
        exp = experiments.load(home, ident)
    except NotFoundError:
        raise FlyerError(f"{ident!r} is neither a saved backtest, a run nor an experiment "
                         "(see `flyer runs`, `flyer experiments`)") from None
    if not exp.summary:
        raise FlyerError(f"experiment {exp.id} is incomplete: run its workflow first")
    if exp.backtests():
        return [Item(f"{exp.id[:6]}:{b['name']}/{b['model']}", _run_row(home, b["run"]),
                     records.load(home, b["backtest"])) for b in exp.backtests()]
    return [Item(f"{exp.id[:6]}:{m['name']}", _run_row(home, m["run"]), None) for m in exp.runs()]


def items(home: Home, idents: list[str]) -> list[Item]:
    out = [it for ident in idents for it in resolve(home, ident)]
    if len(out) < 2:
        raise FlyerError("compare needs at least two things (runs, saved backtests or experiments)")
    return out


#: (field, source, key, format) rows of the comparison table
FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("model", "run", "model", "{}"), ("factors", "run", "factors", "{}"), ("universe", "run", "universe", "{}"),
    ("label horizon, days", "run", "horizon", "{}"), ("test span", "run", "test", "{}"),
    ("walk-forward", "run", "walk_forward", "{}"), ("run", "run", "id", "{}"),
    ("test IC", "run", "IC", "{:.4f}"), ("test RankIC", "run", "RankIC", "{:.4f}"), ("test ICIR", "run", "ICIR", "{:.3f}"),
    ("strategy", "config", "strategy", "{}"), ("k / n_drop", "config", "k_ndrop", "{}"),
    ("backtest span", "metrics", "span", "{}"),
    ("annual return", "metrics", "annual_return", "{:.2%}"),
    ("excess / yr (geometric)", "metrics", "excess_annual_return", "{:.2%}"),
    ("information ratio", "metrics", "information_ratio", "{:.2f}"), ("Sharpe", "metrics", "sharpe", "{:.2f}"),
    ("max drawdown", "metrics", "max_drawdown", "{:.2%}"), ("excess max drawdown", "metrics", "excess_max_drawdown", "{:.2%}"),
    ("turnover / yr, x NAV", "metrics", "annual_turnover", "{:.1f}"), ("cost drag / yr", "metrics", "cost_drag", "{:.2%}"),
    ("benchmark", "metrics", "benchmark", "{}"),
)


def _value(item: Item, source: str, key: str) -> Any:
    if source == "run":
        return (item.run or {}).get(key)
    if item.backtest is None:
        return None
    if source == "config":
        cfg = item.backtest.meta.get("config", {})
        return f"{cfg.get('k')} / {cfg.get('n_drop')}" if key == "k_ndrop" else cfg.get(key)
    m = item.backtest.metrics
    if key == "benchmark":
        return str(m.get(key) or "").split(" (")[0] or None
    return f"{m.get('start')}..{m.get('end')}" if key == "span" else m.get(key)


def _text(fmt: str, v: Any) -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "-"
    try:
        return fmt.format(v)
    except (ValueError, TypeError):
        return str(v)


def table(its: list[Item]) -> pl.DataFrame:
    """``[field, <one text column per item>]`` (formatted for people)."""
    labels = _unique([it.label for it in its])
    data: dict[str, list[str]] = {"field": [f for f, *_ in FIELDS]}
    for label, it in zip(labels, its):
        data[label] = [_text(fmt, _value(it, src, key)) for _, src, key, fmt in FIELDS]
    return pl.DataFrame(data)


def values(its: list[Item]) -> pl.DataFrame:
    """``[item, <field>...]`` raw values, one row per item (what ``--csv`` writes)."""
    rows = []
    for label, it in zip(_unique([it.label for it in its]), its):
        rows.append({"item": label, **{f: _value(it, src, key) for f, src, key, _ in FIELDS}})
    return pl.DataFrame([{k: (v if isinstance(v, (int, float, bool)) or v is None else str(v)) for k, v in r.items()}
                         for r in rows], infer_schema_length=None)


def _unique(labels: list[str]) -> list[str]:
    out: list[str] = []
    for label in labels:
        out.append(label if label not in out else f"{label} ({len(out) + 1})")
    return out


def curves(its: list[Item]) -> dict[str, Any]:
    """Plotly figures: NAV (start = 1), excess (geometric) and cumulative daily RankIC overlaid."""
    import plotly.graph_objects as go

    from flyer.backtest.metrics import curves as nav_curves
    from flyer.models.metrics import daily_ic

    nav, excess, ic = go.Figure(), go.Figure(), go.Figure()
    for label, it in zip(_unique([it.label for it in its]), its):
        if it.backtest is not None:
            daily = it.backtest.table("daily")
            n, _, x = nav_curves(daily)
            dates = daily["date"].to_list()
            nav.add_scatter(x=dates, y=n, name=label)
            excess.add_scatter(x=dates, y=x, name=label)
        if it.run is not None and (Path(it.run["path"]) / "oos.parquet").exists():
            d = daily_ic(pl.read_parquet(Path(it.run["path"]) / "oos.parquet"))
            ic.add_scatter(x=d["date"].to_list(), y=d["rank_ic"].fill_null(0).cum_sum().to_list(), name=label)
    layout = dict(template="plotly_white", height=380, legend=dict(orientation="h", y=1.12))
    nav.update_layout(title="NAV (start = 1)", yaxis_title="NAV", **layout)
    excess.update_layout(title="Excess over the benchmark (geometric, start = 1)", yaxis_title="excess NAV", **layout)
    ic.update_layout(title="Cumulative daily RankIC of the scores (test period)", yaxis_title="sum of RankIC", **layout)
    return {"nav": nav, "excess": excess, "rank_ic": ic}


def page(its: list[Item], title: str = "flyer compare") -> str:
    """The HTML page: the comparison table, then the overlaid curves (plotly.js loaded from the
    page's folder: ``flyer.core.pages``)."""
    from flyer.core.pages import document, figure_html

    t = table(its)
    head = "".join(f"<th>{html.escape(c)}</th>" for c in t.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in t.iter_rows())
    charts = "".join(figure_html(f) for f in curves(its).values() if f.data)
    return document(title, f"<table class='grid' id='compare'><tr>{head}</tr>{body}</table>{charts}")


def write_page(its: list[Item], path: str | os.PathLike, title: str = "flyer compare", *,
               self_contained: bool = False) -> Path:
    """Write ``page`` (plotly.js beside it, or inlined with ``self_contained``); returns the path."""
    from flyer.core.pages import write

    return write(page(its, title), path, self_contained=self_contained)


def runs_overview(home: Home) -> pl.DataFrame:
    """``models.list_runs`` with each run's canonical saved backtest (``flyer.backtest.canonical``:
    the one marked, else the first saved): ``backtest`` (its id), ``how`` (marked | first),
    ``excess`` (annualised geometric excess return) and ``IR``."""
    from flyer.backtest.canonical import canonical_all
    from flyer.models.runs import list_runs

    runs = list_runs(home)
    rows = [{"id": rid, "backtest": c.record.id, "how": c.how, "excess": c.record.metrics.get("excess_annual_return"),
             "IR": c.record.metrics.get("information_ratio")}
            for rid, c in canonical_all(home).items() if c.record is not None]
    extra = pl.DataFrame(rows, schema={"id": pl.Utf8, "backtest": pl.Utf8, "how": pl.Utf8, "excess": pl.Float64,
                                       "IR": pl.Float64})
    return runs.join(extra, on="id", how="left")
