"""The cached universe (``flyer.backtest.universe``): a backtest served from the cache reads the
store twice and loads no bars, and its inputs are identical to a cold one's."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from flyer.backtest import market_cache, universe
from flyer.backtest.api import RunInputs, prepare, run, tradable_scores
from flyer.backtest.config import BacktestConfig
from flyer.backtest.loader import load
from flyer.data.sources import ingest, make_source
from flyer.data.store import MarketStore
from tests.backtest.test_loader import _scores, counting


@pytest.fixture()
def home(tmp_path):
    with MarketStore.open(tmp_path) as st:
        ingest(st, make_source("sim", stocks=40, start=dt.date(2020, 1, 1), end=dt.date(2021, 6, 30)))
    return tmp_path


def _same_inputs(a: RunInputs, b: RunInputs) -> None:
    assert a.config == b.config and a.market.dates == b.market.dates and a.market.symbols == b.market.symbols
    for f in a.market.arrays._fields:
        np.testing.assert_array_equal(getattr(a.market.arrays, f), getattr(b.market.arrays, f), err_msg=f)
    for f in ("scores", "weights", "has_bar"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    assert a.benchmark.equals(b.benchmark) and a.benchmark_name == b.benchmark_name
    da, db = a.diagnostics, b.diagnostics
    assert (da.year_days, da.dropped_scores, da.unlisted_scores, da.suspended_scores, da.benchmark_tr_name,
            da.notes) == (db.year_days, db.dropped_scores, db.unlisted_scores, db.suspended_scores,
                          db.benchmark_tr_name, db.notes)
    assert da.members_without_bars.equals(db.members_without_bars)


@pytest.mark.parametrize("setting", [dict(k=8, n_drop=2), dict(strategy="benchmark", active_limit=0.05),
                                     dict(k=5, n_drop=1, deal_price="vwap", vwap_fill="typical")])
def test_cold_disk_and_memo_inputs_are_identical(home, setting) -> None:
    cfg = BacktestConfig(**setting) if "vwap_fill" not in setting else BacktestConfig().replace(**setting)
    with MarketStore.open(home, read_only=True) as store:
        scores = _scores(store)
        market_cache.clear_memo()
        cold = prepare(store, scores, cfg)
        assert market_cache.LAST["universe"] == "built" and market_cache.LAST["market"] == "built"
        market_cache.clear_memo()
        disk = prepare(store, scores, cfg)
        assert market_cache.LAST["universe"] == "disk" and market_cache.LAST["market"] == "disk"
        memo = prepare(store, scores, cfg)
        assert market_cache.LAST["universe"] == "memo"
    _same_inputs(cold, disk)
    _same_inputs(cold, memo)


def test_a_cached_top_k_backtest_reads_the_store_twice_and_loads_no_bars(home, monkeypatch) -> None:
    with MarketStore.open(home, read_only=True) as store:
        scores = _scores(store)
        market_cache.clear_memo()
        first = run(store, scores, BacktestConfig(k=10, n_drop=2))
        market_cache.clear_memo()
        with counting(monkeypatch) as counts:
            again = run(store, scores.with_columns(pl.col("score") * 2), BacktestConfig(k=10, n_drop=2))
        assert dict(counts) == {"reference": 1, "one": 1}
    assert first.records.tobytes() == again.records.tobytes()   # doubled scores: the same ranking


def test_a_write_or_other_symbols_build_the_universe_again(home) -> None:
    with MarketStore.open(home) as store:
        scores = _scores(store)
        market_cache.clear_memo()
        prepare(store, scores, BacktestConfig(k=5))
        prepare(store, scores.filter(pl.col("symbol") != scores["symbol"][0]), BacktestConfig(k=5))
        assert market_cache.LAST["universe"] == "built"                # another set of scored symbols
        ingest(store, make_source("sim", stocks=40, start=dt.date(2020, 1, 1), end=dt.date(2021, 7, 31)))
        prepare(store, scores, BacktestConfig(k=5, end=dt.date(2021, 6, 2)))
        assert market_cache.LAST["universe"] == "built"                # the store changed


def test_tradable_scores_and_bar_mask_agree_with_joins(home) -> None:
    """The dense lookups give what the joins on the loaded bars gave (the filter before them)."""
    with MarketStore.open(home, read_only=True) as store:
        scores = _scores(store)
        extra = pl.DataFrame({"date": [dt.date(2021, 3, 6), dt.date(2021, 3, 8)], "symbol": ["999999.SH", "000001.SZ"],
                              "score": [1.0, 2.0]})  # a Saturday, and an unknown symbol
        scores = pl.concat([scores, extra.with_columns(pl.col("symbol"))]).sort("date", "symbol")
        data, cfg, cut = load(store, scores, BacktestConfig(k=5))
    joined = cut.join(data.bars.select("date", "symbol", "is_suspended"), on=["date", "symbol"], how="left")
    want_unlisted = int(joined["is_suspended"].is_null().sum())
    want_suspended = int(joined["is_suspended"].fill_null(False).sum())
    kept, unlisted, suspended = tradable_scores(data, cut)
    assert (unlisted, suspended) == (want_unlisted, want_suspended) and unlisted > 0
    assert kept.height == cut.height - unlisted - suspended
    u = universe.build(data, cfg)
    t = u.tradable(cut)
    assert (t.unlisted, t.suspended) == (unlisted, suspended) and t.scores.equals(kept)
    bars = data.bars.filter(pl.col("date") >= data.days[0])
    have = np.zeros((len(u.dates), len(u.symbols)), dtype=bool)
    for d, s in bars.select("date", "symbol").iter_rows():
        have[u.dates.index(d), u.symbols.index(s)] = True
    np.testing.assert_array_equal(u.has_bar(u.symbols), have)


def test_a_tampered_universe_entry_is_rebuilt(home) -> None:
    with MarketStore.open(home, read_only=True) as store:
        scores = _scores(store)
        market_cache.clear_memo()
        cold = prepare(store, scores, BacktestConfig(k=5))
        market_cache.flush()
        (folder,) = list(market_cache.kind_dir(store, "universe").iterdir())
        for name, payload in (("status.npy", (folder / "dates.npy").read_bytes()), ("meta.npy", b"not numpy")):
            good = (folder / name).read_bytes()
            (folder / name).write_bytes(payload)
            market_cache.clear_memo()
            _same_inputs(cold, prepare(store, scores, BacktestConfig(k=5)))
            assert market_cache.LAST["universe"] == "built"
            market_cache.flush()
            (folder / name).write_bytes(good)
