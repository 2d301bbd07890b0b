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


def test_derived_values_memo_disk_and_rebuilt_after_a_write(store):
    calls: list[int] = []

    def build() -> dict:
        calls.append(1)
        return {"rows": store.bars().height}

    market_cache.clear_memo()
    req = {"start": dt.date(2023, 3, 1), "symbols": ["b", "a"]}
    first = market_cache.cached_value(store, "t", req, build)
    assert market_cache.cached_value(store, "t", req, build) is first and len(calls) == 1   # memo
    market_cache.clear_memo()
    assert market_cache.cached_value(store, "t", req, build) == first and len(calls) == 1   # disk
    market_cache.cached_value(store, "t", {**req, "symbols": ["a"]}, build)                # another request
    assert len(calls) == 2
    ingest(store, make_source("sim", stocks=20, start=dt.date(2023, 1, 1), end=dt.date(2023, 7, 31)))
    again = market_cache.cached_value(store, "t", req, build)                               # the store changed
    assert len(calls) == 3 and again["rows"] > first["rows"]


def test_backtest_context_equals_uncached(store):
    """The cached run context (TR benchmark, gaps, notes) is what a fresh build gives."""
    import polars as pl

    from flyer.backtest.api import _run_context, prepare
    from flyer.backtest.config import BacktestConfig

    bars = store.bars(columns=["close"])
    scores = bars.select("date", "symbol", (-pl.col("close")).alias("score"))
    market_cache.clear_memo()
    prep = prepare(store, scores, BacktestConfig(k=3, n_drop=1))
    market_cache.clear_memo()
    again = prepare(store, scores, BacktestConfig(k=3, n_drop=1))  # from the disk cache
    bench, ctx = _run_context(store, prep.config, prep.market, *_bench(store, prep.config))
    assert again.context == ctx and prep.context == ctx
    assert again.benchmark.equals(bench)
    np.testing.assert_array_equal(again.has_bar, prep.has_bar)


def _bench(store, config):  # noqa: ANN001, ANN202
    from flyer.backtest.api import load_benchmark

    return load_benchmark(store, config.benchmark, config.start, config.end)
