"""Performance metrics from a result's daily table (pure functions, return numbers and tables).

Conventions (stated in every summary):
* returns are fractions; **annualised by the calendar's trading days**: each daily return
  counts ``1 / (trading days of its calendar year)`` of a year (``flyer.core.stats.elapsed_years``;
  ~243 on the A-share calendar, never a fixed 252), so ``annual_return = growth ** (1 / years)
  - 1`` and volatility scales by ``sqrt(returns per year)``;
* excess return both ways: **geometric** (``excess_annual_return``: the annualised growth of
  the excess curve ``(1 + portfolio cumulative) / (1 + benchmark cumulative)``) and
  **arithmetic** (``excess_annual_return_arith``: mean daily ``r_p - r_b`` x returns per year,
  qlib's convention); tracking error and the information ratio use the arithmetic daily
  differences (as qlib does);
* the benchmark is the series the result names (a price index excludes dividends); when the
  daily table has ``benchmark_tr`` (a total-return benchmark, stored or estimated), its return
  and the geometric excess over it are reported next to the price index's.
* fund fees (management and custody, ``CostConfig``): accrued daily on the NAV, each day
  ``rate / (trading days of its calendar year)`` (``accrue_fees``); with fees the daily table
  has ``nav_after_fees`` and ``fees`` and the summary adds the ``*_after_fees`` figures and
  ``fee_drag``; every other figure is before fees (the engine's NAV).
Sharpe uses a zero risk-free rate. Days without a benchmark value are forward-filled (a missing
benchmark leaves benchmark metrics NaN).
"""
from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import polars as pl

from flyer.core.values import as_float

from flyer.core.stats import elapsed_years

YearDays = Mapping[int, int] | None


def _years(daily: pl.DataFrame, year_days: YearDays) -> float:
    return max(elapsed_years(daily["date"].to_list(), year_days), 1e-9)


def _ann_growth(curve: np.ndarray, years: float) -> float:
    if curve.size < 2 or not np.isfinite(curve[0]) or curve[0] <= 0 or not np.isfinite(curve[-1]):
        return float("nan")
    return float((curve[-1] / curve[0]) ** (1.0 / years) - 1)


def _max_drawdown(curve: np.ndarray) -> float:
    if curve.size == 0:
        return float("nan")
    peak = np.maximum.accumulate(curve)
    return float(np.min(curve / peak - 1))


def drawdown(curve: np.ndarray) -> np.ndarray:
    """(T,) drawdown from the running peak, fractions <= 0."""
    return curve / np.maximum.accumulate(curve) - 1


def _curve(daily: pl.DataFrame, col: str) -> np.ndarray:
    """Column ``col`` filled forward/backward, normalised to start at 1 (NaN when absent)."""
    if col not in daily.columns:
        return np.full(daily.height, np.nan)
    v = daily[col].fill_null(strategy="forward").fill_null(strategy="backward").to_numpy().astype(float)
    return v / v[0] if v.size and np.isfinite(v[0]) and v[0] != 0 else np.full(daily.height, np.nan)


