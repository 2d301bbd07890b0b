"""Benchmark series: the stored index, and a total-return version estimated from its members.

A price index (000905.SH) excludes dividends; a backtest NAV reinvests them, so the price
index flatters every excess return by the members' dividend yield (~1-2 % a year). When the
store holds no total-return index (H00905.CSI), ``estimated_total_return`` adds the members'
cash dividends to the price index:

  1. members per day (the run's loaded membership), weights normalised per day (null weights, as in
     the staged real data: the float caps of the day before, else equal weights);
  2. per member-day, the adj-factor step ``adj[t] / adj[t-1] - 1``; a step in ``(0, DIV_MAX)``
     is a cash dividend (its yield), a larger one a bonus issue or split, which the index's
     divisor already neutralises (so ignored; a mixed bonus + cash event loses its cash part);
  3. ``d[t]`` = weighted mean dividend yield of the day's members; the estimate is
     ``close[t] * prod_{s <= t} (1 + d[s])``, labelled *estimated*.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.backtest.loader import RunData

DIV_MAX = 0.1   # adj-factor steps of 10 % or more are capital changes (10-for-1 bonus and up), not cash


def member_dividends(data: RunData, code: str) -> pl.DataFrame:
    """``[date, div]``: the weighted mean cash-dividend yield of ``code``'s members per day of the
    run (fractions; 0 on days without ex-dates; empty without membership)."""
    members = data.members_of(code)
    if members.height == 0:
        return pl.DataFrame(schema={"date": pl.Date, "div": pl.Float64})
    first = data.lookback[-1] if data.lookback else data.days[0]  # the day before: the step on the start itself
    rows = data.rows_of(members["date"], members["symbol"])   # the member's bar that day (-1: none)
    found = rows >= 0
    rows = rows[found]
    b = data.bars
    sid = b["symbol"].rle_id().to_numpy()
    date = b["date"].cast(pl.Int32).to_numpy()
    prev = rows - 1                      # the stock's previous bar, when it is on or after ``first``
    has_prev = (rows > 0) & (sid[np.maximum(prev, 0)] == sid[rows]) & (date[np.maximum(prev, 0)] >= date_int(first))
    prev = np.where(has_prev, prev, 0)
    adj = b["adj_factor"].cast(pl.Float64).to_numpy()
    cap = b["float_cap"].cast(pl.Float64).to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        step = np.where(has_prev, adj[rows] / adj[prev] - 1, 0.0)
    df = members.filter(pl.Series(found)).with_columns(
        pl.Series("step", step), pl.Series("cap0", np.where(has_prev, cap[prev], np.nan)).fill_nan(None))
    df = df.with_columns(
        pl.coalesce("weight", "cap0", pl.lit(1.0)).alias("w"),
        pl.when((pl.col("step") > 0) & (pl.col("step") < DIV_MAX)).then(pl.col("step")).otherwise(0.0).alias("y"))
    return (df.group_by("date").agg(((pl.col("w") * pl.col("y")).sum() / pl.col("w").sum()).alias("div"))
            .sort("date"))


def date_int(d: dt.date) -> int:
    """Days since 1970-01-01 (polars' physical Date)."""
    return (d - dt.date(1970, 1, 1)).days


def estimated_total_return(data: RunData, code: str, price: pl.DataFrame) -> tuple[pl.DataFrame, str] | None:
    """(``[date, tr]``, label) for the price index ``price`` ([date, close]) of ``code`` with its
    members' dividends reinvested (module doc); None when the run has no membership of it."""
    if price.height == 0:
        return None
    divs = member_dividends(data, code)
    if divs.height == 0:
        return None
    df = price.join(divs, on="date", how="left").sort("date").with_columns(pl.col("div").fill_null(0.0))
    df = df.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(0.0).otherwise(pl.col("div")).alias("div"))
    tr = df.select("date", (pl.col("close") * (1 + pl.col("div")).cum_prod()).alias("tr"))
    return tr, f"{code} + members' cash dividends (estimated total return)"


def benchmark_series(data: RunData, code: str) -> tuple[pl.DataFrame, str, str | None]:
    """(``[date, close(, tr)]``, label, total-return label): the total-return version of ``code``
    (``H`` + code) when the store holds it, else the price index ``code`` with the estimated
    total return (``tr``) beside it when the run has its membership. ``FlyerError`` when the
    store has neither."""
    from flyer.backtest.loader import benchmark_codes

    candidates = benchmark_codes(code)
    for cand in candidates:
        df = data.index.filter(pl.col("index_code") == cand).select("date", "close").sort("date")
        if df.height == 0:
            continue
        if cand != code or cand.partition(".")[0].startswith("H"):
            return df, f"{cand} (total return)", None
        label = f"{cand} (price index, excludes dividends)"
        est = estimated_total_return(data, code, df)
        if est is None:
            return df, label, None
        return df.join(est[0], on="date", how="left"), label, est[1]
    raise FlyerError(f"unknown benchmark {code}: the store has no index bars for it in "
                     f"{data.days[0]}..{data.days[-1]}")
