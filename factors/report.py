"""Assemble the HTML page of a factor evaluation: summary table, charts, per-factor sheets
(alphalens' tables at every horizon, from ``flyer.factors.tearsheet``; figures from
``flyer.factors.plots``), cleaning counts. Assembly only; the page loads plotly.js from its own
folder (``flyer.core.pages``)."""
from __future__ import annotations

import html
import math
from pathlib import Path
from typing import Mapping

import plotly.graph_objects as go
import polars as pl

from flyer.core.pages import STYLE as PAGE_STYLE
from flyer.core.pages import document, figure_html
from flyer.core.pages import write as pages_write
from flyer.factors import plots
from flyer.factors.evaluation import FactorEvaluation, correlation_matrix, ic_decay, summary_table
from flyer.factors.tearsheet import FactorSheet

STYLE = PAGE_STYLE + "table{font-size:12px} td,th{border:1px solid #ccc;padding:2px 6px}"

_FMT = {"mean_names": "{:.1f}", "ic_mean": "{:.4f}", "icir": "{:.3f}", "ic_t": "{:.2f}", "rank_ic_mean": "{:.4f}",
        "rank_icir": "{:.3f}", "rank_ic_t": "{:.2f}", "top_minus_bottom": "{:.4%}", "top_excess": "{:.4%}",
        "turnover": "{:.1%}", "rank_autocorr": "{:.3f}", "dropped": "{:.1%}", "min": "{:.4g}", "max": "{:.4g}",
        "mean": "{:.4g}", "sd": "{:.4g}", "share": "{:.1%}"}


#: column -> header with its unit (the summary table and the per-factor tables)
LABELS = {"factor": "factor", "horizon": "horizon (days)", "ic_mean": "IC", "icir": "ICIR", "ic_t": "IC t",
          "rank_ic_mean": "RankIC", "rank_icir": "RankICIR", "rank_ic_t": "RankIC t", "days": "days",
          "top_minus_bottom": "top - bottom (h-day return)", "top_excess": "top - universe (h-day return)",
          "turnover": "top-quantile turnover (per day)", "rank_autocorr": "rank autocorrelation (lag 1)",
          "rows_kept": "rows kept", "dropped": "rows dropped", "industry": "industry", "mean_names": "names per day",
          "quantile": "quantile", "min": "min", "max": "max", "mean": "mean", "sd": "sd", "count": "rows",
          "share": "share of rows"}


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
          detail: int = 5, industry: dict[str, pl.DataFrame] | None = None,
          sheets: Mapping[str, FactorSheet] | None = None, detail_note: str = "") -> str:
    """The report page: ranked summary, RankIC ICIR bars, IC decay, correlations (when ``values``
    is given and holds several factors), then a sheet per detailed factor: the factors of
    ``sheets`` (``flyer.factors.tearsheet.sheets``: alphalens' returns, information, turnover and
    quantile tables at every horizon, demeaned and group-neutral quantile returns, the
    factor-weighted portfolio, then flyer's figures), else the ``detail`` best with flyer's
    figures only (``industry``: ``flyer.factors.tearsheet.industry_ic`` tables); ``detail_note``
    says which factors were detailed; the cleaning counts close the page."""
    summary = summary_table(evals)
    best = list(sheets) if sheets is not None else (summary["factor"].head(detail).to_list() if summary.height else [])
    note = detail_note or (f"the {len(best)} best by |RankIC ICIR|" if sheets is None else "")
    figs: list[go.Figure] = []
    if len(evals) > 1:
        figs += [plots.ranked_bars(summary), plots.ic_decay(ic_decay(evals), best[:8])]
        if values is not None:
            figs.append(plots.correlation_heatmap(correlation_matrix(values, list(evals)[:80])))
    charts = "".join(figure_html(fig) for fig in figs)
    sections = "".join(factor_section(evals[f], (industry or {}).get(f), sheet=(sheets or {}).get(f)) for f in best)
    cleaning = "".join(f"<li>{html.escape(e.cleaning.line())}</li>" for e in evals.values())
    demean = next(iter(sheets.values())).demean if sheets else True
    body = ("<p class='note'>IC: Pearson, RankIC: Spearman correlation per date of the factor with the forward return "
            "close[t+1+h] / close[t+1] - 1 (signal known after the close of t, position from the next close); "
            "quantiles are equal-weight portfolios per date, 1 = lowest factor. Quantile returns in the sheets are "
            + ("<b>demeaned</b> (minus the date's universe mean; group-neutral: minus the date's industry mean)"
               if demean else "<b>absolute</b>")
            + " and per day of holding (h-day return / h, in bp); t statistics are Newey-West with h lags.</p>"
            f"<section id='summary'><h2>Summary (ranked by |RankIC ICIR|)</h2>{table_html(summary)}</section>"
            f"{charts}<p class='note'>Per-factor sheets below: {html.escape(note)}.</p>{sections}"
            f"<section id='cleaning'><h2>Rows dropped while cleaning</h2><ul>{cleaning}</ul></section>")
    return document(title, body, STYLE)