def curves(daily: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nav, benchmark, excess) curves normalised to start at 1; benchmark NaN when absent."""
    nav = _curve(daily, "nav")
    bench = _curve(daily, "benchmark")
    return nav, bench, nav / bench


def _returns(curve: np.ndarray) -> np.ndarray:
    return curve[1:] / curve[:-1] - 1 if curve.size > 1 else np.zeros(0)


def _excess(daily: pl.DataFrame, years: float) -> dict[str, float | str]:
    """Benchmark, TR benchmark and excess figures (geometric and arithmetic)."""
    nav, bench, excess = curves(daily)
    per_year = (daily.height - 1) / years
    d = _returns(nav) - _returns(bench)
    te = float(np.std(d, ddof=1) * math.sqrt(per_year)) if d.size > 1 and np.all(np.isfinite(d)) else float("nan")
    out: dict[str, float | str] = {
        "benchmark_annual_return": _ann_growth(bench, years),
        "excess_annual_return": _ann_growth(excess, years), "excess_kind": "geometric",
        "excess_annual_return_arith": float(np.mean(d) * per_year) if d.size and np.all(np.isfinite(d)) else float("nan"),
        "tracking_error": te,
        "information_ratio": float(np.mean(d) * per_year / te) if np.isfinite(te) and te > 0 else float("nan"),
        "excess_max_drawdown": _max_drawdown(excess) if np.all(np.isfinite(excess)) else float("nan"),
    }
    tr = _curve(daily, "benchmark_tr")
    if np.all(np.isfinite(tr)) and tr.size:
        out["benchmark_tr_annual_return"] = _ann_growth(tr, years)
        out["excess_tr_annual_return"] = _ann_growth(nav / tr, years)
    return out


def accrue_fees(dates: list, nav: np.ndarray, annual_rate: float, year_days: YearDays = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(fees (T,) CNY, nav_after_fees (T,) CNY): a fee of ``annual_rate / days`` of each day's NAV
    (after the fees before it; ``days`` = trading days of the day's calendar year, 243 when
    unknown) accrued every day from the first, so a full year costs about ``annual_rate``.
    Pro rata on the NAV: the engine sizes its trades on the NAV before fees."""
    per_day = np.array([annual_rate / (year_days or {}).get(d.year, 243) for d in dates], dtype=np.float64)
    keep = np.cumprod(1.0 - per_day)
    before = np.concatenate([[1.0], keep[:-1]])
    return nav * before * per_day, nav * keep


def _after_fees(daily: pl.DataFrame, years: float) -> dict[str, float | str]:
    """The ``*_after_fees`` figures of a daily table with ``nav_after_fees`` (else none)."""
    if "nav_after_fees" not in daily.columns:
        return {}
    net = _curve(daily, "nav_after_fees")
    after = _excess(daily.with_columns(pl.col("nav_after_fees").alias("nav")), years)
    avg_nav = as_float(daily["nav"].mean())
    out: dict[str, float | str] = {
        "annual_return_after_fees": _ann_growth(net, years),
        "excess_annual_return_after_fees": after["excess_annual_return"],
        "information_ratio_after_fees": after["information_ratio"],
        "fee_drag": as_float(daily["fees"].sum()) / avg_nav / years if avg_nav else float("nan"),
    }
    if "excess_tr_annual_return" in after:
        out["excess_tr_annual_return_after_fees"] = after["excess_tr_annual_return"]
    return out


def summary(daily: pl.DataFrame, benchmark_name: str = "", year_days: YearDays = None) -> dict[str, float | str]:
    """Headline metrics of a daily table (``BacktestResult.daily()``); ``year_days``: trading
    days per calendar year (``flyer.core.stats.year_days`` of the store calendar; default: from
    the table's own dates)."""
    nav = _curve(daily, "nav")
    years = _years(daily, year_days)
    per_year = (daily.height - 1) / years if daily.height > 1 else float("nan")
    r = _returns(nav)
    sd = float(np.std(r, ddof=1)) if r.size > 1 else float("nan")
    avg_nav = as_float(daily["nav"].mean()) if daily.height else float("nan")
    out: dict[str, float | str] = {
        "start": str(daily["date"][0]) if daily.height else "", "end": str(daily["date"][-1]) if daily.height else "",
        "days_per_year": per_year,
        "total_return": float(nav[-1] - 1) if nav.size else float("nan"),
        "annual_return": _ann_growth(nav, years), "annual_volatility": sd * math.sqrt(per_year) if r.size > 1 else sd,
        "sharpe": float(np.mean(r) / sd * math.sqrt(per_year)) if r.size > 1 and sd > 0 else float("nan"),
        "max_drawdown": _max_drawdown(nav),
        "benchmark": benchmark_name,
    }
    out.update(_excess(daily, years))
    out.update({
        "monthly_win_rate": monthly_win_rate(daily),
        "annual_turnover": as_float(daily["turnover"].sum()) / years,
        "cost_drag": as_float(daily["costs"].sum()) / avg_nav / years if avg_nav else float("nan"),
    })
    out.update(_after_fees(daily, years))
    return out


