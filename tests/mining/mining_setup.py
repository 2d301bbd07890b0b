"""Constants shared by the mining tests (a module with a unique name: conftest is not importable)."""
from __future__ import annotations

import datetime as dt

from flyer.data.sources.sim import SimConfig
from flyer.factors.mining import SearchConfig

#: spans on the shared small sim market (2018-2020)
TRAIN = (dt.date(2018, 1, 1), dt.date(2019, 6, 30))
VALID = (dt.date(2019, 7, 1), dt.date(2019, 12, 31))
TEST = (dt.date(2020, 1, 1), dt.date(2020, 12, 31))
#: the sim's planted effects (``flyer.data.sources.sim``), written in the factor language
PLANTED = {
    "reversal": "0 - ($close / Ref($close, 5) - 1)",
    "volume_price": "0 - CSZScore($close / Ref($close, 1) - 1) * CSZScore(Log($volume / Mean($volume, 20)))",
    "nonlinear": "0 - Power(CSZScore(Log($close / Ref($close, 20))), 2)",
}
SMALL = SearchConfig(population=40, generations=4, seed=1)
#: a larger sim (more stocks, five years) on which the pool must rediscover the planted effects
POOL_SIM = SimConfig(n_stocks=250, start=dt.date(2016, 1, 1), end=dt.date(2020, 12, 31), seed=7)
POOL_SPANS = ((dt.date(2016, 1, 1), dt.date(2018, 12, 31)), (dt.date(2019, 1, 1), dt.date(2019, 12, 31)),
              (dt.date(2020, 1, 1), dt.date(2020, 12, 31)))
POOL_SEARCH = SearchConfig(population=50, generations=6, seed=1)
