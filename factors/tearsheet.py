"""Tear-sheet tables of one factor evaluation (alphalens-style; pure: tables in, tables out).

Over a ``FactorEvaluation`` (flyer's figures):
* ``rolling_ic(ev, window)``: daily IC and RankIC at the evaluation horizon with their
  ``window``-day moving averages;
* ``monthly_ic(ev)``: mean RankIC per calendar month as a year x month grid;
* ``ic_distribution(ev)``: the daily RankIC's mean, sd, skew, kurtosis and normal-QQ pairs;
* ``ic_stats(ev)``: alphalens' information table, one column per horizon (mean, sd, IR, Newey-West
  t and its p-value, skew, excess kurtosis, share of days > 0);
* ``quantile_cumulative(ev)``: cumulative return of each quantile portfolio, compounding the
  per-day share of its h-day forward return (``ret_h / h``), start = 1;
* ``spread(ev, window)``: daily top-minus-bottom quantile mean return with a rolling mean and a
  band of +-1 rolling standard deviation;
* ``industry_ic(store, values, factors, horizon, universe)``: per level-1 industry, the mean and
  ICIR of the daily within-industry RankIC (dates with at least 5 names of the industry).

Over the canonical long table (``evaluation.factor_table``: ``[date, symbol, value, ret_h...,
rank, quantile]``, plus ``group`` for group-neutral figures; ``sheets`` builds it for the factors
a report details), alphalens' returns, turnover and quantile analysis at every horizon at once:
* ``quantile_returns(table, demean, by_group)``: mean forward return per quantile and horizon,
  **demeaned** by default (minus the date's universe mean, or the date's group mean with
  ``by_group``), per day of holding (``ret_h / h``) in basis points, with its standard error;
* ``factor_returns(table)``: the factor-weighted long/short portfolio per date (weights =
  demeaned factor / sum of its absolute values: dollar neutral, gross 1);
* ``returns_analysis(table, year_days)``: its alpha (per year, arithmetic: mean h-day alpha / h
  x trading days per year of the calendar) and beta against the universe's equal-weight mean
  return, and the top / bottom quantile and spread in bp per day, one column per horizon;
* ``quantile_stats(table)``: factor value range, mean, sd and counts per quantile;
* ``quantile_turnover(table, lag)`` / ``turnover_table(table)``: the share of each quantile's
  names that were not in it ``lag`` dates before (lag = the horizon), and the factor's rank
  autocorrelation at that lag.
Returns are fractions unless a name says bp; IC are correlations.
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
import polars as pl

from flyer.core.stats import newey_west_t, periods_per_year
from flyer.data.store import MarketStore
from flyer.factors.evaluation import HORIZONS, FactorEvaluation, factor_table, ret_col, t_to_p


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


def forward_for(store: MarketStore, values: pl.DataFrame, horizons: tuple[int, ...]) -> pl.DataFrame:
    """``[date, symbol, ret_h...]`` for the dates of ``values`` (bars read through the h-th day after)."""
    from flyer.factors.evaluation import forward_returns

    start, end = values["date"].min(), values["date"].max()
    assert isinstance(start, dt.date) and isinstance(end, dt.date)
    after = store.calendar(start=end)
    last = after[min(max(horizons) + 1, after.len() - 1)] if after.len() else end
    return forward_returns(store.bars(start, last).select("symbol", "date", "close"), horizons)


def industry_ic(store: MarketStore, values: pl.DataFrame, factors: list[str], horizon: int = 5,
                universe: pl.DataFrame | None = None, min_names: int = 5) -> dict[str, pl.DataFrame]:
    """Per factor: ``[industry, days, mean_names, rank_ic_mean, rank_icir]`` sorted by RankIC
    (empty when the store has no industries)."""
    if values.height == 0 or not store.industry_standards():
        return {}
    fwd = forward_for(store, values, (horizon,))
    start, end = values["date"].min(), values["date"].max()
    assert isinstance(start, dt.date) and isinstance(end, dt.date)
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


def t_stat(mean: float, sd: float, n: int) -> float:
    """mean / sd * sqrt(n) (NaN when undefined)."""
    return mean / sd * math.sqrt(n) if sd and n > 1 else float("nan")


# ------------------------------------------------------------------ alphalens' analysis at every horizon
def horizons_of(table: pl.DataFrame) -> tuple[int, ...]:
    """The horizons (days) whose forward returns ``table`` holds, ascending."""
    return tuple(sorted(int(c[4:]) for c in table.columns if c.startswith("ret_")))


def _demeaned(table: pl.DataFrame, by_group: bool = False) -> pl.DataFrame:
    """``table`` with each ``ret_h`` minus the date's mean (or the (date, group) mean)."""
    keys = ["date", "group"] if by_group else ["date"]
    return table.with_columns((pl.col(ret_col(h)) - pl.col(ret_col(h)).mean().over(keys)).alias(ret_col(h))
                              for h in horizons_of(table))


