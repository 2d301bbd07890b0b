"""Is the store file whole? Damage named in one line before anything reads it.

``damage(con, path)`` checks, cheaply (catalog queries, no table scan):
  1. the file holds every block in use (``PRAGMA database_size``: a file cut short by a full
     disk or an interrupted copy reads fine until a query reaches a lost block);
  2. every core table exists (``CORE_TABLES``: a store from any flyer version has them; tables
     added later, e.g. ``coverage``, may be absent from an older store);
  3. every existing store table has every column of ``flyer.data.schema``.
``MarketStore`` calls it on every open, so ``flyer check``, ``flyer info`` and every other
reader fail with "store ... is damaged: table calendar missing: ..." (exit 1) instead of a
DuckDB error deep inside a query.
"""
from __future__ import annotations

import os
from pathlib import Path

import duckdb
from flyer.data import schema

#: tables every flyer store has held from the first version on
CORE_TABLES = ("calendar", "instruments", "bars", "index_bars", "index_members", "ingest_log", "rejects")
#: what to do about it
REPAIR = "move the file aside and re-ingest (flyer ingest ...), or restore a copy"


def damage(con: duckdb.DuckDBPyConnection, path: Path) -> str | None:
    """What is wrong with the store ``path`` opened as ``con`` (one phrase), or None when whole."""
    return _truncated(con, path) or _missing(con)


def _truncated(con: duckdb.DuckDBPyConnection, path: Path) -> str | None:
    """The file is shorter than the blocks in use need (headers not counted). Used, not total:
    DuckDB cuts free blocks off the file's end while its header still counts them."""
    row = con.execute("SELECT block_size, used_blocks FROM pragma_database_size() "
                      "WHERE database_name = current_database()").fetchone()
    if row is None or not path.exists() or path.with_name(path.name + ".wal").exists():
        return None  # a pending write-ahead log: blocks it allocated may not be in the file yet
    need, have = int(row[0]) * int(row[1]), os.path.getsize(path)
    if have < need:
        return f"the file is truncated ({have:,} bytes, its {int(row[1]):,} blocks in use need {need:,})"
    return None


def _missing(con: duckdb.DuckDBPyConnection) -> str | None:
    """A core table that is gone, or a store table without one of its columns."""
    rows = con.execute("SELECT table_name, column_name FROM information_schema.columns "
                       "WHERE table_schema = 'main'").fetchall()
    columns: dict[str, set[str]] = {}
    for table, column in rows:
        columns.setdefault(str(table), set()).add(str(column))
    if not columns:
        return None  # a new, empty file
    for table in CORE_TABLES:
        if table not in columns:
            return f"table {table} missing"
    for table, spec in schema.TABLES.items():
        lost = [c for c in spec if table in columns and c not in columns[table]]
        if lost:
            return f"{table} has no column {', '.join(lost)}"
    return None
