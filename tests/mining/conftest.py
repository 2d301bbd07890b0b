"""Mining fixtures: the small shared sim market as ``MiningData`` and one small search on it."""
from __future__ import annotations

import polars as pl
import pytest
from mining_setup import SMALL, TRAIN, VALID  # type: ignore[import-not-found]

from flyer.factors.mining import Grammar, MiningData, MiningResult, SerialEvaluator, build_data, mine


@pytest.fixture(scope="session")
def mining_data(sim_bars: pl.DataFrame) -> MiningData:
    return build_data(sim_bars, None, 5, TRAIN, VALID, Grammar().fields)


@pytest.fixture(scope="session")
def mined(mining_data: MiningData) -> MiningResult:
    """One small seeded search (40 x 4) on the sim market, shared by several tests."""
    return mine(SerialEvaluator(mining_data), SMALL)