def quantile_returns(table: pl.DataFrame, *, demean: bool = True, by_group: bool = False) -> pl.DataFrame:
    """``[horizon, quantile, mean, bp_per_day, std_error_bp, dates]``: per horizon and quantile,
    the mean over dates of the quantile's equal-weight h-day return (``mean``, a fraction),
    per day of holding in basis points (``mean / h x 1e4``) and the standard error of that
    (sd over dates / sqrt(dates)). ``demean`` (default): returns minus the date's universe mean;
    ``by_group``: minus the date's group mean (group-neutral; needs a ``group`` column)."""
    t = _demeaned(table, by_group) if demean or by_group else table
    parts = []
    for h in horizons_of(t):
        daily = t.group_by("date", "quantile").agg(pl.col(ret_col(h)).mean().alias("r"))
        parts.append(daily.group_by("quantile").agg(
            pl.col("r").mean().alias("mean"), (pl.col("r").std() / pl.len().sqrt()).alias("se"),
            pl.len().alias("dates")).select(pl.lit(h, pl.Int32).alias("horizon"), "quantile", "mean",
                                            (pl.col("mean") / h * 1e4).alias("bp_per_day"),
                                            (pl.col("se") / h * 1e4).alias("std_error_bp"), "dates"))
    return pl.concat(parts).sort("horizon", "quantile")


def factor_returns(table: pl.DataFrame) -> pl.DataFrame:
    """``[date, ret_h...]``: the factor-weighted long/short portfolio's h-day return per date
    (weights = (value - date mean) / sum |value - date mean|: dollar neutral, gross exposure 1)."""
    d = pl.col("value") - pl.col("value").mean().over("date")
    w = (d / d.abs().sum().over("date")).alias("w")
    hs = horizons_of(table)
    return table.with_columns(w).group_by("date").agg(
        (pl.col("w") * pl.col(ret_col(h))).sum().alias(ret_col(h)) for h in hs).sort("date")


