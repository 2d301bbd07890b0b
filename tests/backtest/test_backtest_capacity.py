"""Capacity curve: one engine call over capital levels equals separate runs, fills and impact
worsen with size, the half-excess AUM is interpolated in log capital, the CLI prints it, and
the enhance strategy is planned anew at each level (its optimiser sizes trades on the NAV)."""
from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.backtest.api import run
from flyer.backtest.capacity import COLUMNS, capacity_curve, half_excess_aum
from flyer.backtest.config import BacktestConfig
from flyer.cli import app
from flyer.data.store import MarketStore
from flyer.core.errors import FlyerError

LEVELS = (1e6, 1e7, 1e8)


@pytest.fixture(scope="module")
def scores(sim_home: Path) -> pl.DataFrame:
    """A reversal score (-5-day return) of the sim market: it has a planted edge to lose."""
    with MarketStore.open(sim_home, read_only=True) as store:
        bars = store.bars(dt.date(2019, 11, 1), dt.date(2020, 12, 31), columns=["symbol", "date", "close"])
    return bars.sort("symbol", "date").select(
        "date", "symbol", (-(pl.col("close") / pl.col("close").shift(5).over("symbol") - 1)).alias("score")
    ).drop_nulls()


@pytest.fixture(scope="module")
def curve(sim_home: Path, scores: pl.DataFrame):
    cfg = BacktestConfig(k=20, n_drop=2, rebalance_every=5, start=dt.date(2020, 1, 2),
                         end=dt.date(2020, 12, 31)).replace(impact="sqrt")
    with MarketStore.open(sim_home, read_only=True) as store:
        return capacity_curve(store, scores, cfg, LEVELS), cfg


def test_curve_is_one_sweep_equal_to_separate_runs(curve, sim_store, scores) -> None:
    cap, cfg = curve
    assert cap.table.columns == list(COLUMNS) and cap.table["capital"].to_list() == list(LEVELS)
    for level, res in zip(LEVELS, cap.results):
        single = run(sim_store, scores, cfg.replace(capital=level))
        np.testing.assert_array_equal(single.nav, res.nav)
    assert cap.table["excess_annual_return"][0] == pytest.approx(cap.results[0].metrics()["excess_annual_return"])


def test_bigger_portfolios_fill_less_and_pay_more_impact(curve) -> None:
    cap = curve[0]
    t = cap.table
    assert t["fill_rate"].to_list() == sorted(t["fill_rate"].to_list(), reverse=True)
    assert t["avg_participation"].to_list() == sorted(t["avg_participation"].to_list())
    assert t["impact_drag"].to_list() == sorted(t["impact_drag"].to_list())
    assert t["excess_annual_return"].to_list() == sorted(t["excess_annual_return"].to_list(), reverse=True)
    assert t["unfilled_days"][-1] > t["unfilled_days"][0]
    assert t["avg_participation"][-1] <= 0.1 + 1e-9          # never above the limit
    # the planted reversal earns at 1e6 CNY and halves between 1e6 and 1e8
    assert t["excess_annual_return"][0] > 0 and LEVELS[0] < cap.half_aum < LEVELS[-1]


def test_half_excess_aum() -> None:
    half, note = half_excess_aum([1e7, 1e8, 1e9], [0.2, 0.15, 0.05])
    assert half == pytest.approx(10 ** 8.5) and "between 100,000,000 and 1,000,000,000" in note
    assert half_excess_aum([1e7, 1e8], [0.2, 0.1])[0] == pytest.approx(1e8)
    half, note = half_excess_aum([1e7, 1e8], [0.2, 0.15])
    assert half is None and "stays above half" in note
    half, note = half_excess_aum([1e7, 1e8], [-0.01, -0.05])
    assert half is None and "no positive excess" in note
    assert math.isclose(half_excess_aum([1e6, 1e7, 1e8], [0.1, 0.08, -0.2])[0], 10 ** (7 + 0.03 / 0.28))


def test_needs_two_levels(sim_store, scores) -> None:
    with pytest.raises(FlyerError, match="at least two"):
        capacity_curve(sim_store, scores, BacktestConfig(), [1e7])


def test_cli_capacity_prints_the_curve_and_writes_a_page(sim_home: Path, scores: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    scores.write_parquet(path)
    out = tmp_path / "cap.html"
    res = CliRunner().invoke(app, ["capacity", "--scores", str(path), "--k", "20", "--n-drop", "2",
                                   "--rebalance-every", "5", "--start", "2020-01-02", "--end", "2020-12-31",
                                   "--capitals", "1e6,1e7,1e8",
                                   "--report", str(out), "--home", str(sim_home)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "AUM at half excess return" in res.output and "impact sqrt k=1.0" in res.output
    page = out.read_text()
    assert "Capacity curve" in page and "AUM at half excess return" in page and "100,000,000" in page
    assert "between 1,000,000 and" in res.output
    row = next(x for x in res.output.splitlines() if x.startswith("10,000,000"))
    capital, excess, te = row.split()[:3]
    assert re.fullmatch(r"-?\d+\.\d\d%", excess) and re.fullmatch(r"\d+\.\d\d%", te), row  # TE a percent too


@pytest.fixture(scope="module")
def enhance_curve(sim_frames, tmp_path_factory):
    """The enhance strategy's curve on a sim home of its own (the risk model is written there)."""
    from tests.backtest.enhance_kit import END, START, reversal_scores, sim_home_copy

    home = sim_home_copy(sim_frames, tmp_path_factory.mktemp("capacity_enhance") / "home")
    cfg = BacktestConfig(strategy="enhance", rebalance_every=10, start=START, end=END).replace(impact="sqrt")
    with MarketStore.open(home, read_only=True) as store:
        return capacity_curve(store, reversal_scores(store), cfg, (1e7, 1e9, 1e10))


def test_enhance_curve_plans_each_level_anew(enhance_curve) -> None:
    """The optimiser sizes trades on the NAV: each level is planned on its own capital, a big
    book trades less of its NAV, pays more impact, hits its participation bounds, earns less."""
    cap = enhance_curve
    assert cap.replanned and "planned anew" in cap.note
    plans = [r.diagnostics.plan.rebalances for r in cap.results]
    assert [p["nav"][0] for p in plans] == [1e7, 1e9, 1e10]
    assert plans[0]["capped"].sum() < plans[-1]["capped"].sum()
    assert plans[0]["turnover"].sum() > plans[-1]["turnover"].sum()
    t = cap.table
    assert t.columns == list(COLUMNS)
    assert t["impact_drag"][0] < min(t["impact_drag"][1:])       # a big book pays more impact ...
    assert t["excess_annual_return"][0] > t["excess_annual_return"][-1]
    assert (t["avg_participation"] <= 0.1 + 1e-9).all()
