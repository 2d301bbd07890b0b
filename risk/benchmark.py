"""Point-in-time benchmark (index) weights, and how well they replicate the index.

Method (``benchmark_weights``):
  1. the index's review days are the store's membership snapshot dates; between two of them
     the member set is fixed;
  2. on a review day the weights are the snapshot's own (``source = store``) when it has them,
     else estimated (``source = estimated``) from the index rules we can see: proportional to
     each member's free-float market cap at the previous close, single names capped at
     ``cap_limit`` (CSI: 10 %), the excess spread over the others pro rata; where the store has
     no caps (the real data after 2022-01-14) the last known float share count is carried
     forward with raw prices (``flyer.risk.panel.carried_caps``), a member that never had a
     cap starts at the review's median member cap, and the result's notes say so;
  3. between reviews every weight grows with its stock's daily total return (a member without
     a bar that day stays flat) and the set is renormalised: what a cap-weighted index does.
``weight`` is the start-of-day weight: the index's composition during ``date``, known at the
previous close (reviews are announced weeks ahead), so ``sum(weight * return of date)`` is the
day's index return.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from flyer.core.values import as_date, as_float

from flyer.core.errors import FlyerError
from flyer.risk.panel import carried_caps

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

CSI_CAP = 0.10


@dataclass(frozen=True)
class BenchmarkWeights:
    """[date, symbol, weight, source] start-of-day weights (sum 1 per date) and notes."""

    code: str
    weights: pl.DataFrame
    notes: tuple[str, ...]


def cap_weights(caps: np.ndarray, limit: float = CSI_CAP) -> np.ndarray:
    """Weights proportional to ``caps`` (NaN/<=0 -> 0) with no weight above ``limit`` (the
    excess goes to the uncapped names pro rata, repeated until none exceeds it)."""
    w = np.where(np.isfinite(caps) & (caps > 0), caps, 0.0)
    if w.sum() <= 0:
        return np.full(w.shape, 1.0 / max(len(w), 1))
    w = w / w.sum()
    if limit * len(w) <= 1.0:
        return w
    for _ in range(len(w)):
        over = w > limit + 1e-15
        if not over.any():
            break
        excess = float((w[over] - limit).sum())
        w[over] = limit
        free = ~over & (w < limit)
        w[free] += excess * w[free] / w[free].sum()
    return w


def review_days(store: MarketStore, code: str) -> list[dt.date]:
    """The index's membership snapshot dates in the store, ascending."""
    df = store.query("SELECT DISTINCT date FROM index_members WHERE index_code = ? ORDER BY date", [code])
    return df["date"].to_list()


def benchmark_weights(store: MarketStore, code: str = "000905.SH", start: dt.date | None = None,
                      end: dt.date | None = None, cap_limit: float = CSI_CAP) -> BenchmarkWeights:
    """Start-of-day member weights of ``code`` for every trading day in [start, end] (module doc)."""
    reviews = review_days(store, code)
    if not reviews:
        raise FlyerError(f"the store has no membership of {code}")
    first = max([d for d in reviews if start is None or d <= start] or [reviews[0]])
    members = store.membership(code, first, end)
    if members.height == 0:
        raise FlyerError(f"no {code} membership between {first} and {end}")
    last = as_date(members["date"].max(), "last member date")
    caps = carried_caps(store, last)
    cal = store.calendar(None, last)
    prev = pl.DataFrame({"date": cal[1:], "prev": cal[:-1]})
    rets = _returns(store, members["symbol"].unique().to_list(), first, last)
    rev = np.array(reviews, dtype="datetime64[D]")
    period = np.searchsorted(rev, members["date"].to_numpy().astype("datetime64[D]"), side="right")
    df = members.join(prev, on="date", how="left").with_columns(pl.Series("period", period.astype(np.int32)))
    df = df.join(caps.select("symbol", pl.col("date").alias("prev"), "float_cap", "carried"),
                 on=["symbol", "prev"], how="left")
    starts, notes = _review_weights(df.filter(pl.col("date") == pl.col("date").min().over("period")), cap_limit, code)
    df = (df.join(starts, on=["period", "symbol"], how="left")
          .join(rets, on=["date", "symbol"], how="left")
          .sort("symbol", "date")
          .with_columns(pl.col("ret").fill_null(0.0).shift(1).over(["period", "symbol"]).fill_null(0.0).alias("r_prev"))
          .with_columns(((1 + pl.col("r_prev")).cum_prod().over(["period", "symbol"]) * pl.col("w0")).alias("raw")))
    out = (df.with_columns((pl.col("raw") / pl.col("raw").sum().over("date")).alias("weight"))
           .filter(pl.col("weight").is_not_null() & ((start is None) | (pl.col("date") >= (start or first))))
           .select("date", "symbol", "weight", "source").sort("date", "symbol"))
    return BenchmarkWeights(code, out, tuple(notes))