def _ols(y: np.ndarray, x: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of y on x over the finite pairs (NaN when undefined)."""
    ok = np.isfinite(x) & np.isfinite(y)
    if ok.sum() < 3 or float(np.var(x[ok])) == 0:
        return float("nan"), float("nan")
    slope = float(np.cov(y[ok], x[ok], ddof=1)[0, 1] / np.var(x[ok], ddof=1))
    return float(y[ok].mean() - slope * x[ok].mean()), slope


def returns_analysis(table: pl.DataFrame, year_days: Mapping[int, int] | None = None, *,
                     demean: bool = True) -> pl.DataFrame:
    """``[measure, <h>D...]``: alpha per year and beta of the factor-weighted portfolio against
    the universe's equal-weight mean return (OLS over dates; alpha = mean h-day intercept / h x
    trading days per year of the calendar), and the top and bottom quantile's mean and their
    spread in bp per day (``quantile_returns``, demeaned unless ``demean=False``)."""
    hs = horizons_of(table)
    fr = factor_returns(table)
    uni = table.group_by("date").agg(pl.col(ret_col(h)).mean() for h in hs).sort("date")
    both = fr.join(uni, on="date", suffix="_u")
    per_year = periods_per_year(both["date"].to_list(), year_days) if both.height > 1 else 243.0
    q = quantile_returns(table, demean=demean)
    top, bottom = q["quantile"].max(), q["quantile"].min()
    rows: dict[str, list[object]] = {"measure": ["alpha per year (factor-weighted)", "beta (factor-weighted)",
                                                 "top quantile, bp per day", "bottom quantile, bp per day",
                                                 "top - bottom, bp per day"]}  # alphalens halves it: "100% gross"
    for h in hs:
        a, b = _ols(both[ret_col(h)].to_numpy(), both[f"{ret_col(h)}_u"].to_numpy())
        qh = q.filter(pl.col("horizon") == h)
        t = _first(qh.filter(pl.col("quantile") == top)["bp_per_day"])
        bo = _first(qh.filter(pl.col("quantile") == bottom)["bp_per_day"])
        rows[f"{h}D"] = [a / h * per_year, b, t, bo, t - bo]
    return pl.DataFrame(rows, strict=False)


def _first(s: pl.Series) -> float:
    return float(s[0]) if s.len() and s[0] is not None else float("nan")


def quantile_stats(table: pl.DataFrame) -> pl.DataFrame:
    """``[quantile, min, max, mean, sd, count, share]`` of the factor values per quantile
    (count: rows over all dates; share: of all rows)."""
    return table.group_by("quantile").agg(
        pl.col("value").min().alias("min"), pl.col("value").max().alias("max"), pl.col("value").mean().alias("mean"),
        pl.col("value").std().alias("sd"), pl.len().alias("count")).with_columns(
        (pl.col("count") / pl.col("count").sum()).alias("share")).sort("quantile")


def ic_stats(ev: FactorEvaluation) -> pl.DataFrame:
    """``[measure, <h>D...]``: per horizon, the daily RankIC's mean, sd, IR (mean / sd), the
    Newey-West t (h lags) and its two-sided p-value, skew, excess kurtosis, share of days > 0,
    and the daily IC's (Pearson) mean."""
    rows: dict[str, list[object]] = {"measure": ["RankIC mean", "RankIC sd", "RankIC IR (mean / sd)",
                                                 "RankIC t (Newey-West, h lags)", "p-value (two-sided)",
                                                 "RankIC skew", "RankIC excess kurtosis", "share of days > 0",
                                                 "IC (Pearson) mean"]}
    for h in sorted(ev.ic["horizon"].unique().to_list()):
        part = ev.ic.filter(pl.col("horizon") == h).sort("date")
        x = part["rank_ic"].drop_nulls()
        v = x.to_numpy()
        m, sd = (float(v.mean()), float(v.std(ddof=1))) if v.size > 1 else (float("nan"), float("nan"))
        t = newey_west_t(v, int(h))
        rows[f"{h}D"] = [m, sd, m / sd if sd else float("nan"), t, t_to_p(t), float(x.skew() or 0.0),
                         float(x.kurtosis() or 0.0), float((v > 0).mean()) if v.size else float("nan"),
                         float(part["ic"].drop_nulls().mean() or float("nan"))]  # type: ignore[arg-type]
    return pl.DataFrame(rows, strict=False)


def quantile_turnover(table: pl.DataFrame, lag: int = 1) -> pl.DataFrame:
    """``[date, quantile, turnover]``: the share of the quantile's names on a date that were not
    in it ``lag`` dates before (dates of the table; the first ``lag`` dates have none)."""
    dates = table["date"].unique().sort()
    prev = pl.DataFrame({"date": dates.slice(lag), "prev": dates.slice(0, max(dates.len() - lag, 0))})
    members = table.select("date", "symbol", "quantile")
    was = members.rename({"date": "prev", "quantile": "q_prev"})
    held = members.join(prev, on="date").join(was, on=["prev", "symbol"], how="left")
    return held.group_by("date", "quantile").agg(
        (1 - (pl.col("q_prev") == pl.col("quantile")).fill_null(False).mean()).alias("turnover")).sort("date", "quantile")


def turnover_table(table: pl.DataFrame) -> pl.DataFrame:
    """``[measure, <h>D...]``: per horizon h, each quantile's mean turnover at lag h and the
    factor's mean rank autocorrelation at lag h (alphalens' turnover table)."""
    from flyer.factors.evaluation import rank_autocorr

    qs = sorted(table["quantile"].unique().to_list())
    measures: list[object] = [*(f"Q{q} turnover" for q in qs), "rank autocorrelation"]
    rows: dict[str, list[object]] = {"measure": measures}
    for h in horizons_of(table):
        t = quantile_turnover(table, h).group_by("quantile").agg(pl.col("turnover").mean()).sort("quantile")
        by_q = dict(zip(t["quantile"].to_list(), t["turnover"].to_list()))
        ac = rank_autocorr(table, h)["autocorr"].drop_nulls()
        rows[f"{h}D"] = [by_q.get(q, float("nan")) for q in qs] + [float(ac.mean()) if ac.len() else float("nan")]  # type: ignore[arg-type]
    return pl.DataFrame(rows, strict=False)


def factor_cumulative(table: pl.DataFrame) -> pl.DataFrame:
    """``[date, horizon, cumulative]``: the factor-weighted portfolio compounding ``ret_h / h``
    per day at each horizon (the same convention as ``quantile_cumulative``), start = 1."""
    fr = factor_returns(table)
    return pl.concat([fr.select("date", pl.lit(h, pl.Int32).alias("horizon"),
                                (1 + pl.col(ret_col(h)).fill_null(0) / h).cum_prod().alias("cumulative"))
                      for h in horizons_of(table)])


