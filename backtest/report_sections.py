"""The tear-sheet sections of the backtest report (tables from ``flyer.backtest.tearsheet``,
figures from ``flyer.backtest.figures``); ``flyer.backtest.report.render`` appends them.

Sections: costs (excess after vs before costs), monthly excess heatmap, rolling Sharpe / IR,
the daily return distribution, the scores' RankIC (when the scores are given), industry and
size exposures (when the store is given), top holdings, largest trades. Each opens with one
sentence on what it shows.
"""
from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import polars as pl

from flyer.core.values import as_float

from flyer.backtest import figures, tearsheet
from flyer.backtest.result import BacktestResult

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

ROLLING = 126  # trading days (about half a year)


def _grid(df: pl.DataFrame, keys: dict[str, str] | None = None) -> str:
    """An HTML table of ``df``; ``keys`` maps a column to the ``fmt`` key formatting it."""
    from flyer.backtest.report_format import fmt, label

    keys = keys or {}
    head = "".join(f"<th>{html.escape(label(c))}</th>" for c in df.columns)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(keys.get(c, c), v))}</td>" for c, v in row.items())
                   + "</tr>" for row in df.iter_rows(named=True))
    return f"<table class='grid'><tr>{head}</tr>{body}</table>"


def _fig(fig: Any) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False)


def _section(title: str, note: str, *parts: str) -> str:
    return f"<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p>" + "".join(parts)


def costs_section(result: BacktestResult, daily: pl.DataFrame) -> str:
    capital = result.config.capital
    table = tearsheet.cost_summary(daily, capital)
    return _section("Costs: after vs before", "Each day's commission, stamp duty, transfer fee and slippage added "
                    "back to the NAV gives the curve before costs; the gap is what trading cost per year.",
                    _grid(table, {"after costs": "after costs", "before costs": "before costs", "cost": "cost"}),
                    _fig(figures.cost_figure(tearsheet.cost_curves(daily, capital))))


def monthly_section(daily: pl.DataFrame) -> str:
    grid = tearsheet.monthly_excess(daily)
    return _section("Monthly excess return", "Geometric excess over the benchmark per calendar month; the last "
                    "column compounds the year.", _fig(figures.monthly_heatmap(grid)))


def rolling_section(daily: pl.DataFrame) -> str:
    if daily.height <= ROLLING + 5:
        return ""
    return _section("Rolling ratios", f"Sharpe of the daily returns and information ratio of the daily excess over "
                    f"the last {ROLLING} trading days, annualised.",
                    _fig(figures.rolling_figure(tearsheet.rolling_ratios(daily, ROLLING), ROLLING)))


def distribution_section(daily: pl.DataFrame) -> str:
    stats = tearsheet.return_stats(daily)
    cells = pl.DataFrame({"statistic": stats["statistic"],
                          "return": [_stat(s, v) for s, v in zip(stats["statistic"], stats["return"])],
                          "excess": [_stat(s, v) for s, v in zip(stats["statistic"], stats["excess"])]})
    return _section("Daily return distribution", "Daily simple returns of the NAV and of the excess curve; "
                    "kurtosis is excess kurtosis (0 for a normal distribution).", _grid(cells),
                    _fig(figures.distribution_figure(tearsheet.daily_returns(daily))))


def _stat(name: str, v: float) -> str:
    if v != v:
        return "-"
    return f"{v:.3f}" if name in ("skew", "excess kurtosis") else f"{v:.2%}" if name != "sd" else f"{v:.3%}"


def signal_section(result: BacktestResult, scores: pl.DataFrame) -> str:
    ic = tearsheet.score_ic(result, scores)
    if ic.height == 0:
        return ""
    means = {c: as_float(ic[c].mean()) for c in ic.columns if c != "date"}
    text = ", ".join(f"{c.rsplit('_', 1)[1]}-day mean {v:.4f}" for c, v in means.items() if v == v)
    return _section("The scores' information coefficient", "Spearman correlation, per score date, of the scores "
                    f"with the next h days' returns (from the next close) of the same market: {text}.",
                    _fig(figures.score_ic_figure(ic)))


def exposure_section(store: MarketStore, result: BacktestResult) -> str:
    parts = []
    ind = tearsheet.industry_exposure(store, result)
    if ind.height:
        parts += [_grid(ind.head(12), {"benchmark": "active"}), _fig(figures.industry_figure(ind))]
    size = tearsheet.size_exposure(store, result)
    if size.height:
        parts.append(_fig(figures.size_figure(size)))
    if not parts:
        return ""
    return _section("Exposures", "Average daily weight per level-1 industry of the portfolio and of the benchmark "
                    "(index member weights), largest active weights first; size: the weighted market-cap percentile "
                    "of the holdings among the index members (0.5 is the median member).", *parts)


def holdings_section(result: BacktestResult) -> str:
    top = tearsheet.top_holdings(result)
    trades = tearsheet.largest_trades(result)
    return (_section("Top holdings", "The names that carried the most weight over the backtest (daily weight = "
                     "value / NAV at the close, summed over the days held).", _grid(top))
            + _section("Largest trades", "Fills by value; price is the raw fill price with slippage, costs include "
                       "commission, stamp duty, transfer fee and slippage.", _grid(trades)))


def tearsheet_html(result: BacktestResult, daily: pl.DataFrame, store: MarketStore | None = None,
                   scores: pl.DataFrame | None = None) -> str:
    """Every section above (signal with ``scores``, exposures with ``store``)."""
    parts = [costs_section(result, daily), monthly_section(daily), rolling_section(daily), distribution_section(daily)]
    if scores is not None:
        parts.append(signal_section(result, scores))
    if store is not None:
        parts.append(exposure_section(store, result))
    parts.append(holdings_section(result))
    return "".join(parts)
