"""Constants shared by the mining tests (a module with a unique name: conftest is not importable)."""
from __future__ import annotations

import datetime as dt

from flyer.factors.mining import SearchConfig

TRAIN = (dt.date(2018, 1, 1), dt.date(2019, 12, 31))
VALID = (dt.date(2020, 1, 1), dt.date(2020, 12, 31))
#: the sim's planted 5-day reversal, written in the factor language
PLANTED = "0 - ($close / Ref($close, 5) - 1)"
SMALL = SearchConfig(population=40, generations=4, seed=1)
