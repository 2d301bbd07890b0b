"""``$pe``, ``$pb`` and ``$industry`` in formulas read point in time from the store
(``flyer.data.fields.attach``, used by the factor pipeline, model inputs and mining)."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from flyer.data import fields
from flyer.data.calendar import sse_calendar
from flyer.data.store import MarketStore
from flyer.factors import FactorSet
from flyer.factors.pipeline import compute_range

D = dt.date
DAYS = sse_calendar(D(2020, 1, 2), D(2020, 1, 15))


def test_pe_pb_fields_through_the_factor_pipeline(sim_store: MarketStore) -> None:
    days = sim_store.calendar()
    start, end = days[-5], days[-1]
    fs = FactorSet.from_formulas("val", {"pe": "$pe", "ep": "1 / $pe", "pb_rank": "CSRank($pb)"})
    got = pl.concat(list(compute_range(sim_store, fs, start, end)))
    ref = sim_store.fundamentals(start, end, columns=["pe_ttm"])
    both = got.join(ref, on=["symbol", "date"])
    assert both.height == got.height > 0
    assert both["pe"].to_numpy() == pytest.approx(both["pe_ttm"].to_numpy())


def _store(store: MarketStore) -> None:
    bars = pl.DataFrame([{"symbol": s, "date": d, "open": 10.0, "high": 10.0, "low": 10.0, "close": 10.0 + k + i * 0.1,
                          "volume": 1e5, "amount": 1e6} for k, s in enumerate(("600000.SH", "600001.SH", "000001.SZ"))
                         for i, d in enumerate(DAYS)]).with_columns(pl.max_horizontal("high", "close").alias("high"),
                                                                    pl.min_horizontal("low", "close").alias("low"))
    switch = DAYS[5]
    ind = pl.DataFrame([("600000.SH", "sw", 1, "A", "a", D(2010, 1, 1), None),
                        ("600001.SH", "sw", 1, "A", "a", D(2010, 1, 1), switch),
                        ("600001.SH", "sw", 1, "B", "b", switch, None),
                        ("000001.SZ", "sw", 1, "B", "b", D(2010, 1, 1), None)],
                       schema=["symbol", "standard", "level", "code", "name", "start_date", "end_date"],
                       orient="row").cast({"level": pl.Int32})
    fund = pl.DataFrame({"symbol": ["600000.SH"] * 3, "date": DAYS[:3], "pe_ttm": [10.0, None, 12.0],
                         "pb_mrq": [1.0, 1.1, 1.2]})
    store.write("t", {"calendar": pl.DataFrame({"date": DAYS}), "bars": bars, "industries": ind, "fundamentals": fund})


def test_attach_is_point_in_time_and_never_fills(fresh_store: MarketStore) -> None:
    _store(fresh_store)
    bars = fields.attach(fresh_store, fresh_store.bars())
    one = bars.filter(pl.col("symbol") == "600001.SH")["industry"].to_list()
    assert one == ["A"] * 5 + ["B"] * (len(DAYS) - 5)
    pe = bars.filter(pl.col("symbol") == "600000.SH")["pe"].to_list()
    assert pe[:3] == [10.0, None, 12.0] and set(pe[3:]) == {None}  # unknown stays null
    assert bars.height == fresh_store.bars().height and bars["symbol"].equals(fresh_store.bars()["symbol"])


def test_neutralize_groups_by_the_industry_in_force(fresh_store: MarketStore) -> None:
    _store(fresh_store)
    fs = FactorSet.from_formulas("n", {"n": "Neutralize($close, industry)"})
    got = pl.concat(list(compute_range(fresh_store, fs, DAYS[0], DAYS[-1]))).sort("date", "symbol")
    early = got.filter(pl.col("date") == DAYS[0])
    late = got.filter(pl.col("date") == DAYS[-1])
    # before the switch 600001 shares industry A with 600000 (demeaned against it); after, B with 000001
    e = dict(early.select("symbol", "n").rows())
    assert e["000001.SZ"] == pytest.approx(0.0) and e["600000.SH"] == pytest.approx(-e["600001.SH"])
    x = dict(late.select("symbol", "n").rows())
    assert x["600000.SH"] == pytest.approx(0.0) and x["600001.SH"] == pytest.approx(-x["000001.SZ"])
