"""Universe names shared by factors, models and mining."""
from __future__ import annotations

import datetime as dt

import pytest

from flyer.data.universe import UniverseError, index_code, members


def test_names_and_codes() -> None:
    assert index_code("all") is None and index_code("CSI500") == "000905.SH"
    assert index_code("000852.SH") == "000852.SH"
    with pytest.raises(UniverseError, match="unknown universe 'sp500'"):
        index_code("sp500")


def test_point_in_time_members(sim_store) -> None:
    got = members(sim_store, "csi500", dt.date(2019, 6, 1), dt.date(2019, 6, 30))
    assert got.columns == ["date", "symbol"] and got.height > 0
    assert members(sim_store, "all", None, None) is None
    with pytest.raises(UniverseError, match="no csi300 membership"):
        members(sim_store, "csi300", dt.date(2030, 1, 1), dt.date(2030, 2, 1))
