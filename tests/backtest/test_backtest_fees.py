"""Fund fees (management and custody): accrued daily as configured, reported before and after,
and a config without them keeps its key."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.backtest.api import execute, prepare
from flyer.backtest.config import BacktestConfig
from flyer.backtest.metrics import accrue_fees
from flyer.cli import app
from flyer.core.config import ConfigError
from flyer.data.store import MarketStore

START, END = dt.date(2019, 1, 2), dt.date(2020, 12, 31)


@pytest.fixture(scope="module")
def runs(sim_home: Path):
    """The same top-k run without fees and with 1.0 % + 0.15 % a year (one market, one signal)."""
    with MarketStore.open(sim_home, read_only=True) as store:
        bars = store.bars(START - dt.timedelta(days=20), END, columns=["close"])
        scores = bars.select("date", "symbol", (-pl.col("close").pct_change(5).over("symbol")).alias("score")).drop_nulls()
        cfg = BacktestConfig(k=20, n_drop=2, rebalance_every=5, start=START, end=END)
        prep = prepare(store, scores, cfg)
        return execute(prep, [prep.config, prep.config.replace(management_fee=0.01, custody_fee=0.0015)])


def test_fees_accrue_daily_as_configured(runs) -> None:
    plain, paid = runs
    np.testing.assert_array_equal(plain.nav, paid.nav)            # trading is unchanged: fees come off the NAV
    assert "nav_after_fees" not in plain.daily().columns and "fee_drag" not in plain.metrics()
    d = paid.daily()
    days = paid.year_days
    per_day = np.array([0.0115 / days[x.year] for x in d["date"].to_list()])
    keep = np.cumprod(1 - per_day)
    np.testing.assert_allclose(d["nav_after_fees"], d["nav"].to_numpy() * keep, rtol=1e-12)
    np.testing.assert_allclose(d["fees"].sum(), (d["nav"].to_numpy() * np.concatenate([[1.0], keep[:-1]]) * per_day).sum())
    for year in (2019, 2020):                                         # one full year costs e^-1.15 % of NAV
        k = keep[np.array([x.year for x in d["date"].to_list()]) <= year][-1] / (
            keep[np.array([x.year for x in d["date"].to_list()]) < year][-1] if year > 2019 else 1.0)
        assert k == pytest.approx((1 - 0.0115 / days[year]) ** days[year], rel=1e-12)
    m, m0 = paid.metrics(), plain.metrics()
    assert m["fee_drag"] == pytest.approx(0.0115, rel=0.02)
    g = (1 + m0["excess_annual_return"]) * np.exp(np.log(keep[-1]) / 2) - 1      # two years of fees
    assert m["excess_annual_return_after_fees"] == pytest.approx(g, abs=2e-3)
    assert m["excess_annual_return_after_fees"] < m["excess_annual_return"] == m0["excess_annual_return"]
    assert m["information_ratio_after_fees"] < m["information_ratio"]
    y = paid.yearly()
    assert "excess_after_fees" in y.columns
    yr = np.array([x.year for x in d["date"].to_list()])
    ends = [keep[yr <= y_][-1] / (keep[yr < y_][-1] if (yr < y_).any() else keep[0]) for y_ in y["year"].to_list()]
    np.testing.assert_allclose((1 + y["excess_after_fees"]) / (1 + y["excess"]), ends, rtol=1e-9)  # a year's fees


def test_accrue_fees_by_hand() -> None:
    dates = [dt.date(2021, 1, 4), dt.date(2021, 1, 5), dt.date(2022, 1, 4)]
    fees, after = accrue_fees(dates, np.array([100.0, 110.0, 120.0]), 0.02, {2021: 200, 2022: 250})
    np.testing.assert_allclose(after, [100 * 0.9999, 110 * 0.9999 ** 2, 120 * 0.9999 ** 2 * (1 - 0.02 / 250)])
    np.testing.assert_allclose(fees, [100 * 1e-4, 110 * 0.9999 * 1e-4, 120 * 0.9999 ** 2 * 0.02 / 250])


def test_fee_settings_keep_keys_and_are_validated(sim_home: Path, tmp_path: Path) -> None:
    base = BacktestConfig()
    assert "management_fee" not in base.to_dict()["costs"]                     # no fees: the same key as before
    paid = BacktestConfig.from_dict({"management_fee": 0.01, "custody_fee": 0.0015})
    assert paid.costs.fund_fee == pytest.approx(0.0115) and paid.key() != base.key()
    assert BacktestConfig.from_dict(paid.to_dict()) == paid
    with pytest.raises(ConfigError, match="costs.management_fee"):
        BacktestConfig.from_dict({"management_fee": 1.5})
    with pytest.raises(ConfigError, match="costs.custody_fee"):
        BacktestConfig.from_dict({"custody_fee": -0.01})
    with MarketStore.open(sim_home, read_only=True) as store:
        bars = store.bars(dt.date(2020, 6, 1), dt.date(2020, 12, 31), columns=["close"])
    path = tmp_path / "s.parquet"
    bars.select("date", "symbol", (-pl.col("close").pct_change(5).over("symbol")).alias("score")).drop_nulls().write_parquet(path)
    r = CliRunner().invoke(app, ["backtest", "--scores", str(path), "--home", str(sim_home), "--k", "10",
                                 "--management-fee", "0.01", "--custody-fee", "0.0015"])
    assert r.exit_code == 0, r.output
    assert "after fund fees" in r.output and "fund fees per year" in r.output