def _measure_cell(measure: str, v: object) -> str:
    """A cell of a measure x horizon table: bp with 2 decimals, shares and alpha in percent,
    t and beta with 2-3 decimals, correlations with 4."""
    if not isinstance(v, (int, float)) or v != v:
        return "-"
    m = measure.lower()
    if "bp" in m:
        return f"{v:.2f}"
    if "alpha" in m or "turnover" in m or "share" in m:
        return f"{v:.2%}"
    if "p-value" in m:
        return f"{v:.2g}"
    if m.startswith(("beta", "rankic t", "rankic skew", "rankic excess", "rankic ir")):
        return f"{v:.3f}"
    return f"{v:.4f}"


def measure_table(df: pl.DataFrame, table_id: str = "") -> str:
    """A ``[measure, <h>D...]`` table (alphalens' layout: one column per horizon)."""
    head = "".join(f"<th>{html.escape(c)}</th>" for c in df.columns)
    body = "".join("<tr>" + f"<th>{html.escape(str(r[0]))}</th>"
                   + "".join(f"<td>{html.escape(_measure_cell(str(r[0]), v))}</td>" for v in r[1:]) + "</tr>"
                   for r in df.iter_rows())
    ident = f" id='{html.escape(table_id)}'" if table_id else ""
    return f"<table{ident}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _wide_returns(q: pl.DataFrame) -> pl.DataFrame:
    """``quantile_returns`` as ``[measure, <h>D...]``: bp per day per quantile (and its standard error)."""
    rows: dict[str, list[object]] = {"measure": []}
    hs = sorted(q["horizon"].unique().to_list())
    for k in sorted(q["quantile"].unique().to_list()):
        rows["measure"] += [f"Q{k}, bp per day", f"Q{k}, standard error (bp)"]
    for h in hs:
        part = q.filter(pl.col("horizon") == h).sort("quantile")
        rows[f"{h}D"] = [v for pair in zip(part["bp_per_day"].to_list(), part["std_error_bp"].to_list()) for v in pair]
    return pl.DataFrame(rows, strict=False)


