"""Tear-sheet tables of one backtest (pure: daily table, result or store in, polars tables out).

Each function returns the table behind one section of the report (``flyer.backtest.report``)
and is part of the API: a researcher can take the table, or the figure built from it
(``flyer.backtest.figures``), without the page.

* ``cost_curves(daily, capital)``: NAV and excess after costs and before costs (each day's
  costs added back: gross return = (NAV_t - NAV_t-1 + costs_t) / NAV_t-1), start = 1.
* ``cost_summary(daily, capital)``: annualised return and excess after vs before costs.
* ``monthly_excess(daily)``: geometric excess per calendar month as a year x month grid.
* ``rolling_ratios(daily, window)``: rolling Sharpe of the portfolio and rolling information
  ratio of the excess curve, annualised by the trading days per year of the table's own dates
  (``flyer.core.stats.periods_per_year``; ~243 on the A-share calendar).
* ``return_stats(daily)``: daily return and excess distributions (mean, sd, skew, excess
  kurtosis, 5 % VaR, best and worst day).
* ``top_holdings(result, n)``, ``largest_trades(result, n)``.
* ``score_ic(result, scores, horizons)``: daily RankIC of the backtested scores against the
  forward returns ``p[t+1+h] / p[t+1] - 1`` of the same market (``flyer.data.returns``).
* ``industry_exposure(store, result, level)``: average portfolio weight per industry against
  the benchmark index's members' average weight; ``size_exposure(store, result)``: the
  holdings' average cap percentile among the benchmark's members per day (0.5 = neutral).
Returns are fractions; money in CNY.
"""
from __future__ import annotations

import calendar
import datetime as dt
import math
from typing import TYPE_CHECKING, Mapping

import numpy as np
import polars as pl

from flyer.backtest.metrics import curves, monthly
from flyer.core.stats import elapsed_years, periods_per_year
from flyer.core.values import as_float
from flyer.backtest.result import BacktestResult

if TYPE_CHECKING:
    from flyer.data.store import MarketStore


def _ann(curve: np.ndarray, dates: list) -> float:
    """Annualised growth of ``curve`` over ``dates`` (each day 1 / trading days of its year)."""
    years = elapsed_years(dates)
    return float((curve[-1] / curve[0]) ** (1 / years) - 1) if curve.size > 1 and years > 0 else float("nan")


def cost_curves(daily: pl.DataFrame, capital: float) -> pl.DataFrame:
    """``[date, nav, nav_gross, excess, excess_gross]``, all start = 1 (see module docstring)."""
    nav, bench, excess = curves(daily)
    raw = daily["nav"].to_numpy()
    prev = np.concatenate([[capital], raw[:-1]])
    gross = np.cumprod(1 + (raw - prev + daily["costs"].to_numpy()) / prev)
    gross = gross / gross[0] if gross.size else gross  # start = 1 on the first day, as ``curves``
    return pl.DataFrame({"date": daily["date"], "nav": nav, "nav_gross": gross, "excess": excess,
                         "excess_gross": gross / bench})


def cost_summary(daily: pl.DataFrame, capital: float) -> pl.DataFrame:
    """``[measure, after costs, before costs, cost]``: annual return and excess (fractions)."""
    c = cost_curves(daily, capital)
    rows = []
    for label, net, gross in (("annual return", "nav", "nav_gross"), ("annual excess (geometric)", "excess", "excess_gross")):
        dates = c["date"].to_list()
        a, b = _ann(c[net].to_numpy(), dates), _ann(c[gross].to_numpy(), dates)
        rows.append({"measure": label, "after costs": a, "before costs": b, "cost": b - a})
    return pl.DataFrame(rows)


