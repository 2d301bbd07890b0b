"""Acceptance on the staged real data (../shared/ashare), bounded to 2017-2020: the risk model
fits the CSI 800 cross-section, predicts the risk of random portfolios, and the estimated CSI 500
weights replicate 000905.SH. Skipped when the folder is absent (about a minute when present)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flyer.data.sources import ashare, ingest
from flyer.data.sources.ashare import find_default_root
from flyer.data.store import MarketStore
from flyer.risk import validation
from flyer.risk.benchmark import benchmark_weights, replication
from flyer.risk.config import RiskConfig
from flyer.risk.model import build

ROOT = find_default_root()
D = dt.date

pytestmark = [pytest.mark.realdata,
              pytest.mark.skipif(not (ROOT / "daily").is_dir(), reason=f"real data folder {ROOT} not present")]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory):
    home: Path = tmp_path_factory.mktemp("risk_real")
    with MarketStore.open(home) as s:
        ingest(s, ashare.AshareSource(str(ROOT), start=D(2017, 1, 1), end=D(2020, 12, 31)))
    s = MarketStore.open(home, read_only=True)
    yield s
    s.close()


def test_risk_model_fit_and_bias_on_csi800(store) -> None:
    m = build(store, RiskConfig(estimation_universe="000300.SH+000905.SH", start=D(2019, 2, 1)))
    r2 = validation.r2_by_year(m)
    assert r2["r2"].is_between(0.2, 0.7).all() and r2["n_stocks"].min() > 600
    assert len(m.industries) >= 28                          # Shenwan level 1 (SW2014 in these years)
    v = m.styles.index("value")
    assert 0.2 < np.mean(m.coverage[:, v]) < 0.8            # PB for Shenzhen only before 2020
    z, _ = validation.portfolio_bias(m, validation.random_portfolios(m, size=50, n=20), 20)
    bias = np.nanstd(z[60:], axis=0, ddof=1)
    assert 0.7 < np.median(bias) < 1.3


def test_estimated_csi500_weights_replicate_the_index(store) -> None:
    bw = benchmark_weights(store, "000905.SH", D(2018, 1, 2), D(2020, 12, 31))
    assert (bw.weights["source"] == "estimated").all()
    rep = replication(bw.weights, store, "000905.SH")
    assert (rep["tracking_error"] < 0.015).all() and (rep["corr"] > 0.998).all()
    assert (rep["mean_gap_annual"] > 0).all()               # the members' dividends beat the price index
    assert rep.filter(pl.col("year") == 2019)["days"].item() > 240