def sheet_html(ev: FactorEvaluation, sheet: FactorSheet) -> str:
    """alphalens' sections of one factor: quantile statistics, returns analysis (alpha, beta,
    top / bottom / spread) and mean returns by quantile at every horizon (demeaned by default,
    group-neutral too when industries are known), the factor-weighted portfolio, the
    information table (RankIC mean, sd, IR, t, p-value, skew, kurtosis) and the turnover table."""
    from flyer.factors import tearsheet as ts

    f, t = ev.factor, sheet.table
    key = _slug(f)
    kind = "demeaned" if sheet.demean else "absolute"
    q = ts.quantile_returns(t, demean=sheet.demean)
    parts = [f"<section id='{key}-quantile-stats'><h3>Quantile statistics (factor values)</h3>"
             f"{table_html(ts.quantile_stats(t))}</section>",
             f"<section id='{key}-returns'><h3>Returns analysis ({kind} quantile returns)</h3>"
             f"{measure_table(ts.returns_analysis(t, sheet.year_days, demean=sheet.demean), f'{key}-returns-table')}"
             f"{measure_table(_wide_returns(q), f'{key}-quantile-returns')}"
             f"{figure_html(plots.quantile_returns_bars(f, q, kind))}"]
    if sheet.grouped:
        g = ts.quantile_returns(t, by_group=True)
        parts.append(f"<h4>Group-neutral (minus the date's industry mean)</h4>"
                     f"{measure_table(_wide_returns(g), f'{key}-group-neutral')}"
                     f"{figure_html(plots.quantile_returns_bars(f, g, 'group-neutral'))}")
    parts.append(f"{figure_html(plots.factor_cumulative(f, ts.factor_cumulative(t)))}</section>")
    h = ev.horizon
    parts += [f"<section id='{key}-information'><h3>Information analysis</h3>"
              f"{measure_table(ts.ic_stats(ev), f'{key}-ic-table')}</section>",
              f"<section id='{key}-turnover'><h3>Turnover analysis (lag = horizon)</h3>"
              f"{measure_table(ts.turnover_table(t), f'{key}-turnover-table')}"
              f"{figure_html(plots.quantile_turnover_figure(f, ts.quantile_turnover(t, h), h))}</section>"]
    return "".join(parts)


def _slug(name: str) -> str:
    return "f-" + "".join(c if c.isalnum() else "-" for c in name)


def factor_section(ev: FactorEvaluation, industry: pl.DataFrame | None = None, first: bool = False,
                   sheet: FactorSheet | None = None) -> str:
    """One factor's tear sheet: key figures; with ``sheet`` alphalens' sections (``sheet_html``);
    then IC bars with a moving average, IC histogram and QQ, monthly IC heatmap, quantile returns
    (absolute, without a sheet) and their cumulative paths, top-minus-bottom spread with a band,
    cumulative IC and top excess, turnover and autocorrelation, by industry. ``first`` is kept
    for callers of the old signature (plotly.js is the page's now)."""
    from flyer.factors import tearsheet as ts

    industry = industry if industry is not None else (sheet.industry if sheet is not None else None)
    stats, qq = ts.ic_distribution(ev)
    figs = [plots.ic_bars(ev, ts.rolling_ic(ev)), plots.ic_histogram(ev, stats, qq),
            plots.monthly_ic_heatmap(ev, ts.monthly_ic(ev)), *([] if sheet is not None else [plots.quantile_bars(ev)]),
            plots.quantile_cumulative(ev, ts.quantile_cumulative(ev)), plots.spread_band(ev, ts.spread(ev)),
            plots.cumulative_ic(ev), plots.cumulative_excess(ev), plots.turnover_autocorr(ev)]
    if industry is not None and industry.height:
        figs.append(plots.industry_bars(ev.factor, industry))
    row = pl.DataFrame([ev.row()]).drop("factor", "horizon")
    ind = (f"<h4>By industry</h4>{table_html(industry)}" if industry is not None and industry.height else "")
    return (f"<section id='{_slug(ev.factor)}'><h2>{html.escape(ev.factor)} ({ev.horizon}-day horizon)</h2>"
            f"{table_html(row)}" + (sheet_html(ev, sheet) if sheet is not None else "")
            + "<h3>Over time (evaluation horizon)</h3>" + "".join(figure_html(f) for f in figs) + ind + "</section>")


def write(path: str | Path, page: str, *, self_contained: bool = False) -> Path:
    """Write the page, creating folders, with plotly.js beside it (or inlined with
    ``self_contained``: ``flyer.core.pages.write``); returns the path."""
    return pages_write(page, path, self_contained=self_contained)
