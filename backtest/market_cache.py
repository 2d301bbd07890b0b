"""Prepared markets cached by the store's content: dense arrays are built once per store state.

``cached_market(store, symbols, start, end, deal_price, build)`` returns the :class:`Market`
for a request from, in order:
  1. the process memo (the last ``MEMO_SIZE`` markets: a notebook's or a sweep's repeated runs);
  2. the disk cache ``<store folder>/cache/market/<key>.npz`` (a new CLI process);
  3. ``build()`` (``flyer.backtest.market.build_market``: DuckDB -> arrays), then kept in both.
The key (``market_key``) is a hash of the store's state (its path, the last ingest's id and
finish time and the number of ingests: every write logs one, so any change of data changes the
key, and so does a store deleted and ingested again), the request
(symbols, start, end, deal price, vwap fill, rules) and the source of the code that builds the arrays
(``market.py``, ``market_nb.py``, ``flyer.data.rules``, ``flyer.data.symbols``): an edited rule
never reads arrays built by the old one. At most ``DISK_FILES`` files are kept (oldest
removed). A cache that cannot be written (read-only folder, full disk) is skipped: the
market is built as before, and ``flyer.backtest.market_cache.LAST`` says which way it came.

``cached_value(store, name, request, build)`` does the same for the other store-derived
inputs of a backtest (the estimated total-return benchmark, members and holdings without bars,
coverage notes, the tradable-score lookup): a process memo, then
``<store folder>/cache/derived/<name>-<key>.pkl`` (files this module wrote, atomically; at most
``DERIVED_FILES``), keyed by the store's state, the request and the source of
``backtest.diagnostics`` / ``backtest.benchmark`` besides the market's modules.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, TypeVar

import numpy as np

if TYPE_CHECKING:
    import datetime as dt

    from flyer.backtest.market import Market
    from flyer.data.store import MarketStore

MEMO_SIZE = 2
DISK_FILES = 4
VALUES_SIZE = 16
DERIVED_FILES = 24
CACHE_VERSION = 1
_MEMO: OrderedDict[str, Market] = OrderedDict()
_VALUES: OrderedDict[str, Any] = OrderedDict()
#: how the last ``cached_market`` call got its market: ``memo``, ``disk`` or ``built``
LAST = {"source": ""}


@functools.lru_cache(maxsize=1)
def code_stamp() -> str:
    """Hash of the source files the dense arrays (and the derived values) are computed by."""
    from flyer.backtest import benchmark, diagnostics, market, market_nb
    from flyer.data import rules, symbols

    h = hashlib.sha256(str(CACHE_VERSION).encode())
    for mod in (market, market_nb, rules, symbols, diagnostics, benchmark):
        h.update(Path(mod.__file__).read_bytes())
    return h.hexdigest()[:16]


T = TypeVar("T")


def cached_value(store: MarketStore, name: str, request: dict[str, Any], build: Callable[[], T]) -> T:
    """A store-derived value from the memo, the disk cache or ``build()`` (module doc).
    ``request``: everything besides the store the value depends on (JSON-able; lists hashed)."""
    req = {k: hashlib.sha256("\n".join(map(str, v)).encode()).hexdigest() if isinstance(v, (list, tuple)) else str(v)
           for k, v in sorted(request.items())}
    blob = json.dumps({"store": str(store.path.resolve()), "state": store_state(store), "code": code_stamp(),
                       "name": name, "request": req}, sort_keys=True)
    key = f"{name}-{hashlib.sha256(blob.encode()).hexdigest()[:24]}"
    if key in _VALUES:
        _VALUES.move_to_end(key)
        return _VALUES[key]
    path = cache_dir(store).parent / "derived" / f"{key}.pkl"
    value = _read_value(path)
    if value is None:
        value = build()
        _write_value(path, value)
    _VALUES[key] = value
    while len(_VALUES) > VALUES_SIZE:
        _VALUES.popitem(last=False)
    return value


def _read_value(path: Path) -> Any:
    import pickle

    if not path.exists():
        return None
    try:
        with open(path, "rb") as f:
            return pickle.load(f)  # noqa: S301 - our own cache file, written atomically below
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, ImportError):
        return None


def _write_value(path: Path, value: Any) -> None:
    import pickle

    _write_atomic(path, lambda f: pickle.dump(value, f, protocol=pickle.HIGHEST_PROTOCOL), DERIVED_FILES)


def _write_atomic(path: Path, dump: Callable[[Any], None], keep: int) -> None:
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
    blob = json.dumps({"store": str(store.path.resolve()), "state": store_state(store), "code": code_stamp(),
                       "symbols": hashlib.sha256("\n".join(symbols).encode()).hexdigest(),
                       "start": str(start), "end": str(end), "deal": deal_price, "variant": variant},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def cache_dir(store: MarketStore) -> Path:
    return store.path.parent / "cache" / "market"


def cached_market(store: MarketStore, symbols: list[str], start: dt.date | None, end: dt.date | None,
                  deal_price: str, build: Callable[[], Market], variant: str = "") -> Market:
    """The market of the request from the memo, the disk cache or ``build()`` (module doc)."""
    key = market_key(store, symbols, start, end, deal_price, variant)
    if key in _MEMO:
        _MEMO.move_to_end(key)
        LAST["source"] = "memo"
        return _MEMO[key]
    path = cache_dir(store) / f"{key}.npz"
    market = _read(path)
    LAST["source"] = "disk"
    if market is None:
        market = build()
        LAST["source"] = "built"
        _write(path, market)
    _MEMO[key] = market
    while len(_MEMO) > MEMO_SIZE:
        _MEMO.popitem(last=False)
    return market


def clear_memo() -> None:
    """Forget the process memos of markets and derived values (the disk cache stays)."""
    _MEMO.clear()
    _VALUES.clear()


def _read(path: Path) -> Market | None:
    from flyer.backtest.market import Market, MarketArrays

    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = MarketArrays(**{f: np.ascontiguousarray(z[f]) for f in MarketArrays._fields})
            dates = tuple(z["dates"].astype("datetime64[D]").astype(object))
            symbols = tuple(str(s) for s in z["symbols"])
            deal_price = str(z["deal_price"])
    except (OSError, KeyError, ValueError):
        return None  # unreadable (a partial file from a crash cannot exist: writes are atomic)
    return Market(dates=dates, symbols=symbols, deal_price=deal_price, arrays=arrays)


def _write(path: Path, market: Market) -> None:
    _write_atomic(path, lambda f: np.savez(f, dates=np.array(market.dates, dtype="datetime64[D]"),
                                           symbols=np.array(market.symbols, dtype=str),
                                           deal_price=np.array(market.deal_price), **market.arrays._asdict()),
                  DISK_FILES)
