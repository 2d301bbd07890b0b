"""Prepared arrays cached by the store's content: built once per store state, memory-mapped after.

Two kinds of entries, each keyed by ``flyer.core.config.content_key`` of everything that shapes it:
  * ``market``: a ``flyer.backtest.market.Market`` (``cached_market``; key ``market_key``: the
    request's symbols, start, end, deal price, vwap fill and rules);
  * ``universe``: a ``flyer.backtest.universe.Universe``, what any scores on one loaded universe
    share (bar status, the benchmark, members without bars; key built there).
``cached(kind, store, key, build, encode, decode)`` returns an entry from, in order:
  1. the process memo (the last ``MEMO_SIZE`` entries of each kind: a notebook's or a sweep's
     repeated runs);
  2. the disk cache ``<store folder>/cache/<kind>/<key>/``: one ``.npy`` file per array, read
     with ``allow_pickle=False`` and memory-mapped copy-on-write (``mmap_mode="c"``: a large
     array costs nothing until a kernel touches its pages, and nothing writes back to the file),
     checked against the key (``key.npy``) and by ``decode`` (shapes): a foreign, tampered or
     partial entry is ignored and rebuilt, never executed;
  3. ``build()``, then kept in both (written by a background thread into a temporary folder
     renamed into place, while the backtest goes on; the process waits for it at exit).
Every key hashes the store's state (its path, the last ingest's id and finish time and the
number of ingests: every write logs one, so any change of data changes the key, and so does a
store deleted and ingested again) and ``code_stamp()``: the source of every module that shapes a
cached array (``CODE``: the market builder and its kernels, the loader, the universe, the
benchmark estimate, the diagnostics, the exchange rules and symbols, and the store's reader,
whose derived vwap feeds them): an edited rule never reads arrays built by the old one. At
most ``KEEP[kind]`` entries of a kind are kept (oldest removed). A cache that cannot be written
(read-only folder, full disk) is skipped: the entry is built as before, and ``LAST[kind]`` says
which way it came (``LAST["source"]``: the last market's). No pickle anywhere.
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import shutil
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Protocol, TypeVar

import numpy as np

from flyer.core.config import content_key, digest

if TYPE_CHECKING:
    import datetime as dt

    from flyer.data.store import MarketStore


class Market(Protocol):
    """What this cache keeps of a ``flyer.backtest.market.Market`` (defined there)."""

    @property
    def dates(self) -> tuple[dt.date, ...]: ...

    @property
    def symbols(self) -> tuple[str, ...]: ...

    @property
    def deal_price(self) -> str: ...

    @property
    def arrays(self) -> Any: ...


T = TypeVar("T")
M = TypeVar("M", bound=Market)
Arrays = dict[str, np.ndarray]

MEMO_SIZE = 2
KEEP = {"market": 3, "universe": 6}
DISK_FILES = KEEP["market"]
CACHE_VERSION = 3
#: arrays of at least this many bytes are memory-mapped, smaller ones read whole
MMAP_BYTES = 1 << 20
#: the modules whose source shapes a cached entry (hashed into every key)
CODE = ("flyer.backtest.market", "flyer.backtest.market_nb", "flyer.backtest.loader", "flyer.backtest.universe",
        "flyer.backtest.benchmark", "flyer.backtest.diagnostics", "flyer.data.rules", "flyer.data.symbols",
        "flyer.data.store")
_MEMO: dict[str, OrderedDict[str, Any]] = {}
#: entries being written by a background thread (folder -> thread)
_PENDING: dict[str, threading.Thread] = {}
_DONE = threading.Thread(target=lambda: None)
_DONE.start()
#: how the last ``cached`` call of each kind got its entry: ``memo``, ``disk`` or ``built``
LAST = {"source": ""}


@functools.lru_cache(maxsize=1)
def code_stamp() -> str:
    """Hash of the source files the cached arrays are computed by (``CODE``), found without
    importing them."""
    parts = [str(CACHE_VERSION)]
    for name in CODE:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        parts.append(digest(Path(origin).read_bytes()) if origin else name)
    return digest("\n".join(parts).encode())


def store_state(store: MarketStore) -> tuple[int, int, str]:
    """(last ingest id, number of ingests, time the last one finished): changes with every
    write, and differs for a store deleted and ingested again at the same path."""
    last, n, at = store.one("SELECT coalesce(max(id), 0), count(*), max(finished_at) FROM ingest_log")
    return int(last), int(n), str(at)


def entry_key(store: MarketStore, state: tuple[int, int, str] | None, request: dict[str, Any]) -> str:
    """Content key (24 hex) of an entry: the store's path and ``state`` (read when None), the
    code stamp and the ``request`` (JSON-able)."""
    return content_key({"store": str(store.path.resolve()), "state": state or store_state(store),
                        "code": code_stamp(), **request}, 24)


def market_key(store: MarketStore, symbols: list[str], start: dt.date | None, end: dt.date | None,
               deal_price: str, variant: str = "", state: tuple[int, int, str] | None = None) -> str:
    """Content key of a prepared market request (see module docstring); ``variant``: the other
    settings the arrays depend on (vwap fill, rules)."""
    return entry_key(store, state, {"symbols": digest("\n".join(symbols).encode()), "start": str(start),
                                    "end": str(end), "deal": deal_price, "variant": variant})


def cache_dir(store: MarketStore) -> Path:
    """The folder of the market entries; other kinds sit beside it (``<cache>/<kind>``)."""
    return store.path.parent / "cache" / "market"


def kind_dir(store: MarketStore, kind: str) -> Path:
    return cache_dir(store).parent / kind


def cached(kind: str, store: MarketStore, key: str, build: Callable[[], T], encode: Callable[[T], Arrays],
           decode: Callable[[Arrays], T]) -> T:
    """The entry ``key`` of ``kind`` from the memo, the disk (``decode`` turns the arrays back
    into the entry; arrays it refuses with ``ValueError`` / ``TypeError`` / ``KeyError`` are
    rebuilt) or ``build()`` (module doc)."""
    memo = _MEMO.setdefault(kind, OrderedDict())
    if key in memo:
        memo.move_to_end(key)
        _note(kind, "memo")
        hit: T = memo[key]
        return hit
    folder = kind_dir(store, kind) / key
    _PENDING.pop(str(folder), _DONE).join()      # this process is still writing it
    entry = _read(folder, key, decode)
    _note(kind, "disk")
    if entry is not None:
        with contextlib.suppress(OSError):
            os.utime(folder)  # recently used: the last to be trimmed
    if entry is None:
        entry = build()
        _note(kind, "built")
        write = threading.Thread(target=_write, args=(folder, key, encode(entry), KEEP.get(kind, 2)),
                                 name=f"flyer-cache-{kind}")
        write.start()   # not a daemon: the process waits for it at exit; the backtest goes on meanwhile
        _PENDING[str(folder)] = write
    memo[key] = entry
    while len(memo) > MEMO_SIZE:
        memo.popitem(last=False)
    return entry


def _note(kind: str, how: str) -> None:
    LAST[kind] = how
    if kind == "market":
        LAST["source"] = how


def cached_market(store: MarketStore, symbols: list[str], start: dt.date | None, end: dt.date | None,
                  deal_price: str, build: Callable[[], M],
                  assemble: Callable[[tuple[dt.date, ...], tuple[str, ...], str, Arrays], M],
                  variant: str = "", state: tuple[int, int, str] | None = None) -> M:
    """The market of the request (``cached`` of kind ``market``; ``assemble`` turns arrays back
    into a market and refuses ones that do not fit)."""
    key = market_key(store, symbols, start, end, deal_price, variant, state)

    def encode(m: M) -> Arrays:
        return {"dates": np.array(m.dates, dtype="datetime64[D]"), "symbols": np.array(m.symbols, dtype=str),
                "deal_price": np.array(m.deal_price), **m.arrays._asdict()}

    def decode(a: Arrays) -> M:
        if str(a.pop("deal_price")) != deal_price:
            raise ValueError("another deal price")
        dates = tuple(a.pop("dates").astype("datetime64[D]").astype(object))
        names = tuple(str(s) for s in a.pop("symbols"))
        return assemble(dates, names, deal_price, a)

    return cached("market", store, key, build, encode, decode)


def clear_memo() -> None:
    """Forget the process memo of every kind (the disk cache stays, its writes finished)."""
    flush()
    _MEMO.clear()


def flush() -> None:
    """Wait for this process's cache writes."""
    while _PENDING:
        _PENDING.popitem()[1].join()


