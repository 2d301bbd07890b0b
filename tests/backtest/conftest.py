"""Hand-built tiny markets for the backtest tests.

``build_store(path, closes, ...)``: one bar per (symbol, day) from per-symbol lists where
``None`` means "no row" (before listing / after delisting). Day 0..``HISTORY``-1 are history
(previous closes for limits); scores are usually given from day ``HISTORY`` on.
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flyer.data.calendar import sse_calendar
from flyer.data.store import MarketStore

HISTORY = 2


def days_from(start: dt.date, n: int) -> list[dt.date]:
    return sse_calendar(start, start + dt.timedelta(days=3 * n + 20))[:n]


def build_store(path: Path, closes: dict[str, list[float | None]], start: dt.date = dt.date(2023, 3, 1),
                opens: dict[str, list[float | None]] | None = None,
                adj: dict[str, list[float]] | None = None,
                suspended: dict[str, list[int]] | None = None,
                st: dict[str, list[int]] | None = None,
                members: dict[str, float] | None = None,
                volumes: dict[str, list[float]] | None = None,
                ends_unknown: tuple[str, ...] = (), delist: dict[str, int] | None = None) -> MarketStore:
    """A MarketStore at ``path`` holding the given bars, a flat 000905.SH index and (optionally)
    a membership snapshot with ``members`` weights on the first day. Volume is 1e6 shares a day
    unless ``volumes`` gives it (0 on suspended days); amount = volume x (open + close) / 2.
    A stock whose rows end before the last day is delisted on its last row, unless it is in
    ``ends_unknown`` (its bars end, its delisting date is unknown: a source file ended) or
    ``delist`` gives the day index of its (later) official delisting."""
    n = len(next(iter(closes.values())))
    days = days_from(start, n)
    rows = []
    for sym, cl in closes.items():
        for i, c in enumerate(cl):
            if c is None:
                continue
            o = (opens or {}).get(sym, cl)[i]
            o = c if o is None else o
            susp = i in (suspended or {}).get(sym, [])
            vol = 0.0 if susp else (volumes or {}).get(sym, [1e6] * n)[i]
            rows.append(dict(symbol=sym, date=days[i], open=o, high=max(o, c), low=min(o, c), close=c,
                             volume=vol, amount=vol * (o + c) / 2, adj_factor=(adj or {}).get(sym, [1.0] * n)[i],
                             is_st=i in (st or {}).get(sym, []) or False, is_suspended=susp,
                             total_cap=1e9, float_cap=1e9))
    bars = pl.DataFrame(rows)
    inst = bars.group_by("symbol").agg(pl.col("date").max().alias("_last")).with_columns(
        pl.col("symbol").alias("name"), pl.col("symbol").str.slice(7, 2).alias("exchange"),
        pl.lit("main").alias("board"), pl.lit(None, pl.Utf8).alias("industry"),
        pl.when((pl.col("_last") < days[-1]) & ~pl.col("symbol").is_in(list(ends_unknown)))
        .then(pl.col("_last")).otherwise(None).alias("delist_date"),
        pl.lit(dt.date(2000, 1, 1)).alias("list_date")).drop("_last")
    if delist:
        official = pl.DataFrame({"symbol": list(delist), "_d": [days[i] for i in delist.values()]})
        inst = inst.join(official, on="symbol", how="left").with_columns(
            pl.coalesce("_d", "delist_date").alias("delist_date")).drop("_d")
    level = np.linspace(1000, 1010, n)
    index = pl.DataFrame({"index_code": "000905.SH", "date": days, "open": level, "high": level,
                          "low": level, "close": level, "volume": 1.0, "amount": 1.0})
    frames = {"calendar": pl.DataFrame({"date": days}), "instruments": inst, "bars": bars, "index_bars": index}
    if members:
        frames["index_members"] = pl.DataFrame({"index_code": "000905.SH", "date": days[0],
                                                "symbol": list(members), "weight": list(members.values())})
    store = MarketStore(path / "m.duckdb")
    report = store.write("test", frames)
    assert report.rows_rejected == 0, report.messages
    return store


def scores_frame(days: list[dt.date], scores: dict[str, list[float | None]]) -> pl.DataFrame:
    """[date, symbol, score] from per-symbol lists aligned with ``days`` (None = no score)."""
    rows = [dict(date=days[i], symbol=s, score=v) for s, vals in scores.items() for i, v in enumerate(vals)
            if v is not None]
    return pl.DataFrame(rows, schema={"date": pl.Date, "symbol": pl.Utf8, "score": pl.Float64})


@pytest.fixture()
def tiny(tmp_path: Path):
    """Factory: ``tiny(closes, **kw) -> (store, days)``; stores are closed after the test."""
    opened: list[MarketStore] = []

    def make(closes: dict[str, list[float | None]], **kw) -> tuple[MarketStore, list[dt.date]]:
        sub = tmp_path / f"s{len(opened)}"
        sub.mkdir()
        store = build_store(sub, closes, **kw)
        opened.append(store)
        n = len(next(iter(closes.values())))
        return store, days_from(kw.get("start", dt.date(2023, 3, 1)), n)

    yield make
    for s in opened:
        s.close()
