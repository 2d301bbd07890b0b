"""What data a result read, by content: the key that tells two stores (or one store before and
after a change) apart, so runs, backtests and experiments are reused only on the same data.

``data_key(store, end)`` hashes every table a run or a backtest can read, restricted to what was
known up to ``end``: bars, index bars, index membership, valuations and the calendar with
``date <= end``; instruments listed by ``end`` (a delisting after ``end`` is masked); industry
intervals started by ``end`` (an interval closed after ``end`` counts as open). Days appended
after ``end`` (a nightly) leave the key unchanged; a different market, a revised bar or a
re-ingest with other values changes it.

Each table is hashed inside DuckDB as the row count and the XOR of its row hashes (order-free,
one pass, no data leaves the database); the result is ``flyer.core.config.content_key`` of those
figures. DuckDB's ``hash`` is stable for one DuckDB version: a DuckDB upgrade may rename keys
(runs retrain once, nothing is overwritten). Keys are memoised per store state (the ingest log)
and ``end``: in the process, and in ``<store folder>/cache/identity.json`` (plain JSON, at most
``DISK_ENTRIES``; about a second saved per new process on the real data's 6 M bars).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from flyer.core.config import content_key

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

#: table -> (columns hashed, the date condition as SQL over a bound ``end``)
_TABLES: dict[str, tuple[str, str]] = {
    "bars": ("symbol, date, open, high, low, close, volume, amount, adj_factor, is_st, is_suspended, total_cap, "
             "float_cap", "date <= $end"),
    "index_bars": ("index_code, date, open, high, low, close, volume, amount", "date <= $end"),
    "index_members": ("index_code, date, symbol, weight", "date <= $end"),
    "fundamentals": ("symbol, date, pe_ttm, pb_mrq, ps_ttm, turnover_rate, total_shares, float_shares",
                     "date <= $end"),
    "calendar": ("date", "date <= $end"),
    "instruments": ("symbol, exchange, board, list_date, CASE WHEN delist_date <= $end THEN delist_date END",
                    "list_date IS NULL OR list_date <= $end"),
    "industries": ("symbol, standard, level, code, start_date, CASE WHEN end_date <= $end THEN end_date END",
                   "start_date <= $end"),
}
_MEMO: OrderedDict[tuple[str, str, str], str] = OrderedDict()
MEMO_SIZE = 64
DISK_ENTRIES = 256


def table_digests(store: MarketStore, end: dt.date | None) -> dict[str, tuple[int, int]]:
    """``{table: (rows, xor of row hashes)}`` up to ``end`` (None: everything)."""
    out: dict[str, tuple[int, int]] = {}
    last = end or dt.date(9999, 12, 31)
    for table, (cols, cond) in _TABLES.items():
        if not store.has_table(table):
            continue
        sql = f"SELECT count(*), coalesce(bit_xor(hash({cols})), 0) FROM {table} WHERE {cond}"
        n, h = store.one(sql.replace("$end", "?"), [last] * sql.count("$end"))
        out[table] = (int(n), int(h))
    return out


def data_key(store: MarketStore, end: dt.date | None = None) -> str:
    """Content key (16 hex digits) of the data the store held up to ``end`` (module docstring)."""
    state = store.one("SELECT coalesce(max(id), 0), count(*), max(finished_at) FROM ingest_log")
    memo = (str(store.path.resolve()), repr(state), str(end))
    if memo in _MEMO:
        _MEMO.move_to_end(memo)
        return _MEMO[memo]
    disk = _disk(store)
    entry = content_key(list(memo), 24)
    key = disk.get(entry)
    if not (isinstance(key, str) and len(key) == 16):
        key = content_key({"tables": table_digests(store, end), "end": end}, 16)
        disk[entry] = key
        _save(store, disk)
    _MEMO[memo] = key
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.popitem(last=False)
    return key


def _path(store: MarketStore) -> Path:
    return store.path.parent / "cache" / "identity.json"


def _disk(store: MarketStore) -> dict[str, object]:
    try:
        data = json.loads(_path(store).read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _save(store: MarketStore, entries: dict[str, object]) -> None:
    """Write the newest ``DISK_ENTRIES`` entries atomically; a folder that cannot be written
    (a read-only home) is skipped."""
    path = _path(store)
    keep = dict(list(entries.items())[-DISK_ENTRIES:])
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(keep))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()
