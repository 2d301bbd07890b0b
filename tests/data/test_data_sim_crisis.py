"""The sim's optional liquidity crisis: off by default (the default market is unchanged), the
market before it is the default one, and inside it volume collapses, limit-down locks cluster
and stocks move together."""
from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import polars as pl
import pytest

from flyer.data.sources.base import make_source
from flyer.data.sources.sim import SimConfig, SimError, SimSource, generate

START, CRISIS, END = dt.date(2019, 1, 1), dt.date(2020, 3, 2), dt.date(2020, 6, 30)
BASE = SimConfig(n_stocks=80, start=START, end=END, seed=5)


@pytest.fixture(scope="module")
def markets() -> tuple[pl.DataFrame, pl.DataFrame]:
    return generate(BASE)["bars"], generate(dataclasses.replace(BASE, crisis_start=CRISIS, crisis_days=15))["bars"]


def _returns(bars: pl.DataFrame) -> pl.DataFrame:
    return bars.sort("symbol", "date").with_columns(
        (pl.col("close") * pl.col("adj_factor") / (pl.col("close") * pl.col("adj_factor")).shift(1).over("symbol") - 1)
        .alias("ret"), pl.col("close").shift(1).over("symbol").alias("prev"))


def _mean_corr(bars: pl.DataFrame) -> float:
    wide = bars.pivot(on="symbol", index="date", values="ret").drop("date").to_numpy()
    wide = wide[:, np.all(np.isfinite(wide), axis=0)]
    c = np.corrcoef(wide.T)
    return float(c[np.triu_indices_from(c, 1)].mean())


def test_market_before_the_crisis_is_the_default_one(markets) -> None:
    calm, crisis = markets
    before = pl.col("date") < CRISIS
    assert calm.filter(before).equals(crisis.filter(before))
    assert not calm.equals(crisis)


def test_crisis_collapses_volume_locks_limit_down_and_lifts_correlation(markets) -> None:
    calm, crisis = markets
    days = sorted(crisis.filter(pl.col("date") >= CRISIS)["date"].unique().to_list())[:15]
    inside = pl.col("date").is_between(days[0], days[-1])
    ratio = crisis.filter(inside)["volume"].sum() / calm.filter(inside)["volume"].sum()
    assert ratio < 0.25
    r_crisis, r_calm = _returns(crisis), _returns(calm)
    locked = lambda df: df.filter(inside & ~pl.col("is_suspended") & (pl.col("open") == pl.col("close"))  # noqa: E731
                                  & (pl.col("high") == pl.col("low")) & (pl.col("close") / pl.col("prev") < 0.96))
    assert locked(r_crisis).height / r_crisis.filter(inside).height > 0.1
    assert locked(r_calm).height / r_calm.filter(inside).height < 0.02
    pre = sorted(crisis.filter(pl.col("date") < CRISIS)["date"].unique().to_list())[-15:]
    corr_in = _mean_corr(r_crisis.filter(inside))
    corr_pre = _mean_corr(r_crisis.filter(pl.col("date").is_between(pre[0], pre[-1])))
    assert corr_in > corr_pre + 0.2


def test_crisis_settings_through_the_source() -> None:
    src = make_source("sim", stocks=80, crisis_start="2020-03-02", crisis_volume=0.3)
    assert isinstance(src, SimSource) and src.config().crisis_start == CRISIS and src.config().crisis_volume == 0.3
    assert SimSource().config() == SimConfig()       # off by default
    with pytest.raises(SimError, match="crisis_volume"):
        SimConfig(crisis_start=CRISIS, crisis_volume=0.0)
