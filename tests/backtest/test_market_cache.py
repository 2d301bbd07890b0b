"""The prepared-market cache: identical requests on the same store content reuse the arrays
(memory-mapped from the disk), any write to the store (or a different request) builds them
again; a tampered entry is rebuilt, never loaded as code."""
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
    market_cache.flush()
    entries = [p for p in market_cache.cache_dir(store).iterdir() if p.is_dir()]
    assert 0 < len(entries) <= market_cache.KEEP["market"]


def test_a_disk_entry_is_memory_mapped_and_read_only_to_the_file(store):
    syms = store.instruments()["symbol"].to_list()[:12]
    market_cache.clear_memo()
    load_market(store, syms, None, None, "open")
    market_cache.clear_memo()
    m = load_market(store, syms, None, None, "open")
    assert market_cache.LAST["market"] == "disk"
    assert m.arrays.deal.flags.writeable and m.arrays.deal.flags.c_contiguous
    (folder,) = [p for p in market_cache.cache_dir(store).iterdir() if p.is_dir()]
    before = (folder / "deal.npy").read_bytes()
    m.arrays.deal[:] = -1.0                       # copy-on-write: the file keeps its values
    assert (folder / "deal.npy").read_bytes() == before


def test_uncached_and_unwritable_cache(store, monkeypatch):
    syms = store.instruments()["symbol"].to_list()[:5]
    market_cache.clear_memo()
    monkeypatch.setattr(market_cache, "cache_dir", lambda st: st.path.parent / "market.duckdb" / "nope")
    m = load_market(store, syms, None, None, "open")  # the cache cannot be written: built, still right
    _same(m, build_market(store, sorted(syms), None, None, "open"))
    assert load_market(store, syms, None, None, "open", cache=False) is not m


def test_foreign_or_tampered_cache_files_are_rebuilt_never_loaded_as_code(store, tmp_path):
    """An entry is NumPy arrays read with allow_pickle=False and checked against its request:
    a pickle, an object array, another request's key, a truncated file or an array of the wrong
    shape is ignored and the market rebuilt."""
    import pickle

    syms = store.instruments()["symbol"].to_list()[:6]
    start, end = dt.date(2023, 3, 1), dt.date(2023, 6, 30)
    fresh = build_market(store, sorted(syms), start, end, "open")
    market_cache.clear_memo()
    load_market(store, syms, start, end, "open")
    market_cache.flush()
    (folder,) = [p for p in market_cache.cache_dir(store).iterdir() if p.is_dir()]
    load_market(store, syms[:3], start, end, "open")  # another request's entry
    market_cache.flush()
    other = next(p for p in market_cache.cache_dir(store).iterdir() if p.is_dir() and p != folder)
    marker = tmp_path / "ran"

    class Bomb:
        def __reduce__(self):  # noqa: ANN204 - would create the marker file when unpickled
            return (open, (str(marker), "w"))

    good = {f.name: f.read_bytes() for f in folder.iterdir()}
    objects = tmp_path / "objects.npy"
    np.save(objects, np.array([Bomb()], dtype=object), allow_pickle=True)
    tampered = [("deal.npy", pickle.dumps(Bomb())), ("key.npy", (other / "key.npy").read_bytes()),
                ("deal.npy", good["deal.npy"][:200]), ("deal.npy", objects.read_bytes()),
                ("sigma.npy", (other / "exch.npy").read_bytes())]
    for name, payload in tampered:
        for f, data in good.items():
            (folder / f).write_bytes(data)
        (folder / name).write_bytes(payload)
        market_cache.clear_memo()
        _same(load_market(store, syms, start, end, "open"), fresh)
        assert market_cache.LAST["source"] == "built", name
        market_cache.flush()
        assert not marker.exists()
