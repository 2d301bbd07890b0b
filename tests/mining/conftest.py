"""Mining fixtures: the small shared sim market as ``MiningData``, a larger sim for the pool
search, and one pool search on it shared by several tests."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from mining_setup import POOL_SEARCH, POOL_SIM, POOL_SPANS, TEST, TRAIN, VALID  # type: ignore[import-not-found]

from flyer.data.sources.sim import generate
from flyer.data.store import MarketStore
from flyer.factors.mining import Grammar, MiningData, MiningResult, SerialEvaluator, build_data, mine


@pytest.fixture(scope="session")
def mining_data(sim_bars: pl.DataFrame) -> MiningData:
    return build_data(sim_bars, None, 5, TRAIN, VALID, TEST, Grammar().fields)


@pytest.fixture(scope="session")
def pool_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A flyer home with the larger sim market (read-only for tests)."""
    home = tmp_path_factory.mktemp("pool_sim_home")
    with MarketStore.open(home) as store:
        store.write("sim", generate(POOL_SIM), start=POOL_SIM.start, end=POOL_SIM.end)
    return home


@pytest.fixture(scope="session")
def pool_data(pool_home: Path) -> MiningData:
    with MarketStore.open(pool_home, read_only=True) as store:
        bars = store.bars()
    return build_data(bars, None, 5, *POOL_SPANS, Grammar().fields)


@pytest.fixture(scope="session")
def pool_mined(pool_data: MiningData) -> MiningResult:
    """One seeded pool search (50 x 6) on the larger sim, shared by several tests."""
    return mine(SerialEvaluator(pool_data), POOL_SEARCH)
