"""What a backtest could not see or had to decide, reported with its result (never silent).

* ``tie_picks``: buys of a new name whose signal-day score equals that of a scored name left
  out (neither held nor bought): the seeded tie order (``strategies.tie_keys_nb``), not the
  signal, chose them. Counted overall and per year.
* ``members_without_bars``: the benchmark weight (and count) of index members that have no
  bar on a day (a source file ended: the portfolio cannot hold what the benchmark held), per year.
* ``held_without_bars``: the share of NAV in holdings without a bar that day (held at their
  last close, neither sellable nor buyable), per year.
* ``coverage_notes``: the store's ``unknown`` coverage spans inside the run (e.g. ST flags:
  limits then assume a stock is not ST) and, for a vwap deal price, the stock-days without
  amount (vwap substituted when configured, else no fill).
Tables are ``[year, ...]`` frames; ``as_rows`` turns one into JSON-ready dicts for ``meta``.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from flyer.backtest.market import Market
    from flyer.data.store import MarketStore

TINY = 1e-9


def dense_positions(records: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(T, N) adjusted shares held at each day's close from one portfolio's order records."""
    delta = np.zeros(shape)
    signed = np.where(records["side"] == 0, records["size"], -records["size"])
    np.add.at(delta, (records["idx"].astype(np.int64), records["col"].astype(np.int64)), signed)
    return np.cumsum(delta, axis=0)


def signal_rows(rebalance: np.ndarray) -> np.ndarray:
    """(T,) row of the signal behind each day's trades: the row before the latest rebalance day
    on or before it (-1 before the first)."""
    last = np.where(rebalance, np.arange(rebalance.size), -1)
    return np.maximum.accumulate(last) - 1


def tie_picks(market: Market, scores: np.ndarray, records: np.ndarray, rebalance: np.ndarray
              ) -> tuple[dict[str, Any], pl.DataFrame]:
    """({picks, from_ties, share}, ``[year, picks, from_ties, share]``) of one portfolio:
    ``scores`` (T, N) the dense signal, ``rebalance`` (T,) bool its rebalance days."""
    pos = dense_positions(records, market.shape) > TINY
    sig = signal_rows(rebalance)
    buys = records[records["side"] == 0]
    years, tied = [], []
    for i, j in zip(buys["idx"].astype(np.int64), buys["col"].astype(np.int64)):
        s = sig[i]
        if s < 0 or (i > 0 and pos[i - 1, j]) or np.isnan(scores[s, j]):
            continue  # a top-up of a held name, or no signal behind it
        same = scores[s] == scores[s, j]
        same[j] = False
        years.append(market.dates[i].year)
        tied.append(bool(np.any(same & ~pos[i])))
    df = pl.DataFrame({"year": years, "tie": tied}, schema={"year": pl.Int32, "tie": pl.Boolean})
    per_year = df.group_by("year").agg(pl.len().alias("picks"), pl.col("tie").sum().alias("from_ties")).sort("year")
    per_year = per_year.with_columns((pl.col("from_ties") / pl.col("picks")).alias("share"))
    n, k = len(tied), int(sum(tied))
    return {"picks": n, "from_ties": k, "share": k / n if n else 0.0}, per_year


def bar_mask(store: MarketStore, market: Market) -> np.ndarray:
    """(T, N) bool: the stock has a bar (any status) that day (once per store state and market:
    ``market_cache.cached_value``)."""
    from flyer.backtest.market_cache import cached_value

    request = {"dates": [market.dates[0], market.dates[-1], len(market.dates)], "symbols": list(market.symbols)}
    return cached_value(store, "bar_mask", request, lambda: _bar_mask(store, market))


def _bar_mask(store: MarketStore, market: Market) -> np.ndarray:
    bars = store.bars(market.dates[0], market.dates[-1], symbols=list(market.symbols), columns=[])
    row = {d: i for i, d in enumerate(market.dates)}
    col = {s: j for j, s in enumerate(market.symbols)}
    out = np.zeros(market.shape, dtype=np.bool_)
    ri = bars["date"].replace_strict(row, default=-1, return_dtype=pl.Int64).to_numpy()
    ci = bars["symbol"].replace_strict(col, default=-1, return_dtype=pl.Int64).to_numpy()
    ok = (ri >= 0) & (ci >= 0)
    out[ri[ok], ci[ok]] = True
    return out


