"""Tear-sheet tables of one factor evaluation (alphalens-style; pure: tables in, tables out).

* ``rolling_ic(ev, window)``: daily IC and RankIC at the evaluation horizon with their
  ``window``-day moving averages;
* ``monthly_ic(ev)``: mean RankIC per calendar month as a year x month grid;
* ``ic_distribution(ev)``: the daily RankIC's mean, sd, skew, kurtosis and normal-QQ pairs;
* ``quantile_cumulative(ev)``: cumulative return of each quantile portfolio, compounding the
  per-day share of its h-day forward return (``ret_h / h``), start = 1;
* ``spread(ev, window)``: daily top-minus-bottom quantile mean return with a rolling mean and a
  band of +-1 rolling standard deviation;
* ``industry_ic(store, values, factors, horizon, universe)``: per level-1 industry, the mean and
  ICIR of the daily within-industry RankIC (dates with at least 5 names of the industry).
Returns are fractions; IC are correlations.
"""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
from flyer.data.store import MarketStore
from flyer.factors.evaluation import FactorEvaluation


def rolling_ic(ev: FactorEvaluation, window: int = 20) -> pl.DataFrame:
    """``[date, ic, rank_ic, ic_ma, rank_ic_ma]`` at the evaluation horizon."""
    ic = ev.ic.filter(pl.col("horizon") == ev.horizon).sort("date")
    return ic.select("date", "ic", "rank_ic", pl.col("ic").rolling_mean(window, min_samples=window // 2).alias("ic_ma"),
                     pl.col("rank_ic").rolling_mean(window, min_samples=window // 2).alias("rank_ic_ma"))


def monthly_ic(ev: FactorEvaluation) -> pl.DataFrame:
    """``[year, 1 .. 12]`` mean daily RankIC per month (null where no dates)."""
    ic = ev.ic.filter(pl.col("horizon") == ev.horizon)
    m = ic.group_by(pl.col("date").dt.year().alias("year"), pl.col("date").dt.month().alias("m")).agg(
        pl.col("rank_ic").mean())
    grid = m.pivot(on="m", index="year", values="rank_ic", sort_columns=True).sort("year")
    for k in range(1, 13):
        if str(k) not in grid.columns:
            grid = grid.with_columns(pl.lit(None, pl.Float64).alias(str(k)))
    return grid.select("year", *[str(k) for k in range(1, 13)])


def ic_distribution(ev: FactorEvaluation) -> tuple[dict[str, float], pl.DataFrame]:
    """(stats, ``[theoretical, observed]`` QQ pairs of the standardised daily RankIC vs a normal)."""
    from statistics import NormalDist

    x = ev.ic.filter(pl.col("horizon") == ev.horizon)["rank_ic"].drop_nulls()
    v = np.sort(x.to_numpy())
    if v.size < 3:
        return {}, pl.DataFrame(schema={"theoretical": pl.Float64, "observed": pl.Float64})
    sd = float(v.std(ddof=1))
    stats = {"mean": float(v.mean()), "sd": sd, "skew": float(x.skew() or 0.0), "kurtosis": float(x.kurtosis() or 0.0),
             "share > 0": float((v > 0).mean()), "days": float(v.size)}
    probs = (np.arange(1, v.size + 1) - 0.5) / v.size
    normal = NormalDist()
    theo = np.array([normal.inv_cdf(p) for p in probs])
    return stats, pl.DataFrame({"theoretical": theo, "observed": (v - v.mean()) / (sd or 1.0)})


def quantile_cumulative(ev: FactorEvaluation) -> pl.DataFrame:
    """``[date, quantile, cumulative]``: each quantile compounding ``ret_h / h`` per day, start = 1."""
    q = ev.quantile_daily.sort("quantile", "date")
    return q.select("date", "quantile", (1 + pl.col("ret").fill_null(0) / ev.horizon).cum_prod().over("quantile")
                    .alias("cumulative"))


def spread(ev: FactorEvaluation, window: int = 20) -> pl.DataFrame:
    """``[date, spread, mean, lower, upper]``: top minus bottom quantile mean h-day return, its
    ``window``-day rolling mean and the band mean +- 1 rolling sd."""
    q = ev.quantile_daily
    top, bottom = q["quantile"].max(), q["quantile"].min()
    wide = q.filter(pl.col("quantile").is_in([top, bottom])).pivot(on="quantile", index="date", values="ret").sort("date")
    s = wide.select("date", (pl.col(str(top)) - pl.col(str(bottom))).alias("spread"))
    m = pl.col("spread").rolling_mean(window, min_samples=window // 2)
    sd = pl.col("spread").rolling_std(window, min_samples=window // 2)
    return s.with_columns(m.alias("mean"), (m - sd).alias("lower"), (m + sd).alias("upper"))


def _spearman_by(df: pl.DataFrame, keys: list[str], a: str, b: str, min_n: int) -> pl.DataFrame:
    ranked = df.with_columns(pl.col(a).rank("average").over(keys).alias("_ra"),
                             pl.col(b).rank("average").over(keys).alias("_rb"))
    return ranked.group_by(keys).agg(pl.len().alias("n"), pl.corr("_ra", "_rb").alias("ic")).filter(
        pl.col("n") >= min_n).with_columns(pl.col("ic").fill_nan(None))


def industry_ic(store: MarketStore, values: pl.DataFrame, factors: list[str], horizon: int = 5,
                universe: pl.DataFrame | None = None, min_names: int = 5) -> dict[str, pl.DataFrame]:
    """Per factor: ``[industry, days, mean_names, rank_ic_mean, rank_icir]`` sorted by RankIC
    (empty when the store has no industries)."""
    from flyer.factors.evaluation import forward_returns, ret_col

    if values.height == 0 or not store.industry_standards():
        return {}
    start, end = values["date"].min(), values["date"].max()
    assert isinstance(start, dt.date) and isinstance(end, dt.date)
    after = store.calendar(start=end)
    last = after[min(horizon + 1, after.len() - 1)] if after.len() else end
    fwd = forward_returns(store.bars(start, last).select("symbol", "date", "close"), (horizon,))
    ind = store.industry_panel(start, end, level=1).select("date", "symbol", pl.col("name").alias("industry"))
    base = values.select("date", "symbol", *factors).join(fwd, on=["date", "symbol"], how="inner").join(
        ind, on=["date", "symbol"], how="inner")
    if universe is not None:
        base = base.join(universe.select("date", "symbol"), on=["date", "symbol"], how="semi")
    out = {}
    r = ret_col(horizon)
    for f in factors:
        part = base.select("date", "industry", f, r).drop_nulls().filter(pl.col(f).is_finite() & pl.col(r).is_finite())
        daily = _spearman_by(part, ["date", "industry"], f, r, min_names)
        out[f] = daily.group_by("industry").agg(
            pl.col("ic").count().alias("days"), pl.col("n").mean().alias("mean_names"),
            pl.col("ic").mean().alias("rank_ic_mean"), (pl.col("ic").mean() / pl.col("ic").std()).alias("rank_icir"),
        ).sort("rank_ic_mean", descending=True, nulls_last=True)
    return out


def report_industry(store: MarketStore, evals: dict[str, FactorEvaluation], values: pl.DataFrame, horizon: int,
                    detail: int = 5) -> dict[str, pl.DataFrame]:
    """``industry_ic`` of the ``detail`` best factors of ``evals`` (the ones a report details)."""
    from flyer.factors.evaluation import summary_table

    best = summary_table(evals)["factor"].head(detail).to_list() if evals else []
    return industry_ic(store, values, best, horizon)


def t_stat(mean: float, sd: float, n: int) -> float:
    """mean / sd * sqrt(n) (NaN when undefined)."""
    return mean / sd * math.sqrt(n) if sd and n > 1 else float("nan")