def _returns(store: MarketStore, symbols: list[str], start: dt.date, end: dt.date) -> pl.DataFrame:
    """[date, symbol, ret] daily total returns (back-adjusted close) of ``symbols``."""
    bars = store.bars(start, end, symbols=symbols, columns=["close"])
    return bars.select("date", "symbol", (pl.col("close") / pl.col("close").shift(1).over("symbol") - 1).alias("ret"))


def _review_weights(first_days: pl.DataFrame, cap_limit: float, code: str) -> tuple[pl.DataFrame, list[str]]:
    """[period, symbol, w0, source] weights on each review day, and notes on what was estimated."""
    parts, notes = [], []
    n_est = n_carried = n_missing = 0
    for (period,), g in first_days.group_by("period", maintain_order=True):
        stored = g["weight"].to_numpy().astype(np.float64)
        if np.isfinite(stored).all() and stored.sum() > 0:
            w, src = stored / stored.sum(), "store"
        else:
            caps = g["float_cap"].fill_null(np.nan).to_numpy().astype(np.float64)
            known = np.isfinite(caps) & (caps > 0)
            if known.any():
                caps = np.where(known, caps, np.median(caps[known]))  # a member never capped: the median
            w, src = cap_weights(caps, cap_limit), "estimated"
            n_est += 1
            n_carried += int(g["carried"].fill_null(False).sum())
            n_missing += int((~known).sum())
        parts.append(pl.DataFrame({"period": np.full(g.height, period, dtype=np.int32), "symbol": g["symbol"],
                                   "w0": w, "source": [src] * g.height}))
    if n_est:
        notes.append(f"{code}: {n_est} review(s) without stored weights estimated from free-float caps "
                     f"(single names capped at {cap_limit:.0%})")
    if n_carried:
        notes.append(f"{code}: {n_carried} member caps at reviews are carried share counts x raw close "
                     "(the store has no caps there)")
    if n_missing:
        notes.append(f"{code}: {n_missing} member-reviews without any known cap (listed after the store's "
                     "last caps) start at the review's median member cap")
    return pl.concat(parts), notes


def replication(weights: pl.DataFrame, store: MarketStore, code: str, periods: float = 243.0) -> pl.DataFrame:
    """Per year: [year, days, index_return, replica_return, mean_gap_annual, tracking_error, corr]
    of the weighted members' total return against the index's own close-to-close return.
    The gap's mean is about the dividend yield when ``code`` is a price index."""
    idx = store.index_bars(code).select("date", (pl.col("close") / pl.col("close").shift(1) - 1).alias("r_idx"))
    syms = weights["symbol"].unique().to_list()
    lo, hi = as_date(weights["date"].min(), "first weight date"), as_date(weights["date"].max(), "last weight date")
    rep = (weights.join(_returns(store, syms, store.calendar(None, lo)[-2:][0], hi), on=["date", "symbol"], how="left")
           .group_by("date").agg((pl.col("weight") * pl.col("ret").fill_null(0.0)).sum().alias("r_rep")))
    df = rep.join(idx, on="date").drop_nulls().sort("date").with_columns(
        (pl.col("r_rep") - pl.col("r_idx")).alias("gap"), pl.col("date").dt.year().alias("year"))
    return df.group_by("year", maintain_order=True).agg(
        pl.len().alias("days"), ((1 + pl.col("r_idx")).product() - 1).alias("index_return"),
        ((1 + pl.col("r_rep")).product() - 1).alias("replica_return"),
        (pl.col("gap").mean() * periods).alias("mean_gap_annual"),
        (pl.col("gap").std() * np.sqrt(periods)).alias("tracking_error"),
        pl.corr("r_rep", "r_idx").alias("corr"))


def compare_snapshot(weights: pl.DataFrame, snapshot: pl.DataFrame, on: dt.date) -> dict[str, float]:
    """Estimated weights at the close of ``on`` (the next day's start-of-day weights, when the
    set did not change) against a real snapshot [symbol, weight] of that close: names in both,
    correlation and sum of absolute differences (over the union, missing = 0)."""
    after = weights.filter(pl.col("date") > on)
    if after.height == 0:
        raise FlyerError(f"no estimated weights after {on}")
    est = after.filter(pl.col("date") == after["date"].min()).select("symbol", pl.col("weight").alias("est"))
    snap = snapshot.select("symbol", (pl.col("weight") / pl.col("weight").sum()).alias("real"))
    both = est.join(snap, on="symbol", how="full", coalesce=True).fill_null(0.0)
    common = est.join(snap, on="symbol")
    return {"names_common": float(common.height), "names_est_only": float(est.height - common.height),
            "names_real_only": float(snap.height - common.height),
            "corr": float(np.corrcoef(common["est"], common["real"])[0, 1]) if common.height > 2 else float("nan"),
            "sum_abs_diff": as_float((both["est"] - both["real"]).abs().sum()),
            "max_abs_diff": as_float((both["est"] - both["real"]).abs().max())}
