"""The HTML report of one backtest (assembly only: numbers from ``flyer.backtest.metrics`` and
``flyer.backtest.tearsheet``, figures from ``flyer.backtest.figures``, sections from
``flyer.backtest.report_sections``).

``render`` returns the page; it loads plotly.js from its own folder, which ``write_report`` (and
every writer of pages: ``flyer.core.pages.write``) puts there once, or inlines with
``self_contained=True``. Nothing is loaded from the network. The conventions every number on the
page shares are stated once, at the top (``definitions``).
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
from flyer.core.pages import document, figure_html, write

if TYPE_CHECKING:
    from flyer.data.store import MarketStore
    from flyer.backtest.attribution import Attribution

def _attribution_html(att: Attribution, styles: list[str]) -> str:
    figs = [figures.attribution_figure(att.cumulative()), figures.exposure_figure(att.exposures, styles)]
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in att.notes)
    return ("<section id='attribution'><h2>Attribution (risk model)</h2><p>Daily excess = portfolio return - index return, split into "
            "country (cash), industry, style, specific (stock selection), execution (the day's trades from fill to close, "
            "fees, lots) and "
            "benchmark gap (the weighted members' total return against the index: dividends for a price index); "
            "the parts add up to the excess every day. Predicted TE from the risk model at the previous close; "
            "bias = std(excess / predicted), bias_model = std(holdings' active return / predicted)."
            f"</p><ul>{notes}</ul>{frame_table(att.yearly(), table_id='attribution-yearly')}"
            + (f"<p>The risk model's own bias statistic over these years, random and optimised portfolios "
               f"(ideal 1):</p>{frame_table(att.model_bias, table_id='model-bias')}" if att.model_bias.height else "")
            + "".join(figure_html(f) for f in figs) + "</section>")


def _notes(notes: list[str]) -> str:
    """What the run could not see or had to decide (ties, gaps, substitutions), as a list."""
    if not notes:
        return ""
    return "<h2>Notes</h2><ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"


def definitions(result: BacktestResult) -> str:
    """The conventions every number on the page shares, stated once."""
    years = sorted({d.year for d in result.dates})
    days = ", ".join(f"{y}: {result.year_days.get(y, '?')}" for y in years)
    items = [
        f"Benchmark: <b>{html.escape(result.benchmark_name)}</b>. Returns are daily simple returns of the NAV from the "
        "first day's close; dividends and splits are reinvested (the NAV follows total-return prices).",
        f"Annualised by the exchange calendar's trading days per year ({html.escape(days)}): growth per year = "
        "growth ^ (1 / years), each day counting 1 / (trading days of its year); volatility and ratios scale by "
        "sqrt(returns per year), never a fixed 252.",
        "Excess return: geometric, (1 + portfolio) / (1 + benchmark) - 1 (the excess curve), per year its "
        "annualised growth; arithmetic, the mean daily difference x days per year.",
        "Tracking error: sd of the daily differences x sqrt(days per year). Information ratio (annualised): the "
        "arithmetic excess per year / the tracking error. Sharpe and Sortino use a zero risk-free rate.",
    ]
    return "<section id='definitions'><h2>Definitions</h2><ul>" + "".join(f"<li>{i}</li>" for i in items) \
        + "</ul></section>"


def render(result: BacktestResult, title: str = "flyer backtest", *, store: MarketStore | None = None,
           scores: pl.DataFrame | None = None, attribution: Attribution | None = None,
           sections: Sequence[str] = ()) -> str:
    """The report as one HTML string; the tear sheet gains the scores' RankIC with ``scores``
    and the industry / size exposures with ``store`` (``flyer.backtest.report_sections``); the
    optimiser and attribution sections appear for enhance runs / when ``attribution`` is given;
    ``sections``: extra HTML sections placed at the end (e.g. ``stress_report.stress_html``)."""
    from flyer.backtest.report_sections import performance_html, tearsheet_html

    daily = result.daily()
    metrics = result.metrics()
    figs = [figures.nav_figure(daily, result.benchmark_name), figures.excess_figure(daily),
            figures.drawdown_figure(daily), figures.monthly_figure(monthly(daily)),
            figures.holdings_figure(daily)]
    cfg = result.config.to_dict()
    rate = {"commission": "commission_rate", "active_limit": "active_limit"}  # rates here, CNY in the trades
    cfg_rows = ([(label(k), fmt(k, v)) for k, v in cfg.items() if k != "costs"]
                + [(label(k), fmt(rate.get(k, k), v)) for k, v in cfg["costs"].items()])
    body = (definitions(result) + _notes(list(result.diagnostics.notes))
            + f"<div class='cols'><div><h2>Metrics</h2>{kv_table([(label(k), fmt(k, v)) for k, v in metrics.items()])}"
            f"</div><div><h2>Config</h2>{kv_table(cfg_rows)}</div></div>"
            f"<h2>Per year</h2>{frame_table(result.yearly(), table_id='yearly')}"
            + "".join(figure_html(f) for f in figs) + performance_html(result, daily) + _enhance_html(result)
            + (_attribution_html(attribution, list(result.config.enhance.risk.styles)) if attribution else "")
            + tearsheet_html(result, daily, store, scores, performance=False) + "".join(sections))
    return document(title, body)


def _enhance_html(result: BacktestResult) -> str:
    plan = result.diagnostics.plan
    if not plan.optimised:
        return ""
    d = plan.rebalances
    by_year = d.group_by(pl.col("date").dt.year().alias("year"), maintain_order=True).agg(
        pl.len().alias("rebalances"), pl.col("predicted_te").mean(), pl.col("turnover").mean(),
        pl.col("member_share").min(), (pl.col("relaxed") != "").sum().alias("relaxed"))
    notes = "".join(f"<li>{html.escape(n)}</li>" for n in plan.notes)
    return (f"<section id='optimiser'><h2>Optimiser (enhance)</h2><ul>{notes}</ul>"
            f"{frame_table(by_year, table_id='optimiser-yearly')}</section>")


def write_report(result: BacktestResult, path: str | Path, title: str = "flyer backtest", *,
                 store: MarketStore | None = None, scores: pl.DataFrame | None = None,
                 attribution: Attribution | None = None, sections: Sequence[str] = (),
                 self_contained: bool = False) -> Path:
    """Write :func:`render` to ``path`` (parents created) with plotly.js beside it, or inlined
    with ``self_contained`` (``flyer.core.pages.write``); returns the resolved path."""
    page = render(result, title, store=store, scores=scores, attribution=attribution, sections=sections)
    return write(page, path, self_contained=self_contained)
