"""Tables of the market store and the column contract of the frames that feed them.

Every source (sim, files, ashare, akshare) produces frames with exactly these columns (polars dtypes);
``MarketStore.write`` validates and upserts them. Units: prices in CNY (raw, unadjusted),
volume in shares, amount in CNY, caps in CNY, weights as fractions summing to ~1 per snapshot.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from polars._typing import PolarsDataType

#: column -> polars dtype of one table
Schema = dict[str, "PolarsDataType"]

CALENDAR: Schema = {"date": pl.Date}

INSTRUMENTS: Schema = {
    "symbol": pl.Utf8,        # 600000.SH
    "name": pl.Utf8,
    "exchange": pl.Utf8,      # SH / SZ / BJ
    "board": pl.Utf8,         # main / chinext / star / bse
    "industry": pl.Utf8,      # nullable
    "list_date": pl.Date,
    "delist_date": pl.Date,   # null while listed
}

BARS: Schema = {
    "symbol": pl.Utf8,
    "date": pl.Date,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,     # shares
    "amount": pl.Float64,     # CNY
    "adj_factor": pl.Float64, # back-adjustment (hfq) factor: adjusted price = raw * adj_factor
    "is_st": pl.Boolean,
    "is_suspended": pl.Boolean,  # suspended days are stored as flat bars at the last close, volume 0
    "total_cap": pl.Float64,  # CNY, nullable
    "float_cap": pl.Float64,  # CNY, nullable
}

INDEX_BARS: Schema = {
    "index_code": pl.Utf8,    # 000905.SH
    "date": pl.Date,
    "open": pl.Float64,
    "high": pl.Float64,
    "low": pl.Float64,
    "close": pl.Float64,
    "volume": pl.Float64,     # shares, nullable
    "amount": pl.Float64,     # CNY, nullable
}

INDEX_MEMBERS: Schema = {
    "index_code": pl.Utf8,
    "date": pl.Date,          # snapshot effective date: membership holds from here to the next snapshot
    "symbol": pl.Utf8,
    "weight": pl.Float64,     # fraction, nullable when the source has no weights
}

INDUSTRIES: Schema = {
    "symbol": pl.Utf8,
    "standard": pl.Utf8,      # classification: "sw" (Shenwan), "citic", "csrc", "sim", ...
    "level": pl.Int32,        # 1 = broadest
    "code": pl.Utf8,          # the standard's industry code at that level
    "name": pl.Utf8,
    "start_date": pl.Date,    # in force from this day (inclusive)
    "end_date": pl.Date,      # until this day (EXCLUSIVE); null while in force
}

FUNDAMENTALS: Schema = {
    "symbol": pl.Utf8,
    "date": pl.Date,
    "pe_ttm": pl.Float64,       # price / trailing-12-month EPS (negative with losses), nullable
    "pb_mrq": pl.Float64,       # price / book value per share of the latest report, nullable
    "ps_ttm": pl.Float64,       # price / trailing-12-month sales per share, nullable
    "turnover_rate": pl.Float64,  # traded shares / float shares, a FRACTION (0.012 = 1.2 %), nullable
    "total_shares": pl.Float64,   # shares, nullable
    "float_shares": pl.Float64,   # shares, nullable
}

COVERAGE: Schema = {
    "tbl": pl.Utf8,           # store table the rows describe ("index_members", "industries", "st", ...)
    "key": pl.Utf8,           # index code, classification standard, exchange, or "*"
    "mode": pl.Utf8,          # "pit": captured on the day it describes (a nightly snapshot, daily vendor
                              # values); "backfill": history supplied later (vendor rewrites possible);
                              # "unknown": the span has no such data (e.g. ST flags stored False)
    "first": pl.Date,         # span covered, inclusive
    "last": pl.Date,
    "source": pl.Utf8,        # the source kind that wrote it
    "note": pl.Utf8,          # what the span is (one short phrase), nullable
}

EXCHANGE_CALENDAR: Schema = {
    "date": pl.Date,          # a trading day the exchange announced (past or future)
    "source": pl.Utf8,        # the source kind that reported it (akshare, baostock, ashare)
}

TABLES: dict[str, Schema] = {
    "calendar": CALENDAR,
    "instruments": INSTRUMENTS,
    "bars": BARS,
    "index_bars": INDEX_BARS,
    "index_members": INDEX_MEMBERS,
    "industries": INDUSTRIES,
    "fundamentals": FUNDAMENTALS,
    "coverage": COVERAGE,
    "exchange_calendar": EXCHANGE_CALENDAR,
}

KEYS: dict[str, tuple[str, ...]] = {
    "calendar": ("date",),
    "instruments": ("symbol",),
    "bars": ("symbol", "date"),
    "index_bars": ("index_code", "date"),
    "index_members": ("index_code", "date", "symbol"),
    "industries": ("symbol", "standard", "level", "start_date"),
    "fundamentals": ("symbol", "date"),
    "coverage": ("tbl", "key", "mode", "source", "first"),
    "exchange_calendar": ("source", "date"),
}

# What one incoming batch replaces as a whole (a source's answer for that group is complete):
# an index snapshot, and a stock's whole classification history under one standard (vendors
# rewrite past intervals, e.g. Shenwan moved its 2014 switch date in 2024).
REPLACE_BY: dict[str, tuple[str, ...]] = {
    "index_members": ("index_code", "date"),
    "industries": ("symbol", "standard"),
    # a source's description of one table's span replaces what the same source said before
    "coverage": ("tbl", "key", "mode", "source", "first"),
    # a source's announced calendar replaces what it announced before
    "exchange_calendar": ("source",),
}

_DUCK: dict[PolarsDataType, str] = {pl.Utf8: "VARCHAR", pl.Date: "DATE", pl.Float64: "DOUBLE", pl.Boolean: "BOOLEAN", pl.Int32: "INTEGER"}


def ddl(table: str) -> str:
    """CREATE TABLE statement for one store table."""
    cols = ", ".join(f"{c} {_DUCK[t]}" for c, t in TABLES[table].items())
    return f"CREATE TABLE IF NOT EXISTS {table} ({cols})"


INGEST_LOG_DDL = """
CREATE TABLE IF NOT EXISTS ingest_log (
    id BIGINT, source VARCHAR, started_at TIMESTAMP, finished_at TIMESTAMP,
    start_date DATE, end_date DATE, status VARCHAR,
    rows_written BIGINT, rows_rejected BIGINT, message VARCHAR
)"""

REJECTS_DDL = """
CREATE TABLE IF NOT EXISTS rejects (
    ingest_id BIGINT, tbl VARCHAR, symbol VARCHAR, date DATE, rule VARCHAR, detail VARCHAR
)"""


def conform(table: str, df: pl.DataFrame) -> pl.DataFrame:
    """Select and cast ``df`` to the table's columns; missing nullable columns become null.

    Raises ValueError naming the missing required columns.
    """
    spec = TABLES[table]
    required = set(KEYS[table]) | ({"open", "high", "low", "close", "code"} & set(spec))
    missing = sorted(required - set(df.columns))
    if missing:
        raise ValueError(f"{table}: missing required column(s) {', '.join(missing)}")
    exprs = []
    for col, dtype in spec.items():
        if col in df.columns:
            exprs.append(pl.col(col).cast(dtype, strict=False))
        else:
            exprs.append(pl.lit(None, dtype=dtype).alias(col))
    return df.select(exprs)
