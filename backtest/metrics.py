"""Performance metrics from a result's daily table (pure functions, return numbers and tables).

Conventions: returns are fractions; annualised with 252 trading days; excess return is
*geometric*: excess curve = (1 + portfolio cumulative) / (1 + benchmark cumulative), its daily
returns feed tracking error and the information ratio; the annualised excess return is the
annualised growth of that curve. Sharpe uses a zero risk-free rate. Days without a benchmark
value are forward-filled (a missing benchmark leaves benchmark metrics NaN).
"""
from __future__ import annotations

import math

import numpy as np
import polars as pl

DAYS = 252


def _ann_return(curve: np.ndarray) -> float:
    if curve.size < 2 or curve[0] <= 0:
        return float("nan")
    return float((curve[-1] / curve[0]) ** (DAYS / (curve.size - 1)) - 1)


def _max_drawdown(curve: np.ndarray) -> float:
    if curve.size == 0:
        return float("nan")
    peak = np.maximum.accumulate(curve)
    return float(np.min(curve / peak - 1))


def drawdown(curve: np.ndarray) -> np.ndarray:
    """(T,) drawdown from the running peak, fractions <= 0."""
    return curve / np.maximum.accumulate(curve) - 1


def curves(daily: pl.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(nav, benchmark, excess) curves normalised to start at 1; benchmark NaN when absent."""
    nav = daily["nav"].to_numpy().astype(float)
    bench = daily["benchmark"].fill_null(strategy="forward").fill_null(strategy="backward").to_numpy().astype(float)
    nav_c = nav / nav[0] if nav.size else nav
    bench_c = bench / bench[0] if bench.size and np.isfinite(bench[0]) else np.full_like(nav, np.nan)
    return nav_c, bench_c, nav_c / bench_c


def _returns(curve: np.ndarray) -> np.ndarray:
    return curve[1:] / curve[:-1] - 1 if curve.size > 1 else np.zeros(0)


def summary(daily: pl.DataFrame, benchmark_name: str = "") -> dict[str, float | str]:
    """Headline metrics of a daily table (``BacktestResult.daily()``)."""
    nav, bench, excess = curves(daily)
    r, er = _returns(nav), _returns(excess)
    vol = float(np.std(r, ddof=1) * math.sqrt(DAYS)) if r.size > 1 else float("nan")
    te = float(np.std(er, ddof=1) * math.sqrt(DAYS)) if er.size > 1 else float("nan")
    ann, ann_b, ann_x = _ann_return(nav), _ann_return(bench), _ann_return(excess)
    avg_nav = float(daily["nav"].mean()) if daily.height else float("nan")
    years = max((daily.height - 1) / DAYS, 1e-9)
    return {
        "start": str(daily["date"][0]) if daily.height else "", "end": str(daily["date"][-1]) if daily.height else "",
        "total_return": float(nav[-1] - 1) if nav.size else float("nan"),
        "annual_return": ann, "annual_volatility": vol,
        "sharpe": float(np.mean(r) / np.std(r, ddof=1) * math.sqrt(DAYS)) if r.size > 1 and np.std(r) > 0 else float("nan"),
        "max_drawdown": _max_drawdown(nav),
        "benchmark": benchmark_name,
        "benchmark_annual_return": ann_b,
        "excess_annual_return": ann_x, "excess_kind": "geometric",
        "tracking_error": te,
        "information_ratio": float(np.mean(er) * DAYS / te) if te and np.isfinite(te) and te > 0 else float("nan"),
        "excess_max_drawdown": _max_drawdown(excess) if np.all(np.isfinite(excess)) else float("nan"),
        "monthly_win_rate": monthly_win_rate(daily),
        "annual_turnover": float(daily["turnover"].sum() / years),
        "cost_drag": float(daily["costs"].sum() / avg_nav / years) if avg_nav else float("nan"),
    }


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
    return float((m["excess"] > 0).mean()) if m.height else float("nan")


def yearly(daily: pl.DataFrame) -> pl.DataFrame:
    """Per calendar year: [year, return, benchmark_return, excess, max_drawdown, turnover, costs]."""
    nav, bench, excess = curves(daily)
    df = daily.select("date", "turnover", "costs").with_columns(
        pl.Series("c", nav), pl.Series("b", bench), pl.Series("x", excess), pl.col("date").dt.year().alias("year"))
    df = df.with_columns(pl.col("c").shift(1).fill_null(1.0).alias("c0"),
                         pl.col("b").shift(1).fill_null(1.0).alias("b0"))
    out = df.group_by("year", maintain_order=True).agg(
        (pl.col("c").last() / pl.col("c0").first() - 1).alias("return"),
        (pl.col("b").last() / pl.col("b0").first() - 1).alias("benchmark_return"),
        (pl.col("c") / pl.col("c").cum_max() - 1).min().alias("max_drawdown"),
        pl.col("turnover").sum(), pl.col("costs").sum(),
    )
    return out.with_columns(((1 + pl.col("return")) / (1 + pl.col("benchmark_return")) - 1).alias("excess")).select(
        "year", "return", "benchmark_return", "excess", "max_drawdown", "turnover", "costs")