def monthly_excess(daily: pl.DataFrame, column: str = "excess") -> pl.DataFrame:
    """``[year, 1 .. 12, full year]`` of ``column`` (``excess`` or ``return``) per calendar
    month; the last column compounds the year's months."""
    m = monthly(daily).select(pl.col("month").dt.year().alias("y"), pl.col("month").dt.month().alias("m"), column)
    grid = m.pivot(on="m", index="y", values=column, sort_columns=True).sort("y")
    for k in range(1, 13):
        if str(k) not in grid.columns:
            grid = grid.with_columns(pl.lit(None, pl.Float64).alias(str(k)))
    months = [str(k) for k in range(1, 13)]
    total = pl.Series("full year", [float(np.prod([1 + v for v in r if v is not None]) - 1)
                               for r in grid.select(months).iter_rows()])
    return grid.select(pl.col("y").alias("year"), *months).with_columns(total)


def rolling_ratios(daily: pl.DataFrame, window: int = 126) -> pl.DataFrame:
    """``[date, sharpe, information_ratio]`` over the last ``window`` days (null before)."""
    nav, _, excess = curves(daily)
    r = pl.Series(np.concatenate([[np.nan], nav[1:] / nav[:-1] - 1])).fill_nan(None)
    x = pl.Series(np.concatenate([[np.nan], excess[1:] / excess[:-1] - 1])).fill_nan(None)
    ann = math.sqrt(periods_per_year(daily["date"].to_list()))
    df = pl.DataFrame({"date": daily["date"], "r": r, "x": x})
    return df.select("date", (pl.col("r").rolling_mean(window) / pl.col("r").rolling_std(window) * ann).alias("sharpe"),
                     (pl.col("x").rolling_mean(window) / pl.col("x").rolling_std(window) * ann).alias("information_ratio"))


def daily_returns(daily: pl.DataFrame) -> pl.DataFrame:
    """``[date, return, excess]`` daily simple returns of the NAV and of the excess curve."""
    nav, _, excess = curves(daily)
    return pl.DataFrame({"date": daily["date"][1:], "return": nav[1:] / nav[:-1] - 1,
                         "excess": excess[1:] / excess[:-1] - 1}).fill_nan(None)


def return_stats(daily: pl.DataFrame) -> pl.DataFrame:
    """``[statistic, return, excess]`` of the daily distributions (see module docstring)."""
    d = daily_returns(daily)
    rows: dict[str, list] = {"statistic": ["mean", "sd", "skew", "excess kurtosis", "5% VaR (daily)", "best day",
                                           "worst day", "positive days"]}
    for col in ("return", "excess"):
        s = d[col].drop_nulls()
        v = s.to_numpy()
        rows[col] = [float(v.mean()), float(v.std(ddof=1)), float(s.skew() or 0), float(s.kurtosis() or 0),
                     float(np.quantile(v, 0.05)), float(v.max()), float(v.min()), float((v > 0).mean())] if v.size > 2 else [
            float("nan")] * 8
    return pl.DataFrame(rows)


def top_holdings(result: BacktestResult, n: int = 15) -> pl.DataFrame:
    """``[symbol, days_held, avg_weight, max_weight, first, last]``: the ``n`` names that carried
    the most weight over the backtest (sum of daily weights, weight = value / NAV)."""
    pos = result.positions()
    if pos.height == 0:
        return pl.DataFrame(schema={"symbol": pl.Utf8, "days_held": pl.UInt32, "avg_weight": pl.Float64,
                                    "max_weight": pl.Float64, "first": pl.Date, "last": pl.Date})
    nav = result.daily().select("date", "nav")
    w = pos.join(nav, on="date").with_columns((pl.col("value") / pl.col("nav")).alias("w"))
    return w.group_by("symbol").agg(pl.len().alias("days_held"), pl.col("w").mean().alias("avg_weight"),
                                    pl.col("w").max().alias("max_weight"), pl.col("date").min().alias("first"),
                                    pl.col("date").max().alias("last"), pl.col("w").sum().alias("_wd")).sort(
        ["_wd", "symbol"], descending=[True, False]).head(n).drop("_wd")


