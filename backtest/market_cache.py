"""Prepared markets cached by the store's content: dense arrays are built once per store state.

``cached_market(store, symbols, start, end, deal_price, build)`` returns the :class:`Market`
for a request from, in order:
  1. the process memo (the last ``MEMO_SIZE`` markets: a notebook's or a sweep's repeated runs);
  2. the disk cache ``<store folder>/cache/market/<key>.npz`` (a new CLI process): NumPy arrays
     read with ``allow_pickle=False`` and checked against the request (a foreign, tampered or
     partial file is ignored and rebuilt, never executed);
  3. ``build()`` (``flyer.backtest.market.build``: loaded bars -> arrays), then kept in both.
The key (``market_key``) is ``flyer.core.config.content_key`` of the store's state (its path,
the last ingest's id and finish time and the number of ingests: every write logs one, so any
change of data changes the key, and so does a store deleted and ingested again), the request
(symbols, start, end, deal price, vwap fill, rules) and the source of every module that shapes
the arrays (``CODE``: the market builder and its kernels, the loader, the exchange rules and
symbols, and the store's reader, whose derived vwap feeds them): an edited rule never reads
arrays built by the old one. At most ``DISK_FILES`` files are kept (oldest removed). A cache
that cannot be written (read-only folder, full disk) is skipped: the market is built as
before, and ``flyer.backtest.market_cache.LAST`` says which way it came. Only the market is
cached: everything else a backtest needs is read once per run (``flyer.backtest.loader``).
"""
from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Callable, Protocol, TypeVar

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


M = TypeVar("M", bound=Market)

MEMO_SIZE = 2
DISK_FILES = 4
CACHE_VERSION = 2
#: the modules whose source shapes a prepared market (hashed into every key)
CODE = ("flyer.backtest.market", "flyer.backtest.market_nb", "flyer.backtest.loader", "flyer.data.rules",
        "flyer.data.symbols", "flyer.data.store")
_MEMO: OrderedDict[str, Any] = OrderedDict()
#: how the last ``cached_market`` call got its market: ``memo``, ``disk`` or ``built``
LAST = {"source": ""}


@functools.lru_cache(maxsize=1)
def code_stamp() -> str:
    """Hash of the source files the dense arrays are computed by (``CODE``), found without
    importing them."""
    parts = [str(CACHE_VERSION)]
    for name in CODE:
        spec = importlib.util.find_spec(name)
        origin = spec.origin if spec is not None else None
        parts.append(digest(Path(origin).read_bytes()) if origin else name)
    return digest("\n".join(parts).encode())


def _write_atomic(path: Path, dump: Callable[[BinaryIO], None], keep: int) -> None:
    """Write ``path`` through ``dump(file)`` atomically (temp file + rename), then keep only the
    ``keep`` newest files of its suffix in its folder; a write that fails is skipped."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as f:
            dump(f)
        os.replace(tmp, path)
        old = sorted(path.parent.glob(f"*{path.suffix}"), key=lambda p: p.stat().st_mtime)[:-keep]
        for p in old:
            p.unlink(missing_ok=True)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink()


def store_state(store: MarketStore) -> tuple[int, int, str]:
    """(last ingest id, number of ingests, time the last one finished): changes with every
    write, and differs for a store deleted and ingested again at the same path."""
    last, n, at = store.one("SELECT coalesce(max(id), 0), count(*), max(finished_at) FROM ingest_log")
    return int(last), int(n), str(at)


def market_key(store: MarketStore, symbols: list[str], start: dt.date | None, end: dt.date | None,
               deal_price: str, variant: str = "") -> str:
    """Content key (24 hex) of a prepared market request (see module docstring); ``variant``:
    the other settings the arrays depend on (vwap fill, rules)."""
    return content_key({"store": str(store.path.resolve()), "state": store_state(store), "code": code_stamp(),
                        "symbols": digest("\n".join(symbols).encode()), "start": str(start), "end": str(end),
                        "deal": deal_price, "variant": variant}, 24)


def cache_dir(store: MarketStore) -> Path:
    return store.path.parent / "cache" / "market"


def cached_market(store: MarketStore, symbols: list[str], start: dt.date | None, end: dt.date | None,
                  deal_price: str, build: Callable[[], M],
                  assemble: Callable[[tuple[dt.date, ...], tuple[str, ...], str, dict[str, np.ndarray]], M],
                  variant: str = "") -> M:
    """The market of the request from the memo, the disk cache (``assemble`` turns a file's
    arrays back into a market; a file it refuses is rebuilt) or ``build()`` (module doc)."""
    key = market_key(store, symbols, start, end, deal_price, variant)
    if key in _MEMO:
        _MEMO.move_to_end(key)
        LAST["source"] = "memo"
        hit: M = _MEMO[key]
        return hit
    path = cache_dir(store) / f"{key}.npz"
    market = _read(path, key, deal_price, assemble)
    LAST["source"] = "disk"
    if market is None:
        market = build()
        LAST["source"] = "built"
        _write(path, market, key)
    _MEMO[key] = market
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.popitem(last=False)
    return market


def clear_memo() -> None:
    """Forget the process memo of markets (the disk cache stays)."""
    _MEMO.clear()


def _read(path: Path, key: str, deal_price: str,
          assemble: Callable[[tuple[dt.date, ...], tuple[str, ...], str, dict[str, np.ndarray]], M]) -> M | None:
    """The market in ``path`` when it is this module's file of request ``key`` and ``assemble``
    accepts its arrays; None otherwise (missing, foreign, tampered, partial)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"]) != key or str(z["deal_price"]) != deal_price:
                return None
            dates = tuple(z["dates"].astype("datetime64[D]").astype(object))
            symbols = tuple(str(s) for s in z["symbols"])
            arrays = {f: np.ascontiguousarray(z[f]) for f in z.files if f not in ("key", "dates", "symbols", "deal_price")}
        return assemble(dates, symbols, deal_price, arrays)
    except (OSError, KeyError, ValueError, TypeError, EOFError, zipfile.BadZipFile):
        return None


def _write(path: Path, market: Market, key: str) -> None:
    _write_atomic(path, lambda f: np.savez(f, key=np.array(key), dates=np.array(market.dates, dtype="datetime64[D]"),
                                           symbols=np.array(market.symbols, dtype=str),
                                           deal_price=np.array(market.deal_price), **market.arrays._asdict()),
                  DISK_FILES)
