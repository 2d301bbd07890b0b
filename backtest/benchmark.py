"""Benchmark series: the stored index, and a total-return version estimated from its members.

A price index (000905.SH) excludes dividends; a backtest NAV reinvests them, so the price
index flatters every excess return by the members' dividend yield (~1-2 % a year). When the
store holds no total-return index (H00905.CSI), ``estimated_total_return`` adds the members'
cash dividends to the price index:

  1. members per day (``store.membership``), weights normalised per day (null weights, as in
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

import polars as pl

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

DIV_MAX = 0.1   # adj-factor steps of 10 % or more are capital changes (10-for-1 bonus and up), not cash


def member_dividends(store: MarketStore, code: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    """``[date, div]``: the weighted mean cash-dividend yield of ``code``'s members per day
    (fractions; 0 on days without ex-dates; empty without membership)."""
    members = store.membership(code, start, end)
    if members.height == 0:
        return pl.DataFrame(schema={"date": pl.Date, "div": pl.Float64})
    cal = store.calendar(None, start)
    first = cal[-2] if cal.len() > 1 else start  # the day before: the step on ``start`` itself
    bars = store.bars(first, end, symbols=members["symbol"].unique().to_list(), adjust=False,
                      columns=["adj_factor", "float_cap"])
    step = (pl.col("adj_factor") / pl.col("adj_factor").shift(1).over("symbol") - 1).fill_null(0.0)
    bars = bars.with_columns(step.alias("step"), pl.col("float_cap").shift(1).over("symbol").alias("cap0"))
    df = members.join(bars, on=["date", "symbol"], how="inner").with_columns(
        pl.coalesce("weight", "cap0", pl.lit(1.0)).alias("w"),
        pl.when((pl.col("step") > 0) & (pl.col("step") < DIV_MAX)).then(pl.col("step")).otherwise(0.0).alias("y"))
    return (df.group_by("date").agg(((pl.col("w") * pl.col("y")).sum() / pl.col("w").sum()).alias("div"))
            .sort("date"))


def estimated_total_return(store: MarketStore, code: str, price: pl.DataFrame) -> tuple[pl.DataFrame, str] | None:
    """(``[date, tr]``, label) for the price index ``price`` ([date, close]) of ``code`` with its
    members' dividends reinvested (module doc); None when the store has no membership of it."""
    if price.height == 0:
        return None
    divs = member_dividends(store, code, price["date"].min(), price["date"].max())
    if divs.height == 0:
        return None
    df = price.join(divs, on="date", how="left").sort("date").with_columns(pl.col("div").fill_null(0.0))
    df = df.with_columns(pl.when(pl.int_range(pl.len()) == 0).then(0.0).otherwise(pl.col("div")).alias("div"))
    tr = df.select("date", (pl.col("close") * (1 + pl.col("div")).cum_prod()).alias("tr"))
    return tr, f"{code} + members' cash dividends (estimated total return)"
