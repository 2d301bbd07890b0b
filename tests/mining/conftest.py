"""Mining fixtures: the small shared sim market as ``MiningData`` and one small search on it."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from factors.mining import Grammar, MiningData, MiningResult, SearchConfig, SerialEvaluator, build_data, mine

TRAIN = (dt.date(2018, 1, 1), dt.date(2019, 12, 31))
VALID = (dt.date(2020, 1, 1), dt.date(2020, 12, 31))
#: the sim's planted 5-day reversal, written in the factor language
PLANTED = "0 - ($close / Ref($close, 5) - 1)"
SMALL = SearchConfig(population=40, generations=4, seed=1)


@pytest.fixture(scope="session")
def mining_data(sim_bars: pl.DataFrame) -> MiningData:
    return build_data(sim_bars, None, 5, TRAIN, VALID, Grammar().fields)


@pytest.fixture(scope="session")
def mined(mining_data: MiningData) -> MiningResult:
    """One small seeded search (40 x 4) on the sim market, shared by several tests."""
    return mine(SerialEvaluator(mining_data), SMALL)
