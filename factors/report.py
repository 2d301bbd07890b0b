"""Assemble the HTML page of a factor evaluation: summary table, charts, cleaning counts."""
from __future__ import annotations

import html
import math
from pathlib import Path

import plotly.graph_objects as go
import polars as pl
from flyer.factors import plots
from flyer.factors.evaluation import (
    FactorEvaluation,
    correlation_matrix,
    ic_decay,
    summary_table,
)

_FMT = {"mean_names": "{:.1f}", "ic_mean": "{:.4f}", "icir": "{:.3f}", "ic_t": "{:.2f}", "rank_ic_mean": "{:.4f}",
        "rank_icir": "{:.3f}", "rank_ic_t": "{:.2f}", "top_minus_bottom": "{:.4%}", "top_excess": "{:.4%}",
        "turnover": "{:.1%}", "rank_autocorr": "{:.3f}", "dropped": "{:.1%}"}


#: column -> header with its unit (the summary table and the per-factor tables)
LABELS = {"factor": "factor", "horizon": "horizon (days)", "ic_mean": "IC", "icir": "ICIR", "ic_t": "IC t",
          "rank_ic_mean": "RankIC", "rank_icir": "RankICIR", "rank_ic_t": "RankIC t", "days": "days",
          "top_minus_bottom": "top - bottom (h-day return)", "top_excess": "top - universe (h-day return)",
          "turnover": "top-quantile turnover (per day)", "rank_autocorr": "rank autocorrelation (lag 1)",
          "rows_kept": "rows kept", "dropped": "rows dropped", "industry": "industry", "mean_names": "names per day"}


def _cell(column: str, v: object) -> str:
    """One table cell: the column's format, ``-`` for NaN, thousands separators for counts."""
    if isinstance(v, float):
        if math.isnan(v):
            return "-"
        return _FMT[column].format(v) if column in _FMT else f"{v:.2f}"
    if isinstance(v, int) and column != "horizon":
        return f"{v:,}"
    return "" if v is None else str(v)


def table_html(df: pl.DataFrame) -> str:
    """A plain HTML table of a frame (numbers formatted per column, headers with units)."""
    head = "".join(f"<th>{html.escape(LABELS.get(c, c))}</th>" for c in df.columns)
    rows = []
    for r in df.iter_rows(named=True):
        cells = []
        for c, v in r.items():
            text = _cell(c, v)
            cells.append(f"<td>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def build(evals: dict[str, FactorEvaluation], *, title: str, values: pl.DataFrame | None = None,
          detail: int = 5, industry: dict[str, pl.DataFrame] | None = None) -> str:
    """The report page: ranked summary, RankIC ICIR bars, IC decay, correlations (when ``values``
    is given and holds several factors), a tear sheet for each of the ``detail`` best factors
    (``factor_section``; with ``industry`` from ``flyer.factors.tearsheet.industry_ic`` the
    results by industry), and the cleaning counts."""
    summary = summary_table(evals)
    best = summary["factor"].head(detail).to_list() if summary.height else []
    figs: list[go.Figure] = []
    if len(evals) > 1:
        figs += [plots.ranked_bars(summary), plots.ic_decay(ic_decay(evals), best)]
        if values is not None:
            figs.append(plots.correlation_heatmap(correlation_matrix(values, list(evals)[:80])))
    charts = "".join(fig.to_html(full_html=False, include_plotlyjs=(i == 0)) for i, fig in enumerate(figs))
    sections = "".join(factor_section(evals[f], (industry or {}).get(f), first=not figs and i == 0)
                       for i, f in enumerate(best))
    cleaning = "".join(f"<li>{html.escape(e.cleaning.line())}</li>" for e in evals.values())
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            "<style>body{font-family:sans-serif;margin:2em;max-width:1300px}table{border-collapse:collapse;font-size:12px}"
            "td,th{border:1px solid #ccc;padding:2px 6px;text-align:right}.note{color:#555;max-width:900px}"
            ".pair{display:flex;gap:12px}.pair>div{flex:1;min-width:0}</style></head><body>"
            f"<h1>{html.escape(title)}</h1><p class='note'>IC: Pearson, RankIC: Spearman correlation per date of the "
            "factor with the forward return close[t+1+h] / close[t+1] - 1 (signal known after the close of t, "
            "position from the next close); quantiles are equal-weight portfolios per date, 1 = lowest factor.</p>"
            f"<h2>Summary (ranked by |RankIC ICIR|)</h2>{table_html(summary)}"
            f"{charts}{sections}<h2>Rows dropped while cleaning</h2><ul>{cleaning}</ul></body></html>")


def factor_section(ev: FactorEvaluation, industry: pl.DataFrame | None = None, first: bool = False) -> str:
    """One factor's tear sheet: key figures, IC bars with a moving average, IC histogram and QQ,
    monthly IC heatmap, quantile returns and their cumulative paths, top-minus-bottom spread
    with a band, cumulative IC and top excess, turnover and autocorrelation, by industry."""
    from flyer.factors import tearsheet as ts

    stats, qq = ts.ic_distribution(ev)
    figs = [plots.ic_bars(ev, ts.rolling_ic(ev)), plots.ic_histogram(ev, stats, qq),
            plots.monthly_ic_heatmap(ev, ts.monthly_ic(ev)), plots.quantile_bars(ev),
            plots.quantile_cumulative(ev, ts.quantile_cumulative(ev)), plots.spread_band(ev, ts.spread(ev)),
            plots.cumulative_ic(ev), plots.cumulative_excess(ev), plots.turnover_autocorr(ev)]
    if industry is not None and industry.height:
        figs.append(plots.industry_bars(ev.factor, industry))
    html_figs = [f.to_html(full_html=False, include_plotlyjs=(first and i == 0)) for i, f in enumerate(figs)]
    row = pl.DataFrame([ev.row()]).drop("factor", "horizon")
    ind = (f"<h4>By industry</h4>{table_html(industry)}" if industry is not None and industry.height else "")
    return (f"<h2>{html.escape(ev.factor)} ({ev.horizon}-day horizon)</h2>{table_html(row)}"
            + "".join(html_figs) + ind)


def write(path: str | Path, page: str) -> Path:
    """Write the page, creating folders; returns the path."""
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
