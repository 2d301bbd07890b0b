"""Self-contained HTML report of one backtest (plotly.js inlined once; no network needed).

Assembly only: metrics come from ``flyer.backtest.metrics``, figures from ``flyer.backtest.figures``.
"""
from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import polars as pl

from flyer.backtest import figures
from flyer.backtest.metrics import monthly
from flyer.backtest.report_format import fmt, frame_table, kv_table, label
from flyer.backtest.result import BacktestResult

if TYPE_CHECKING:
    from flyer.data.store import MarketStore
    from flyer.backtest.attribution import Attribution

def _attribution_html(att: Attribution, styles: list[str]) -> str:
    figs = [figures.attribution_figure(att.cumulative()), figures.exposure_figure(att.exposures, styles)]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in att.notes)
    return ("<h2>Attribution (risk model)</h2><p>Daily excess = portfolio return - index return, split into "
            "country (cash), industry, style, specific (stock selection), execution (the day's trades from fill to close, "
            "fees, lots) and "
            "benchmark gap (the weighted members' total return against the index: dividends for a price index); "
            "the parts add up to the excess every day. Predicted TE from the risk model at the previous close; "
            "bias = std(excess / predicted), bias_model = std(holdings' active return / predicted)."
            f"</p><ul>{notes}</ul>{frame_table(att.yearly())}"
            + (f"<p>The risk model's own bias statistic over these years, random and optimised portfolios "
               f"(ideal 1): {frame_table(att.model_bias)}</p>" if att.model_bias.height else "")
            + "".join(f.to_html(full_html=False, include_plotlyjs=False) for f in figs))


def _notes(notes: list[str]) -> str:
    """What the run could not see or had to decide (ties, gaps, substitutions), as a list."""
    if not notes:
        return ""
    return "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"


def render(result: BacktestResult, title: str = "flyer backtest", *, store: MarketStore | None = None,
           scores: pl.DataFrame | None = None, attribution: Attribution | None = None,
           sections: Sequence[str] = ()) -> str:
    """The report as one HTML string; the tear sheet gains the scores' RankIC with ``scores``
    and the industry / size exposures with ``store`` (``flyer.backtest.report_sections``); the
    optimiser and attribution sections appear for enhance runs / when ``attribution`` is given;
    ``sections``: extra HTML sections placed at the end (e.g. ``stress_report.stress_html``)."""
    from flyer.backtest.report_sections import tearsheet_html

    daily = result.daily()
    metrics = result.metrics()
    figs = [figures.nav_figure(daily, result.benchmark_name), figures.excess_figure(daily),
            figures.drawdown_figure(daily), figures.monthly_figure(monthly(daily)),
            figures.holdings_figure(daily)]
    parts = [f.to_html(full_html=False, include_plotlyjs="inline" if i == 0 else False) for i, f in enumerate(figs)]
    cfg = result.config.to_dict()
    rate = {"commission": "commission_rate", "active_limit": "active_limit"}  # rates here, CNY in the trades
    cfg_rows = ([(label(k), fmt(k, v)) for k, v in cfg.items() if k != "costs"]
                + [(label(k), fmt(rate.get(k, k), v)) for k, v in cfg["costs"].items()])
    style = ("body{font-family:sans-serif;margin:24px;max-width:1200px} table{border-collapse:collapse;margin:8px 0}"
             "th,td{padding:3px 10px;border-bottom:1px solid #ddd;text-align:right} th{text-align:left}"
             "table.grid td:first-child{text-align:left}"
             ".cols{display:flex;gap:40px} .note{color:#555;max-width:900px}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>Benchmark: <b>{html.escape(result.benchmark_name)}</b>. Excess return: geometric "
            f"(excess_annual_return) and arithmetic (excess_annual_return_arith, mean daily difference x days per year); "
            f"annualised by the calendar's trading days per year. "
            f"Dividends and splits are reinvested (NAV follows total-return prices).</p>"
            + _notes(list(result.diagnostics.notes))
            + f"<div class='cols'><div><h2>Metrics</h2>{kv_table([(label(k), fmt(k, v)) for k, v in metrics.items()])}</div>"
            f"<div><h2>Config</h2>{kv_table(cfg_rows)}</div></div>"
            f"<h2>Per year</h2>{frame_table(result.yearly())}"
            + "".join(parts) + _enhance_html(result)
            + (_attribution_html(attribution, list(result.config.enhance.risk.styles)) if attribution else "")
            + tearsheet_html(result, daily, store, scores) + "".join(sections) + "</body></html>")


def _enhance_html(result: BacktestResult) -> str:
    plan = result.diagnostics.plan
    if not plan.optimised:
        return ""
    d = plan.rebalances
    by_year = d.group_by(pl.col("date").dt.year().alias("year"), maintain_order=True).agg(
        pl.len().alias("rebalances"), pl.col("predicted_te").mean(), pl.col("turnover").mean(),
        pl.col("member_share").min(), (pl.col("relaxed") != "").sum().alias("relaxed"))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in plan.notes)
    return f"<h2>Optimiser (enhance)</h2><ul>{notes}</ul>{frame_table(by_year)}"


def write_report(result: BacktestResult, path: str | Path, title: str = "flyer backtest", *,
                 store: MarketStore | None = None, scores: pl.DataFrame | None = None,
                 attribution: Attribution | None = None, sections: Sequence[str] = ()) -> Path:
    """Write :func:`render` to ``path`` (parents created); returns the resolved path."""
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(result, title, store=store, scores=scores, attribution=attribution, sections=sections),
                    encoding="utf-8")
    return path
