"""The prepared-market cache: identical requests on the same store content reuse the arrays,
any write to the store (or a different request) builds them again."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from flyer.backtest import market_cache
from flyer.backtest.market import build_market, load_market
from flyer.data.sources import ingest, make_source
from flyer.data.store import MarketStore


@pytest.fixture()
def store(tmp_path):
    with MarketStore.open(tmp_path) as st:
        ingest(st, make_source("sim", stocks=20, start=dt.date(2023, 1, 1), end=dt.date(2023, 6, 30)))
        yield st


def _same(a, b) -> None:
    assert a.dates == b.dates and a.symbols == b.symbols and a.deal_price == b.deal_price
    for f in a.arrays._fields:
        np.testing.assert_array_equal(getattr(a.arrays, f), getattr(b.arrays, f), err_msg=f)


def test_memo_then_disk_then_rebuild_after_a_write(store):
    syms = store.instruments()["symbol"].to_list()[:12]
    start, end = dt.date(2023, 3, 1), dt.date(2023, 6, 30)
    fresh = build_market(store, sorted(syms), start, end, "open")
    market_cache.clear_memo()
    first = load_market(store, syms, start, end, "open")
    assert market_cache.LAST["source"] == "built"
    _same(first, fresh)
    assert load_market(store, list(reversed(syms)), start, end, "open") is first  # same request
    assert market_cache.LAST["source"] == "memo"
    market_cache.clear_memo()
    _same(load_market(store, syms, start, end, "open"), fresh)
    assert market_cache.LAST["source"] == "disk"
    load_market(store, syms, start, end, "close")  # another deal price: another market
    assert market_cache.LAST["source"] == "built"
    ingest(store, make_source("sim", stocks=20, start=dt.date(2023, 1, 1), end=dt.date(2023, 7, 31)))
    load_market(store, syms, start, end, "open")  # the store changed: built again
    assert market_cache.LAST["source"] == "built"
    assert len(list(market_cache.cache_dir(store).glob("*.npz"))) <= market_cache.DISK_FILES


def test_uncached_and_unwritable_cache(store, monkeypatch):
    syms = store.instruments()["symbol"].to_list()[:5]
    market_cache.clear_memo()
    monkeypatch.setattr(market_cache, "cache_dir", lambda st: st.path.parent / "market.duckdb" / "nope")
    m = load_market(store, syms, None, None, "open")  # the cache cannot be written: built, still right
    _same(m, build_market(store, sorted(syms), None, None, "open"))
    assert load_market(store, syms, None, None, "open", cache=False) is not m


def test_foreign_or_tampered_cache_files_are_rebuilt_never_loaded_as_code(store, tmp_path):
    """A cache file is NumPy arrays read with allow_pickle=False and checked against its request:
    a pickle, an object array, another request's file or a truncated file is ignored and rebuilt."""
    import pickle

    syms = store.instruments()["symbol"].to_list()[:6]
    start, end = dt.date(2023, 3, 1), dt.date(2023, 6, 30)
    fresh = build_market(store, sorted(syms), start, end, "open")
    market_cache.clear_memo()
    load_market(store, syms, start, end, "open")
    (path,) = list(market_cache.cache_dir(store).glob("*.npz"))
    marker = tmp_path / "ran"

    class Bomb:
        def __reduce__(self):  # noqa: ANN204 - would create the marker file when unpickled
            return (open, (str(marker), "w"))

    other = market_cache.cache_dir(store) / "other.npz"
    load_market(store, syms[:3], start, end, "open")  # another request's file ...
    other_file = next(p for p in market_cache.cache_dir(store).glob("*.npz") if p != path)
    for payload in (pickle.dumps(Bomb()), other_file.read_bytes(), path.read_bytes()[:200]):
        path.write_bytes(payload)  # ... copied over this request's name, a pickle, a cut file
        market_cache.clear_memo()
        _same(load_market(store, syms, start, end, "open"), fresh)
        assert market_cache.LAST["source"] == "built" and not marker.exists()
    np.savez(path, key=np.array(["x"], dtype=object), deal=np.zeros(1))  # an object array: refused unread
    market_cache.clear_memo()
    _same(load_market(store, syms, start, end, "open"), fresh)
    assert market_cache.LAST["source"] == "built"
    assert not other.exists()
