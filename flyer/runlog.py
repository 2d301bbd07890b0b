"""The nightly job's tables in the market store: stage log, targets and orders.

``nightly_log`` has one row per (date, stage) with its last status (``done`` / ``failed``), so
a rerun skips finished stages and resumes at the failed one.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import polars as pl

DDL = (
    """CREATE TABLE IF NOT EXISTS nightly_log (date DATE, stage VARCHAR, status VARCHAR,
       started TIMESTAMP, finished TIMESTAMP, config_key VARCHAR, message VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS nightly_targets (date DATE, trade_date DATE, symbol VARCHAR,
       score DOUBLE, weight DOUBLE, shares DOUBLE, ref_price DOUBLE)""",
    "CREATE TABLE IF NOT EXISTS nightly_book (date DATE, trade_date DATE, cash DOUBLE)",
    """CREATE TABLE IF NOT EXISTS nightly_orders (date DATE, trade_date DATE, symbol VARCHAR,
       side VARCHAR, shares DOUBLE, ref_price DOUBLE, reason VARCHAR)""",
)


if TYPE_CHECKING:
    from flyer.data.store import MarketStore


class RunLog:
    """Stage bookkeeping over a ``MarketStore``'s DuckDB connection."""

    def __init__(self, store: MarketStore) -> None:
        self.store = store
        if not getattr(store, "read_only", False):  # a reader finds the tables or reads nothing
            for sql in DDL:
                store.con.execute(sql)

    def status(self, date: dt.date) -> dict[str, str]:
        """stage -> last status for ``date``."""
        if not self.store.has_table("nightly_log"):
            return {}
        rows = self.store.con.execute("SELECT stage, status FROM nightly_log WHERE date = ?", [date]).fetchall()
        return {s: st for s, st in rows}

    def record(self, date: dt.date, stage: str, status: str, started: dt.datetime, key: str, message: str = "") -> None:
        con = self.store.con
        con.execute("DELETE FROM nightly_log WHERE date = ? AND stage = ?", [date, stage])
        con.execute("INSERT INTO nightly_log VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [date, stage, status, started, dt.datetime.now(), key, message[:2000]])

    def log(self, date: dt.date | None = None) -> pl.DataFrame:
        return self.store.query("SELECT * FROM nightly_log WHERE ? IS NULL OR date = ? ORDER BY date, started",
                              [date, date])

    def replace(self, table: str, date: dt.date, frame: pl.DataFrame, book: pl.DataFrame | None = None) -> None:
        """Replace one date's rows of ``table`` (and of ``nightly_book`` when ``book`` is given)
        in one transaction."""
        con = self.store.con
        con.execute("BEGIN TRANSACTION")
        try:
            for name, df in ((table, frame), ("nightly_book", book)):
                if df is None:
                    continue
                con.execute(f"DELETE FROM {name} WHERE date = ?", [date])
                if df.height:
                    con.register("_frame", df.to_arrow())
                    con.execute(f"INSERT INTO {name} SELECT * FROM _frame")
                    con.unregister("_frame")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def read(self, table: str, date: dt.date) -> pl.DataFrame:
        return self.store.query(f"SELECT * FROM {table} WHERE date = ? ORDER BY symbol", [date])

    def last_date_before(self, table: str, date: dt.date) -> dt.date | None:
        if not self.store.has_table(table):
            return None
        row = self.store.one(f"SELECT max(date) FROM {table} WHERE date < ?", [date])
        return row[0] if row else None
