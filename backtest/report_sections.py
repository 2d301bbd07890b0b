"""The tear-sheet sections of the backtest report (tables from ``flyer.backtest.tearsheet``,
figures from ``flyer.backtest.figures``); ``flyer.backtest.report.render`` places them.

Performance (quantstats' set, annualised by the calendar): key ratios against the benchmark,
trailing returns, win rates by day / month / quarter / year, the worst drawdowns (NAV and
excess), rolling beta and volatility, returns per year, monthly returns (absolute and excess).
Then flyer's own: costs (excess after vs before costs), rolling Sharpe / IR, the daily return
distribution, the scores' RankIC (when the scores are given), industry and size exposures (when
the store is given), top holdings, largest trades. Each section is a ``<section id=...>``
(``SECTION_IDS``) opening with one sentence on what it shows; definitions shared by every
section are stated once at the top of the page (``flyer.backtest.report``).
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


def _grid(df: pl.DataFrame, keys: dict[str, str] | None = None, table_id: str = "") -> str:
    """An HTML table of ``df``; ``keys`` maps a column to the ``fmt`` key formatting it."""
    from flyer.backtest.report_format import frame_table

    return frame_table(df, keys, table_id)


def _fig(fig: Any) -> str:
    from flyer.core.pages import figure_html

    return figure_html(fig)


def _section(title: str, note: str, *parts: str, sid: str = "") -> str:
    """``<section id=sid>`` with an ``<h2>`` title, a one-sentence note and ``parts``."""
    open_tag = f"<section id='{sid}'>" if sid else "<section>"
    return (f"{open_tag}<h2>{html.escape(title)}</h2><p class='note'>{html.escape(note)}</p>" + "".join(parts)
            + "</section>")


def costs_section(result: BacktestResult, daily: pl.DataFrame) -> str:
    capital = result.config.capital
    table = tearsheet.cost_summary(daily, capital)
    return _section("Costs: after vs before", "Each day's commission, stamp duty, transfer fee and slippage added "
                    "back to the NAV gives the curve before costs; the gap is what trading cost per year.",
                    _grid(table, {"after costs": "after costs", "before costs": "before costs", "cost": "cost"}),
                    _fig(figures.cost_figure(tearsheet.cost_curves(daily, capital))), sid="costs")


def monthly_section(daily: pl.DataFrame) -> str:
    """The monthly heatmaps: absolute returns, then the geometric excess over the benchmark."""
    absolute = tearsheet.monthly_excess(daily, "return")
    excess = tearsheet.monthly_excess(daily)
    return (_section("Monthly returns", "The portfolio's return per calendar month (the first and last months may "
                     "be partial); the last column compounds the year.",
                     _fig(figures.monthly_heatmap(absolute, "return")), sid="monthly-returns")
            + _section("Monthly excess return", "Geometric excess over the benchmark per calendar month; the last "
                       "column compounds the year.", _fig(figures.monthly_heatmap(excess)), sid="monthly-excess"))


# ------------------------------------------------------------------ performance (quantstats' set)
def ratios_section(result: BacktestResult, daily: pl.DataFrame) -> str:
    """Key ratios of the portfolio and of the benchmark side by side (``tearsheet.ratio_table``)."""
    from flyer.backtest.report_format import label

    t = tearsheet.ratio_table(daily, result.year_days)
    cells = pl.DataFrame({"ratio": [label(r) for r in t["ratio"]],
                          "portfolio": [_ratio(r, v) for r, v in zip(t["ratio"], t["portfolio"])],
                          "benchmark": [_ratio(r, v) for r, v in zip(t["ratio"], t["benchmark"])]})
    return _section("Key ratios", "Ratios of the daily returns of the portfolio and of the benchmark (definitions at "
                    "the top); beta, alpha and correlation regress the portfolio's daily returns on the "
                    "benchmark's.", _grid(cells, table_id="ratios"), sid="ratios")


def _ratio(name: str, value: float | None) -> str:
    from flyer.backtest.report_format import RATIO_PCT

    if value is None or value != value:
        return "-"
    if name in RATIO_PCT:
        return f"{value:.2%}"
    return f"{value:,.0f}" if name.endswith("_days") else f"{value:.3f}"


def trailing_section(result: BacktestResult, daily: pl.DataFrame) -> str:
    t = tearsheet.trailing_returns(daily, result.year_days).rename({"start": "from the close of"})
    return _section("Trailing returns", "Returns to the last day from the close before each window (MTD: the "
                    "previous month's last close); 3Y, 5Y and all are per year; excess is geometric; '-': the "
                    "backtest does not reach back that far.", _grid(t, {"portfolio": "return", "benchmark": "return"},
                                                                   table_id="trailing"), sid="trailing")


def win_rate_section(daily: pl.DataFrame) -> str:
    t = tearsheet.win_rates(daily).rename({"portfolio": "portfolio up", "benchmark": "benchmark up"})
    return _section("Win rates", "Share of days, months, quarters and years with a positive return (portfolio and "
                    "benchmark) and that beat the benchmark; best and worst portfolio return of each kind. The first "
                    "and last month, quarter and year may be partial.",
                    _grid(t, {"portfolio up": "up_rate", "benchmark up": "up_rate"}, table_id="win-rates"), sid="win-rates")


def drawdowns_section(daily: pl.DataFrame) -> str:
    nav = tearsheet.drawdown_table(daily)
    excess = tearsheet.drawdown_table(daily, column="excess")
    return _section("Worst drawdowns", "The ten deepest drawdowns of the NAV, then of the excess curve: from the first "
                    "day below the peak (start) through the lowest close (valley) to the first close back at the peak "
                    "(recovered on; '-' while under water); days are trading days below the peak.",
                    "<h3>NAV</h3>", _grid(nav, table_id="drawdowns"), _fig(figures.worst_drawdowns_figure(daily, nav)),
                    "<h3>Excess over the benchmark</h3>", _grid(excess, table_id="excess-drawdowns"), sid="drawdowns")


def rolling_beta_section(result: BacktestResult, daily: pl.DataFrame) -> str:
    if daily.height <= ROLLING + 5:
        return ""
    rb = tearsheet.rolling_beta_vol(daily, year_days=result.year_days)
    return _section("Rolling beta and volatility", f"Beta of the daily returns on the benchmark's over the last 126 "
                    f"and 243 trading days (half a year and a year of A-share days), and the annualised volatility "
                    f"of both over the last {ROLLING} days.", _fig(figures.rolling_beta_figure(rb)), sid="rolling-beta")


def performance_html(result: BacktestResult, daily: pl.DataFrame) -> str:
    """The quantstats-style sections, in reading order."""
    return (ratios_section(result, daily) + trailing_section(result, daily) + win_rate_section(daily)
            + drawdowns_section(daily) + rolling_beta_section(result, daily)
            + _section("Returns per year", "Calendar-year return of the portfolio and of the benchmark (the table "
                       "above: 'Per year').", _fig(figures.yearly_bars(result.yearly())), sid="yearly")
            + monthly_section(daily))


def rolling_section(daily: pl.DataFrame) -> str:
    if daily.height <= ROLLING + 5:
        return ""
    return _section("Rolling ratios", f"Sharpe of the daily returns and information ratio of the daily excess over "
                    f"the last {ROLLING} trading days, annualised.",
                    _fig(figures.rolling_figure(tearsheet.rolling_ratios(daily, ROLLING), ROLLING)), sid="rolling")


def distribution_section(daily: pl.DataFrame) -> str:
    stats = tearsheet.return_stats(daily)
    cells = pl.DataFrame({"statistic": stats["statistic"],
                          "return": [_stat(s, v) for s, v in zip(stats["statistic"], stats["return"])],
                          "excess": [_stat(s, v) for s, v in zip(stats["statistic"], stats["excess"])]})
    return _section("Daily return distribution", "Daily simple returns of the NAV and of the excess curve; "
                    "kurtosis is excess kurtosis (0 for a normal distribution).", _grid(cells),
                    _fig(figures.distribution_figure(tearsheet.daily_returns(daily))), sid="distribution")


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
                    _fig(figures.score_ic_figure(ic)), sid="signal")


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
                    "of the holdings among the index members (0.5 is the median member).", *parts, sid="exposures")


def holdings_section(result: BacktestResult) -> str:
    top = tearsheet.top_holdings(result)
    trades = tearsheet.largest_trades(result)
    return (_section("Top holdings", "The names that carried the most weight over the backtest (daily weight = "
                     "value / NAV at the close, summed over the days held).", _grid(top, table_id="top-holdings"),
                     sid="holdings")
            + _section("Largest trades", "Fills by value; price is the raw fill price with slippage, costs include "
                       "commission, stamp duty, transfer fee and slippage.",
                       _grid(trades, table_id="largest-trades"), sid="trades"))


def tearsheet_html(result: BacktestResult, daily: pl.DataFrame, store: MarketStore | None = None,
                   scores: pl.DataFrame | None = None, performance: bool = True) -> str:
    """Every section above: performance (unless ``performance=False``: the report places it
    itself), costs, rolling ratios, distribution, signal (with ``scores``), exposures (with
    ``store``), holdings and trades."""
    parts = [performance_html(result, daily) if performance else "", costs_section(result, daily),
             rolling_section(daily), distribution_section(daily)]
    if scores is not None:
        parts.append(signal_section(result, scores))
    if store is not None:
        parts.append(exposure_section(store, result))
    parts.append(holdings_section(result))
    return "".join(parts)
