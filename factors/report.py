"""Assemble the HTML page of a factor evaluation: summary table, charts, cleaning counts."""
from __future__ import annotations

import html
from pathlib import Path

import plotly.graph_objects as go
import polars as pl

from flyer.factors import plots
from flyer.factors.evaluation import FactorEvaluation, correlation_matrix, ic_decay, summary_table

_FMT = {"ic_mean": "{:.4f}", "icir": "{:.3f}", "ic_t": "{:.2f}", "rank_ic_mean": "{:.4f}",
        "rank_icir": "{:.3f}", "rank_ic_t": "{:.2f}", "top_minus_bottom": "{:.4%}", "top_excess": "{:.4%}",
        "turnover": "{:.1%}", "rank_autocorr": "{:.3f}", "dropped": "{:.1%}"}


def table_html(df: pl.DataFrame) -> str:
    """A plain HTML table of a frame (numbers formatted per column)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    rows = []
    for r in df.iter_rows(named=True):
        cells = []
        for c, v in r.items():
            text = _FMT[c].format(v) if c in _FMT and isinstance(v, float) else ("" if v is None else str(v))
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def build(evals: dict[str, FactorEvaluation], *, title: str, values: pl.DataFrame | None = None,
          detail: int = 5) -> str:
    """The report page: ranked summary, RankIC ICIR bars, IC decay, correlations (when ``values``
    is given and holds several factors), per-factor charts for the ``detail`` best, cleaning counts."""
    summary = summary_table(evals)
    best = summary["factor"].head(detail).to_list() if summary.height else []
    figs: list[go.Figure] = []
    if len(evals) > 1:
        figs += [plots.ranked_bars(summary), plots.ic_decay(ic_decay(evals), best)]
        if values is not None:
            figs.append(plots.correlation_heatmap(correlation_matrix(values, list(evals)[:80])))
    for f in best:
        ev = evals[f]
        figs += [plots.cumulative_ic(ev), plots.quantile_bars(ev), plots.cumulative_excess(ev)]
    charts = "".join(fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figs))
    cleaning = "".join(f"<li>{html.escape(e.cleaning.line())}</li>" for e in evals.values())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><h2>Summary (ranked by |RankIC ICIR|)</h2>{table_html(summary)}"
            f"<h2>Charts</h2>{charts}<h2>Rows dropped while cleaning</h2><ul>{cleaning}</ul></body></html>")


def write(path: str | Path, page: str) -> Path:
    """Write the page, creating folders; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