def largest_trades(result: BacktestResult, n: int = 15) -> pl.DataFrame:
    """The ``n`` largest fills by value: ``[date, symbol, side, shares, price, value, total_cost, reason]``."""
    t = result.trades()
    return t.sort(["value", "date", "symbol"], descending=[True, False, False]).head(n).select(
        "date", "symbol", "side", "shares", "price", "value", "total_cost", "reason")


def _spearman_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(T,) Spearman correlation of each row pair over the columns where both are finite
    (NaN where fewer than 3)."""
    from scipy.stats import rankdata

    out = np.full(a.shape[0], np.nan)
    for i in range(a.shape[0]):
        ok = np.isfinite(a[i]) & np.isfinite(b[i])
        if ok.sum() >= 3:
            ra, rb = rankdata(a[i, ok]), rankdata(b[i, ok])
            if ra.std() > 0 and rb.std() > 0:
                out[i] = np.corrcoef(ra, rb)[0, 1]
    return out


def score_ic(result: BacktestResult, scores: pl.DataFrame, horizons: tuple[int, ...] = (1, 5)) -> pl.DataFrame:
    """``[date, rank_ic_<h>...]``: per score date, the Spearman correlation of the scores with the
    forward return ``close[t+1+h] / close[t+1] - 1`` (adjusted closes of the backtest's market)."""
    from flyer.backtest.api import dense_signals

    m = result.market
    s = dense_signals(m, scores.select("date", "symbol", pl.col("score").cast(pl.Float64)), "score")
    px = m.arrays.close_val
    out: dict[str, object] = {"date": list(m.dates)}
    for h in horizons:
        fwd = np.full(px.shape, np.nan)
        if px.shape[0] > h + 1:
            with np.errstate(invalid="ignore", divide="ignore"):
                fwd[:-(h + 1)] = px[1 + h:] / px[1:px.shape[0] - h] - 1
        out[f"rank_ic_{h}"] = _spearman_rows(s, fwd)
    cols = [f"rank_ic_{h}" for h in horizons]
    return pl.DataFrame(out).fill_nan(None).filter(pl.any_horizontal(pl.col(c).is_not_null() for c in cols))


def _weights(store: MarketStore, result: BacktestResult) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(portfolio ``[date, symbol, w]``, benchmark members ``[date, symbol, w]``)."""
    pos = result.positions().join(result.daily().select("date", "nav"), on="date")
    port = pos.select("date", "symbol", (pl.col("value") / pl.col("nav")).alias("w"))
    dates = result.dates
    members = store.membership(result.config.benchmark, dates[0], dates[-1]) if dates else pl.DataFrame()
    bench = (members.select("date", "symbol", pl.col("weight").alias("w")) if members.height
             else pl.DataFrame(schema={"date": pl.Date, "symbol": pl.Utf8, "w": pl.Float64}))
    return port, bench


def industry_exposure(store: MarketStore, result: BacktestResult, level: int = 1) -> pl.DataFrame:
    """``[industry, portfolio, benchmark, active]``: average daily weight per industry (fractions
    of NAV; the benchmark's from its members' index weights), sorted by |active|."""
    port, bench = _weights(store, result)
    if port.height == 0 or not store.industry_standards():
        return pl.DataFrame(schema={"industry": pl.Utf8, "portfolio": pl.Float64, "benchmark": pl.Float64,
                                    "active": pl.Float64})
    dates = result.dates
    ind = store.industry_panel(dates[0], dates[-1], level=level).select("date", "symbol", pl.col("name").alias("industry"))
    n_days = max(port["date"].n_unique(), 1)

    def avg(w: pl.DataFrame, name: str) -> pl.DataFrame:
        days = max(w["date"].n_unique(), 1) if w.height else n_days
        return w.join(ind, on=["date", "symbol"], how="left").with_columns(pl.col("industry").fill_null("(unknown)")) \
            .group_by("industry").agg((pl.col("w").sum() / days).alias(name))
    out = avg(port, "portfolio").join(avg(bench, "benchmark"), on="industry", how="full", coalesce=True).fill_null(0.0)
    return out.with_columns((pl.col("portfolio") - pl.col("benchmark")).alias("active")).sort(
        pl.col("active").abs(), descending=True)


def size_exposure(store: MarketStore, result: BacktestResult) -> pl.DataFrame:
    """``[date, portfolio, benchmark]``: weighted average cap percentile (0..1 among the
    benchmark's members that day) of the holdings and of the index (about 0.5+ by cap weight)."""
    port, bench = _weights(store, result)
    if port.height == 0 or bench.height == 0:
        return pl.DataFrame(schema={"date": pl.Date, "portfolio": pl.Float64, "benchmark": pl.Float64})
    dates = result.dates
    caps = store.bars(dates[0], dates[-1], adjust=False).select("date", "symbol", "total_cap")
    pct = bench.join(caps, on=["date", "symbol"], how="left").with_columns(
        (pl.col("total_cap").rank("average") / pl.col("total_cap").count()).over("date").alias("p"))
    ranks = pct.select("date", "symbol", "p")
    # holdings outside the index: percentile from where their cap would rank among the members
    def wavg(w: pl.DataFrame, name: str) -> pl.DataFrame:
        return w.join(ranks, on=["date", "symbol"], how="inner").group_by("date").agg(
            ((pl.col("w") * pl.col("p")).sum() / pl.col("w").sum()).alias(name))
    return wavg(port, "portfolio").join(wavg(bench, "benchmark"), on="date", how="left").sort("date")


# ------------------------------------------------------------------ performance tables (quantstats' set)
# Annualised by the calendar's trading days per year (``year_days``: ``BacktestResult.year_days``;
# default: the table's own dates), never a fixed 252.
def _per_year(daily: pl.DataFrame, year_days: Mapping[int, int] | None) -> float:
    return periods_per_year(daily["date"].to_list(), year_days)


def ratio_table(daily: pl.DataFrame, year_days: Mapping[int, int] | None = None) -> pl.DataFrame:
    """``[ratio, portfolio, benchmark]``: Sharpe, Sortino, Calmar, Omega (threshold 0), tail ratio
    (95th / 5th percentile), gain/pain (daily and monthly), max drawdown, longest drawdown
    (trading days), annual volatility, beta, alpha per year (arithmetic), correlation. Benchmark
    cells that compare with itself (beta, alpha, correlation) are null."""
    from flyer.backtest import metrics as mx

    per_year = _per_year(daily, year_days)
    years = elapsed_years(daily["date"].to_list(), year_days)
    nav, bench, _ = curves(daily)
    r, b, _ = mx.daily_returns(daily)
    m = monthly(daily)
    beta, alpha, corr = mx.beta_alpha(r, b, per_year)
    rows: dict[str, list] = {"ratio": [], "portfolio": [], "benchmark": []}

    def add(name: str, port: float, ref: float | None) -> None:
        rows["ratio"].append(name)
        rows["portfolio"].append(port)
        rows["benchmark"].append(ref)

    def each(curve: np.ndarray, ret: np.ndarray, month: np.ndarray) -> list[float]:
        sd = float(np.std(ret, ddof=1)) if ret.size > 1 else float("nan")
        dd = mx.drawdown_periods(daily["date"].to_list(), curve)
        growth = float(curve[-1] / curve[0]) ** (1 / years) - 1 if years > 0 and curve.size > 1 else float("nan")
        return [float(np.mean(ret) / sd * math.sqrt(per_year)) if sd > 0 else float("nan"), mx.sortino(ret, per_year),
                mx.calmar(growth, float(np.min(mx.drawdown(curve))) if curve.size else float("nan")),
                mx.omega(ret), mx.tail_ratio(ret), mx.gain_pain(ret), mx.gain_pain(month),
                float(np.min(mx.drawdown(curve))) if curve.size else float("nan"),
                float(max([int(str(p["days"])) for p in dd], default=0)), sd * math.sqrt(per_year)]
    names = ["sharpe", "sortino", "calmar", "omega", "tail_ratio", "gain_pain", "gain_pain_monthly", "max_drawdown",
             "longest_drawdown_days", "annual_volatility"]
    port = each(nav, r, m["return"].to_numpy())
    ref = each(bench, b, m["benchmark_return"].to_numpy()) if np.all(np.isfinite(bench)) else [None] * len(names)
    for name, p, q in zip(names, port, ref):
        add(name, p, q)
    for name, v in (("beta", beta), ("alpha", alpha), ("correlation", corr)):
        add(name, v, None)
    return pl.DataFrame(rows, schema={"ratio": pl.Utf8, "portfolio": pl.Float64, "benchmark": pl.Float64})


def drawdown_table(daily: pl.DataFrame, n: int = 10, column: str = "nav") -> pl.DataFrame:
    """``[start, valley, recovery, depth, days, calendar_days]``: the ``n`` deepest drawdowns of
    the NAV (``column="excess"``: of the geometric excess curve), deepest first; ``recovery``
    null while not recovered; ``days``: trading days below the peak, ``calendar_days`` from
    the start to the recovery (or the last day)."""
    from flyer.backtest.metrics import drawdown_periods

    nav, _, excess = curves(daily)
    dates = daily["date"].to_list()
    periods = drawdown_periods(dates, excess if column == "excess" else nav)
    periods = sorted(periods, key=lambda p: float(str(p["depth"])))[:n]
    last = dates[-1] if dates else None
    schema = {"start": pl.Date, "valley": pl.Date, "recovery": pl.Date, "depth": pl.Float64, "days": pl.Int64,
              "calendar_days": pl.Int64}
    rows = [{**p, "calendar_days": ((p["recovery"] or last) - p["start"]).days} for p in periods]  # type: ignore[operator]
    return pl.DataFrame(rows, schema=schema)


#: trailing windows: (label, months back, annualised); MTD / YTD / all are anchored specially
TRAILING: tuple[tuple[str, int, bool], ...] = (("MTD", 0, False), ("3M", 3, False), ("6M", 6, False),
                                               ("YTD", 0, False), ("1Y", 12, False), ("3Y (per year)", 36, True),
                                               ("5Y (per year)", 60, True), ("all (per year)", 0, True))


_FIRST_WEEK = 8  # calendar days: China's October holiday opens a month 8 days late


def _anchor(dates: list[dt.date], label: str, months: int) -> int | None:
    """Index of the close a trailing window starts from (None when the data starts later)."""
    import bisect

    last = dates[-1]
    if label == "MTD":
        cut = last.replace(day=1)
    elif label == "YTD":
        cut = dt.date(last.year, 1, 1)
    elif months:
        y, m = divmod(last.year * 12 + last.month - 1 - months, 12)
        cut = dt.date(y, m + 1, min(last.day, calendar.monthrange(y, m + 1)[1])) + dt.timedelta(days=1)
    else:
        return 0
    i = bisect.bisect_left(dates, cut) - 1  # the last close before the window
    if i < 0 and (dates[0] - cut).days <= _FIRST_WEEK:
        return 0  # the data starts in the window's first week (its first close: holidays open some months)
    return i if i >= 0 else None


def trailing_returns(daily: pl.DataFrame, year_days: Mapping[int, int] | None = None) -> pl.DataFrame:
    """``[period, start, portfolio, benchmark, excess]``: returns over the trailing windows
    ``TRAILING`` ending on the last day, from the close before the window (MTD: the previous
    month's last close; 3M: the last close at least three months back; ...); 3Y, 5Y and all are
    annualised by the calendar; excess is geometric. A window the data starts inside of is null,
    never a shorter window, unless the data starts in the window's first 8 calendar days (then
    it runs from the first close, as every flyer return does)."""
    nav, bench, _ = curves(daily)
    dates = daily["date"].to_list()
    rows = []
    for label, months, ann in TRAILING:
        i = _anchor(dates, label, months) if dates else None
        row: dict[str, object] = {"period": label, "start": dates[i] if i is not None else None}
        for name, curve in (("portfolio", nav), ("benchmark", bench)):
            g = float(curve[-1] / curve[i]) if i is not None and curve.size else float("nan")
            years = elapsed_years(dates[i:], year_days) if i is not None else 0.0
            row[name] = (g ** (1 / years) - 1 if years > 0 else float("nan")) if ann else g - 1
        p, b = float(str(row["portfolio"])), float(str(row["benchmark"]))
        row["excess"] = (1 + p) / (1 + b) - 1
        rows.append(row)
    return pl.DataFrame(rows, schema={"period": pl.Utf8, "start": pl.Date, "portfolio": pl.Float64,
                                      "benchmark": pl.Float64, "excess": pl.Float64}).fill_nan(None)


def win_rates(daily: pl.DataFrame) -> pl.DataFrame:
    """``[period, periods, portfolio, benchmark, beat_benchmark, best, worst]`` per day, month,
    quarter and year: the share of periods with a positive return, of the benchmark's, and of
    periods the portfolio beat the benchmark (geometric excess > 0); best and worst portfolio
    return. The first and last month, quarter and year may be partial (counted as they are)."""
    rows = []
    g = daily.select("date", (pl.col("nav") / pl.col("nav").shift(1)).alias("g"),
                     (pl.col("benchmark").fill_null(strategy="forward") / pl.col("benchmark").fill_null(
                         strategy="forward").shift(1)).alias("gb")).slice(1)
    for label, every in (("day", "1d"), ("month", "1mo"), ("quarter", "1q"), ("year", "1y")):
        p = g.group_by(pl.col("date").dt.truncate(every).alias("p")).agg(
            (pl.col("g").product() - 1).alias("r"), (pl.col("gb").product() - 1).alias("b"))
        p = p.with_columns(((1 + pl.col("r")) / (1 + pl.col("b")) - 1).alias("x"))
        rows.append({"period": label, "periods": p.height, "portfolio": as_float((p["r"] > 0).mean()),
                     "benchmark": as_float((p["b"] > 0).mean()), "beat_benchmark": as_float((p["x"] > 0).mean()),
                     "best": as_float(p["r"].max()), "worst": as_float(p["r"].min())})
    return pl.DataFrame(rows)


def rolling_beta_vol(daily: pl.DataFrame, windows: tuple[int, ...] = (126, 243),
                     year_days: Mapping[int, int] | None = None) -> pl.DataFrame:
    """``[date, beta_<w>..., volatility, benchmark_volatility]``: OLS beta of the daily returns on
    the benchmark's over the last ``w`` days (126 ~ half a year, 243 ~ a year of A-share days) and
    the annualised volatility of both over the first window (null before a window fills)."""
    r = daily_returns(daily)
    nav, bench, _ = curves(daily)
    b = np.concatenate([[np.nan], bench[1:] / bench[:-1] - 1])
    df = pl.DataFrame({"date": daily["date"][1:], "r": r["return"], "b": b[1:]}).fill_nan(None)
    ann = math.sqrt(_per_year(daily, year_days))
    w0 = windows[0]
    cols = [(pl.rolling_cov("r", "b", window_size=w) / pl.col("b").rolling_var(w)).alias(f"beta_{w}") for w in windows]
    return df.select("date", *cols, (pl.col("r").rolling_std(w0) * ann).alias("volatility"),
                     (pl.col("b").rolling_std(w0) * ann).alias("benchmark_volatility"))