def monthly(daily: pl.DataFrame) -> pl.DataFrame:
    """[month, return, benchmark_return, excess, turnover, costs] per calendar month."""
    df = daily.with_columns(pl.col("benchmark").fill_null(strategy="forward").fill_null(strategy="backward"))
    prev_nav = pl.col("nav").shift(1).fill_null(pl.col("nav").first())
    prev_b = pl.col("benchmark").shift(1).fill_null(pl.col("benchmark").first())
    df = df.with_columns((pl.col("nav") / prev_nav).alias("g"), (pl.col("benchmark") / prev_b).alias("gb"),
                         pl.col("date").dt.truncate("1mo").alias("month"))
    return df.group_by("month", maintain_order=True).agg(
        (pl.col("g").product() - 1).alias("return"), (pl.col("gb").product() - 1).alias("benchmark_return"),
        pl.col("turnover").sum(), pl.col("costs").sum(),
    ).with_columns(((1 + pl.col("return")) / (1 + pl.col("benchmark_return")) - 1).alias("excess"))


def monthly_win_rate(daily: pl.DataFrame) -> float:
    """Fraction of calendar months whose geometric excess return over the benchmark is > 0."""
    m = monthly(daily).drop_nulls("excess").filter(pl.col("excess").is_not_nan())
    return as_float((m["excess"] > 0).mean()) if m.height else float("nan")


def yearly(daily: pl.DataFrame) -> pl.DataFrame:
    """Per calendar year: [year, days, return, benchmark_return, excess (geometric),
    excess_arith (sum of daily r_p - r_b), max_drawdown, turnover, costs] (+ benchmark_tr_return
    when the table has ``benchmark_tr``; + excess_after_fees, the geometric excess of the NAV
    after fund fees, when it has ``nav_after_fees``). ``days``: daily returns counted in the year; a
    year with none (only the first, base day) is left out."""
    nav, bench, excess = curves(daily)
    tr = _curve(daily, "benchmark_tr")
    has_tr = "benchmark_tr" in daily.columns and bool(np.all(np.isfinite(tr)))
    df = daily.select("date", "turnover", "costs").with_columns(
        pl.Series("c", nav), pl.Series("b", bench), pl.Series("x", excess), pl.Series("t", tr),
        pl.col("date").dt.year().alias("year"))
    df = df.with_columns(pl.col("c").shift(1).alias("c0"), pl.col("b").shift(1).alias("b0"),
                         pl.col("t").shift(1).alias("t0"))
    df = df.with_columns((pl.col("c") / pl.col("c0") - pl.col("b") / pl.col("b0")).alias("d"),
                         pl.col("c0").fill_null(1.0), pl.col("b0").fill_null(1.0), pl.col("t0").fill_null(1.0))
    out = df.group_by("year", maintain_order=True).agg(
        pl.col("d").count().alias("days"),
        (pl.col("c").last() / pl.col("c0").first() - 1).alias("return"),
        (pl.col("b").last() / pl.col("b0").first() - 1).alias("benchmark_return"),
        (pl.col("t").last() / pl.col("t0").first() - 1).alias("benchmark_tr_return"),
        pl.col("d").sum().alias("excess_arith"),
        (pl.col("c") / pl.col("c").cum_max() - 1).min().alias("max_drawdown"),
        pl.col("turnover").sum(), pl.col("costs").sum(),
    )
    out = out.with_columns(((1 + pl.col("return")) / (1 + pl.col("benchmark_return")) - 1).alias("excess"))
    out = out.filter(pl.col("days") > 0)  # a year holding only the base day (qlib rules: the signal day) has no returns
    cols = ["year", "days", "return", "benchmark_return", *(["benchmark_tr_return"] if has_tr else []),
            "excess", "excess_arith", "max_drawdown", "turnover", "costs"]
    if "nav_after_fees" in daily.columns:
        net = yearly(daily.drop("nav").rename({"nav_after_fees": "nav"}))
        out = out.join(net.select("year", pl.col("excess").alias("excess_after_fees")), on="year", how="left")
        cols.insert(cols.index("excess_arith"), "excess_after_fees")
    return out.select(cols)


