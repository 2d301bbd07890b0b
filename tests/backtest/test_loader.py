"""Load once: a cold backtest reads the store a handful of times, and nothing below the loader
goes back to it (``flyer.backtest.loader``)."""
from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import polars as pl
import pytest

from flyer.backtest import market_cache
from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from flyer.data.sources import ingest, make_source
from flyer.data.store import MarketStore

READS = ("one", "query", "calendar", "instruments", "bars", "index_bars", "members", "membership", "memberships",
         "reference", "index_closes", "has_table", "industry_standards", "industries", "industry_panel",
         "fundamentals", "ingest_log", "rejects", "info")


@contextmanager
def counting(monkeypatch: pytest.MonkeyPatch) -> Iterator[collections.Counter[str]]:
    """Counts the store's public reads made from outside the store (a read calling another read
    counts once)."""
    counts: collections.Counter[str] = collections.Counter()
    depth = [0]
    for name in READS:
        orig = getattr(MarketStore, name)

        def wrap(self, *a, _orig=orig, _name=name, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
            if depth[0] == 0:
                counts[_name] += 1
            depth[0] += 1
            try:
                return _orig(self, *a, **k)
            finally:
                depth[0] -= 1
        monkeypatch.setattr(MarketStore, name, wrap)
    yield counts


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    path = tmp_path_factory.mktemp("loader")
    with MarketStore.open(path) as st:
        ingest(st, make_source("sim", stocks=60, start=dt.date(2020, 1, 1), end=dt.date(2021, 6, 30)))
    return path


def _scores(store: MarketStore) -> pl.DataFrame:
    cal = store.calendar(dt.date(2020, 6, 1), dt.date(2021, 6, 1)).to_list()
    syms = store.instruments()["symbol"].to_list()
    rng = np.random.default_rng(0)
    return pl.DataFrame({"date": [d for d in cal for _ in syms], "symbol": syms * len(cal),
                         "score": rng.normal(size=len(cal) * len(syms))})


@pytest.mark.parametrize("strategy", ["topk", "benchmark"])
def test_a_cold_backtest_reads_the_store_at_most_five_times(home, monkeypatch, strategy: str) -> None:
    with MarketStore.open(home, read_only=True) as store:
        scores = _scores(store)
        market_cache.clear_memo()
        monkeypatch.setattr(market_cache, "cache_dir", lambda st: st.path.parent / "no-cache-here" / "x")
        with counting(monkeypatch) as counts:
            res = run(store, scores, BacktestConfig(k=10, n_drop=2, strategy=strategy))
        assert res.trades().height > 0
        assert sum(counts.values()) <= 5, dict(counts)