def held_without_bars(market: Market, records: np.ndarray, has_bar: np.ndarray, nav: np.ndarray) -> pl.DataFrame:
    """``[year, share, max_share]``: mean and peak daily share of NAV held in stocks without a
    bar that day (valued at their last close)."""
    pos = dense_positions(records, market.shape)
    value = np.where((pos > TINY) & ~has_bar, pos * np.nan_to_num(market.arrays.close_val), 0.0).sum(axis=1)
    df = pl.DataFrame({"date": list(market.dates), "share": value / np.where(nav > 0, nav, np.nan)},
                      schema={"date": pl.Date, "share": pl.Float64})
    return (df.group_by(pl.col("date").dt.year().alias("year"))
            .agg(pl.col("share").mean(), pl.col("share").max().alias("max_share")).sort("year"))


def members_without_bars(store: MarketStore, code: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    """``[year, members, missing, weight_missing]``: per year, the mean daily number of
    ``code``'s members, of those without a bar, and their share of the index weight (null
    weights: equal). Empty when the store has no membership of ``code``."""
    m = store.membership(code, start, end)
    if m.height == 0:
        return pl.DataFrame(schema={"year": pl.Int32, "members": pl.Float64, "missing": pl.Float64,
                                    "weight_missing": pl.Float64})
    have = store.bars(start, end, symbols=m["symbol"].unique().to_list(), columns=[]).with_columns(
        pl.lit(True).alias("bar"))
    m = (m.join(have, on=["date", "symbol"], how="left")
         .with_columns(pl.col("bar").fill_null(False), pl.col("weight").fill_null(1.0)))
    day = m.group_by("date").agg(pl.len().alias("members"), (~pl.col("bar")).sum().alias("missing"),
                                 (pl.col("weight").filter(~pl.col("bar")).sum() / pl.col("weight").sum())
                                 .alias("weight_missing"))
    return (day.group_by(pl.col("date").dt.year().cast(pl.Int32).alias("year"))
            .agg(pl.col("members").mean().cast(pl.Float64), pl.col("missing").mean().cast(pl.Float64),
                 pl.col("weight_missing").mean()).sort("year"))


def coverage_notes(store: MarketStore, start: dt.date, end: dt.date, symbols: list[str], deal_price: str,
                   vwap_fill: str) -> list[str]:
    """One line per gap the run crosses (see module doc)."""
    notes = []
    if store.has_table("coverage"):
        unk = store.query("SELECT tbl, key, first, last, note FROM coverage WHERE mode = 'unknown' "
                          "AND first <= ? AND last >= ? ORDER BY tbl, key, first", [end, start])
        for r in unk.iter_rows(named=True):
            what = " (price limits assume the stock is not ST)" if r["tbl"] == "st" else ""
            notes.append(f"{r['tbl']} {r['key']} unknown {max(r['first'], start)}..{min(r['last'], end)}: "
                         f"{r['note']}{what}")
    if deal_price == "vwap":
        gaps = store.query(
            "SELECT year(date) AS year, count(*) AS n FROM bars WHERE date BETWEEN ? AND ? AND volume > 0 "
            "AND (amount IS NULL OR amount <= 0) AND list_contains(?::VARCHAR[], symbol) GROUP BY 1 ORDER BY 1",
            [start, end, symbols])
        if gaps.height:
            per = ", ".join(f"{r['year']}: {r['n']:,}" for r in gaps.iter_rows(named=True))
            how = "vwap substituted by (high+low+close)/3" if vwap_fill == "typical" else "no vwap: no fill"
            notes.append(f"vwap deal price: {int(gaps['n'].sum()):,} traded stock-days without amount ({per}): {how}")
    return notes


def as_rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    """A per-year table as JSON-ready dicts (for ``BacktestResult.meta``)."""
    return [{k: (float(v) if isinstance(v, float) else v) for k, v in r.items()} for r in df.iter_rows(named=True)]
