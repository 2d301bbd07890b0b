"""Point-in-time benchmark weights: stored snapshots drift with returns between reviews, caps
estimate them where a snapshot has no weights (the single-name cap binding), and the weighted
members replicate the index's own returns."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flyer.data.store import MarketStore
from flyer.risk.benchmark import benchmark_weights, cap_weights, compare_snapshot, replication

CODE = "000905.SH"


def test_cap_weights_respect_the_single_name_cap() -> None:
    caps = np.array([50.0, 20, 10, 10, 5, 5, np.nan, 0])
    w = cap_weights(caps, 0.3)
    assert w.sum() == pytest.approx(1.0) and w.max() <= 0.3 + 1e-12
    assert w[6] == 0 and w[7] == 0
    free = w < 0.3 - 1e-12
    np.testing.assert_allclose(w[free][:-2] / w[free][0], caps[free][:-2] / caps[free][0])  # pro rata below the cap
    np.testing.assert_allclose(cap_weights(np.array([3.0, 1.0])), [0.75, 0.25])         # cap cannot bind: 2 x 10 % < 1


def test_stored_snapshots_drift_with_returns(risk_home: Path) -> None:
    with MarketStore.open(risk_home, read_only=True) as store:
        bw = benchmark_weights(store, CODE, dt.date(2019, 1, 2), dt.date(2019, 12, 31))
        snaps = store.query("SELECT date, symbol, weight FROM index_members WHERE index_code = ?", [CODE])
        bars = store.bars(dt.date(2018, 12, 1), dt.date(2019, 12, 31), columns=["close"])
    w = bw.weights
    assert (w["source"] == "store").all()
    sums = w.group_by("date").agg(pl.col("weight").sum())["weight"]
    np.testing.assert_allclose(sums, 1.0, atol=1e-12)
    review = snaps.filter(pl.col("date").is_between(dt.date(2019, 1, 3), dt.date(2019, 12, 31)))["date"].unique().sort()
    d0 = review[0]
    got = w.filter(pl.col("date") == d0).join(snaps.filter(pl.col("date") == d0), on="symbol")
    np.testing.assert_allclose(got["weight"], got["weight_right"] / got["weight_right"].sum(), rtol=1e-12)
    days = store_days = w["date"].unique().sort().to_list()
    d1 = store_days[store_days.index(d0) + 1]
    r = bars.with_columns((pl.col("close") / pl.col("close").shift(1).over("symbol")).alias("g")).filter(
        pl.col("date") == d0).select("symbol", "g")
    nxt = got.select("symbol", "weight").join(r, on="symbol").with_columns((pl.col("weight") * pl.col("g")).alias("v"))
    nxt = nxt.with_columns(pl.col("v") / pl.col("v").sum())
    cmp = nxt.join(w.filter(pl.col("date") == d1), on="symbol")
    np.testing.assert_allclose(cmp["weight_right"], cmp["v"], rtol=1e-10)  # start of d1 = d0's weights grown by d0
    assert len(days) > 200


def test_estimated_weights_from_caps_track_the_real_ones(sim_frames, tmp_path: Path) -> None:
    members = sim_frames["index_members"].with_columns(pl.lit(None, pl.Float64).alias("weight"))
    home = tmp_path / "h"
    with MarketStore.open(home) as store:
        store.write("sim", {**sim_frames, "index_members": members})
        est = benchmark_weights(store, CODE, dt.date(2019, 1, 2), dt.date(2020, 12, 31))
        rep = replication(est.weights, store, CODE)
    assert (est.weights["source"] == "estimated").all() and any("estimated" in n for n in est.notes)
    real = sim_frames["index_members"].filter(pl.col("index_code") == CODE)
    day = real.filter(pl.col("date") >= dt.date(2019, 7, 1))["date"].min()
    prev = real.filter(pl.col("date") < day)["date"].max()
    figures = compare_snapshot(est.weights, real.filter(pl.col("date") == day).select("symbol", "weight"), prev)
    assert figures["names_common"] > 20 and figures["corr"] > 0.9 and figures["sum_abs_diff"] < 0.3
    assert (rep["tracking_error"] < 0.02).all()          # the members' total return vs the price index
    assert (rep["mean_gap_annual"] > -0.01).all()        # dividends: the replica earns more than the price index