# ------------------------------------------------------------------ the per-factor sheets a report details
#: most per-factor sheets one report holds (``detail="all"`` stops here and says so)
DETAIL_LIMIT = 40


@dataclass(frozen=True, eq=False)
class FactorSheet:
    """What one factor's sheet needs beyond its ``FactorEvaluation``: the canonical table at
    every horizon (with ``group`` = level-1 industry when the store has industries), the
    calendar's trading days per year, the within-industry RankIC table and whether quantile
    returns are demeaned."""

    factor: str
    table: pl.DataFrame
    year_days: Mapping[int, int]
    industry: pl.DataFrame | None = None
    demean: bool = True

    @property
    def grouped(self) -> bool:
        return "group" in self.table.columns


def pick(evals: Mapping[str, FactorEvaluation], detail: int | str | Sequence[str] = 5) -> tuple[list[str], str]:
    """(factors to detail, a sentence saying which): the ``detail`` best by |RankIC ICIR| (an int),
    the named ones (a sequence or comma-separated text; unknown names raise), or ``"all"`` (at most
    ``DETAIL_LIMIT``, the rest named as left out)."""
    from flyer.core.errors import UsageError
    from flyer.factors.evaluation import summary_table

    ranked = summary_table(dict(evals))["factor"].to_list() if evals else []
    if isinstance(detail, int):
        chosen = ranked[:max(detail, 0)]
        return chosen, f"the {len(chosen)} best by |RankIC ICIR| of {len(ranked)} (pick others by name)"
    names = [n.strip() for n in (detail.split(",") if isinstance(detail, str) else detail) if n.strip()]
    if names == ["all"]:
        left = len(ranked) - DETAIL_LIMIT
        return ranked[:DETAIL_LIMIT], (f"all {len(ranked)}" if left <= 0 else
                                       f"the {DETAIL_LIMIT} best by |RankIC ICIR| (at most {DETAIL_LIMIT} sheets a "
                                       f"page; {left} left out: name them to detail them)")
    unknown = [n for n in names if n not in evals]
    if unknown:
        raise UsageError(f"no factor {', '.join(unknown)} in this evaluation (it has {', '.join(ranked[:8])}"
                         + (", ..." if len(ranked) > 8 else "") + ")")
    return names, "the factors picked by name"


def sheets(store: MarketStore, values: pl.DataFrame, evals: Mapping[str, FactorEvaluation], factors: Sequence[str],
           *, demean: bool = True) -> dict[str, FactorSheet]:
    """A ``FactorSheet`` per factor of ``factors`` (columns of ``values``, already in the
    universe), at the horizons and quantiles its evaluation used; forward returns and the
    industry panel are read once."""
    from flyer.core.stats import year_days as days_of

    if not factors or values.height == 0:
        return {}
    ev0 = evals[factors[0]]
    horizons = tuple(sorted(ev0.ic["horizon"].unique().to_list())) or HORIZONS
    quantiles = int(ev0.quantiles["quantile"].max() or 5)  # type: ignore[arg-type]
    fwd = forward_for(store, values, horizons)
    start, end = values["date"].min(), values["date"].max()
    assert isinstance(start, dt.date) and isinstance(end, dt.date)
    groups = (store.industry_panel(start, end, level=1).select("date", "symbol", pl.col("name").alias("group"))
              if store.industry_standards() else None)
    days = days_of(store.calendar().to_list())
    ind = industry_ic(store, values, list(factors), ev0.horizon)
    out = {}
    for f in factors:
        table, _ = factor_table(values, f, fwd, quantiles=quantiles, horizons=horizons)
        if groups is not None:
            table = table.join(groups, on=["date", "symbol"], how="left").with_columns(
                pl.col("group").fill_null("(unknown)"))
        out[f] = FactorSheet(f, table, days, ind.get(f), demean)
    return out


def report_sheets(store: MarketStore, evals: Mapping[str, FactorEvaluation], values: pl.DataFrame,
                  detail: int | str | Sequence[str] = 5, *, demean: bool = True) -> tuple[dict[str, FactorSheet], str]:
    """(``sheets`` of the factors ``pick`` chooses, the sentence saying which): what
    ``flyer factors eval --report`` and a workflow's factor report detail."""
    names, note = pick(evals, detail)
    return sheets(store, values, evals, names, demean=demean), note