def _read(folder: Path, key: str, decode: Callable[[Arrays], T]) -> T | None:
    """The entry in ``folder`` when it holds this module's arrays of ``key`` and ``decode``
    accepts them; None otherwise (missing, foreign, tampered, partial)."""
    if not (folder / "key.npy").exists():
        return None
    try:
        if str(np.load(folder / "key.npy", allow_pickle=False)) != key:
            return None
        arrays = {}
        for path in folder.glob("*.npy"):
            if path.name != "key.npy":
                big = path.stat().st_size >= MMAP_BYTES
                a = np.load(path, mmap_mode="c" if big else None, allow_pickle=False)
                arrays[path.stem] = np.asarray(a) if big else a
        return decode(arrays)
    except (OSError, KeyError, ValueError, TypeError, EOFError):
        return None


def _write(folder: Path, key: str, arrays: Arrays, keep: int) -> None:
    """Write ``arrays`` as ``folder`` (a temporary folder renamed into place, ``key.npy`` last),
    then keep the ``keep`` newest entries beside it; a write that fails is skipped."""
    tmp = folder.with_name(f".{folder.name}.tmp{os.getpid()}")
    try:
        tmp.mkdir(parents=True, exist_ok=True)
        for name, a in arrays.items():
            c_order = a if a.ndim == 0 or a.flags.c_contiguous else np.ascontiguousarray(a)
            np.save(tmp / f"{name}.npy", c_order, allow_pickle=False)
        np.save(tmp / "key.npy", np.array(key), allow_pickle=False)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        os.replace(tmp, folder)
        entries = [p for p in folder.parent.iterdir() if p.is_dir() and not p.name.startswith(".")]
        for old in sorted(entries, key=lambda p: p.stat().st_mtime)[:-keep] if keep > 0 else entries:
            shutil.rmtree(old, ignore_errors=True)
        for legacy in folder.parent.glob("*.npz"):  # single-file entries of cache version 2
            legacy.unlink(missing_ok=True)
    except OSError:
        with contextlib.suppress(OSError):
            shutil.rmtree(tmp, ignore_errors=True)