# ------------------------------------------------------------------ ratios of daily returns (quantstats' set)
# Pure functions of (n,) daily simple returns; ``per_year``: returns per year of the calendar
# (``flyer.core.stats.periods_per_year``), never a fixed 252. NaN when undefined.
def daily_returns(daily: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(portfolio, benchmark, excess) daily simple returns (n - 1,) of the curves (``curves``);
    the excess return is that of the geometric excess curve."""
    nav, bench, excess = curves(daily)
    return _returns(nav), _returns(bench), _returns(excess)


def sortino(r: np.ndarray, per_year: float) -> float:
    """Mean daily return over the downside deviation ``sqrt(sum(min(r, 0)^2) / n)``, x sqrt(per_year)."""
    r = r[np.isfinite(r)]
    down = math.sqrt(float(np.sum(np.minimum(r, 0.0) ** 2)) / r.size) if r.size else 0.0
    return float(np.mean(r) / down * math.sqrt(per_year)) if down > 0 else float("nan")


def calmar(annual_return: float, max_drawdown: float) -> float:
    """Annual return over the absolute max drawdown."""
    return annual_return / abs(max_drawdown) if max_drawdown < 0 else float("nan")


def omega(r: np.ndarray, threshold: float = 0.0) -> float:
    """Sum of daily gains above ``threshold`` over the sum of shortfalls below it."""
    d = r[np.isfinite(r)] - threshold
    loss = -float(d[d < 0].sum())
    return float(d[d > 0].sum()) / loss if loss > 0 else float("nan")


def tail_ratio(r: np.ndarray, q: float = 0.95) -> float:
    """|q-quantile| / |(1 - q)-quantile| of daily returns (right tail against left tail)."""
    r = r[np.isfinite(r)]
    if r.size < 3:
        return float("nan")
    left = abs(float(np.quantile(r, 1 - q)))
    return abs(float(np.quantile(r, q))) / left if left > 0 else float("nan")


def gain_pain(r: np.ndarray) -> float:
    """Sum of returns over the absolute sum of negative returns (per period given: days or months)."""
    r = r[np.isfinite(r)]
    pain = -float(r[r < 0].sum())
    return float(r.sum()) / pain if pain > 0 else float("nan")


def beta_alpha(r: np.ndarray, b: np.ndarray, per_year: float) -> tuple[float, float, float]:
    """(beta, alpha per year, correlation) of daily returns ``r`` on benchmark returns ``b``:
    OLS slope, intercept x per_year (arithmetic), Pearson correlation; days where both are finite."""
    ok = np.isfinite(r) & np.isfinite(b)
    if ok.sum() < 3 or float(np.var(b[ok])) == 0:
        return float("nan"), float("nan"), float("nan")
    x, y = b[ok], r[ok]
    beta = float(np.cov(y, x, ddof=1)[0, 1] / np.var(x, ddof=1))
    return beta, float((y.mean() - beta * x.mean()) * per_year), float(np.corrcoef(y, x)[0, 1])


def drawdown_periods(dates: list, curve: np.ndarray) -> list[dict[str, object]]:
    """Every drawdown of ``curve`` (T,): ``start`` (first day below the running peak), ``valley``
    (lowest day), ``recovery`` (first day back at the peak; None when not recovered), ``depth``
    (fraction <= 0), ``days`` (trading days below the peak: from the start to the day before the
    recovery, or to the last day)."""
    dd = drawdown(curve) if curve.size else curve
    out: list[dict[str, object]] = []
    i = 0
    while i < dd.size:
        if dd[i] >= 0 or not np.isfinite(dd[i]):
            i += 1
            continue
        j = i
        while j < dd.size and dd[j] < 0:
            j += 1
        low = i + int(np.argmin(dd[i:j]))
        out.append({"start": dates[i], "valley": dates[low], "recovery": dates[j] if j < dd.size else None,
                    "depth": float(dd[low]), "days": j - i})
        i = j
    return out
