"""What the store knows, and how: point-in-time spans, back-filled spans, unknown spans.

Sources write ``coverage`` rows (``flyer.data.schema.COVERAGE``) next to their data: ``pit``
for a snapshot captured on the day it describes (the akshare nightly archive), ``backfill`` for
history supplied later (vendor files, BaoStock, the staged real data), ``unknown`` where a
table holds no such data (ST flags stored False). Sources build the rows with ``span`` and
``coverage_frame``; ``summary`` folds them per (table, key) for ``flyer info``;
``valuation_coverage`` measures PE/PB presence per exchange and year.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl
from flyer.data.schema import COVERAGE
from flyer.core.values import as_date, opt_date

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

COVERAGE_COLS = tuple(COVERAGE)
#: one ``coverage`` row: tbl, key, mode, first, last, source, note
CoverageRow = dict[str, "str | dt.date | None"]


def span(tbl: str, key: str, mode: str, first: object, last: object, note: str,
         source: str = "akshare") -> CoverageRow:
    """One ``coverage`` row (``mode``: pit, backfill or unknown; ``first``/``last`` inclusive
    dates: a ``date`` or a polars date scalar such as ``frame["date"].min()``)."""
    return {"tbl": tbl, "key": key, "mode": mode, "first": as_date(first), "last": as_date(last), "source": source,
            "note": note}


def coverage_frame(rows: list[CoverageRow]) -> pl.DataFrame:
    """``rows`` as a ``coverage`` frame (``flyer.data.schema.COVERAGE``; empty when none)."""
    return pl.DataFrame(rows, schema=COVERAGE, orient="row") if rows else pl.DataFrame(schema=COVERAGE)


@dataclass(frozen=True)
class Span:
    """One table's knowledge for one key: back-filled ``[backfill_first, backfill_last]``,
    point-in-time from ``pit_first`` (``pit_days`` snapshots), unknown ``[unknown_first, unknown_last]``."""

    tbl: str
    key: str
    backfill_first: dt.date | None
    backfill_last: dt.date | None
    pit_first: dt.date | None
    pit_days: int
    unknown_first: dt.date | None
    unknown_last: dt.date | None
    sources: str

    def line(self) -> str:
        parts = []
        if self.backfill_first is not None:
            parts.append(f"back-filled {self.backfill_first} .. {self.backfill_last}")
        if self.pit_first is not None:
            parts.append(f"point-in-time from {self.pit_first} ({self.pit_days} snapshot day(s))")
        if self.unknown_first is not None:
            parts.append(f"unknown {self.unknown_first} .. {self.unknown_last}")
        return f"{self.tbl} {self.key}: " + ("; ".join(parts) or "no coverage recorded") + f" (source: {self.sources})"


def summary(store: MarketStore) -> list[Span]:
    """One ``Span`` per (table, key) recorded in ``coverage`` (empty for stores without it)."""
    if not store.has_table("coverage"):
        return []
    cov = store.query("SELECT * FROM coverage ORDER BY tbl, key, first")
    out = []
    for (tbl, key), part in cov.group_by(["tbl", "key"], maintain_order=True):
        pit = part.filter(pl.col("mode") == "pit")
        pit_days = {as_date(d) for d in pit["first"].to_list()}
        pit_first = min(pit_days) if pit_days else None
        back = part.filter(pl.col("mode") == "backfill")
        b_first, b_last = opt_date(back["first"].min()), opt_date(back["last"].max())
        if b_last is not None and pit_first is not None:
            b_last = min(b_last, _day_before(store, pit_first))
        unk = part.filter(pl.col("mode") == "unknown")
        u_first, u_last = opt_date(unk["first"].min()), opt_date(unk["last"].max())
        if u_first is not None and u_last is not None and pit_first is not None and u_first < pit_first:
            u_last = min(u_last, _day_before(store, pit_first))  # later nights were captured
        out.append(Span(tbl, key, b_first, b_last, pit_first, len(pit_days),
                        u_first, u_last,
                        ", ".join(sorted(set(part["source"].to_list())))))
    return out


def _day_before(store: MarketStore, day: dt.date) -> dt.date:
    """The last trading day before ``day`` (the day before it when the calendar has none)."""
    got = store.one("SELECT max(date) FROM calendar WHERE date < ?", [day])
    return got[0] if got and got[0] is not None else day - dt.timedelta(days=1)


def valuation_coverage(store: MarketStore, start: dt.date | None = None, end: dt.date | None = None,
                       by_year: bool = False) -> pl.DataFrame:
    """Share of traded stock-days (``bars`` rows not suspended) with a PE TTM and a PB MRQ, per
    exchange (and year): ``[exchange, (year), days, pe, pb]`` (fractions)."""
    where = "NOT b.is_suspended AND (? IS NULL OR b.date >= ?) AND (? IS NULL OR b.date <= ?)"
    year = ", year(b.date) AS year" if by_year else ""
    group = "1, 2" if by_year else "1"
    if not store.has_table("fundamentals") or not store.one("SELECT count(*) FROM fundamentals")[0]:
        return pl.DataFrame()
    return store.query(
        f"""SELECT split_part(b.symbol, '.', 2) AS exchange{year}, count(*) AS days,
                   avg(CASE WHEN f.pe_ttm IS NOT NULL THEN 1.0 ELSE 0.0 END) AS pe,
                   avg(CASE WHEN f.pb_mrq IS NOT NULL THEN 1.0 ELSE 0.0 END) AS pb
            FROM bars b LEFT JOIN fundamentals f ON f.symbol = b.symbol AND f.date = b.date
            WHERE {where} GROUP BY {group} ORDER BY {group}""", [start, start, end, end])
