"""Stress report: named windows (covered, partial, outside the data), window files, exposures,
regimes, and the sim's liquidity crisis leaving orders unfilled where the report sees it."""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.backtest import execution, stress
from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from flyer.cli import app
from flyer.data.sources.sim import SimConfig, generate
from flyer.data.store import MarketStore
from flyer.core.errors import FlyerError

CRISIS = dt.date(2020, 3, 2)
CRISIS_WINDOW = stress.Window("sim crisis", CRISIS, dt.date(2020, 3, 20))
SIM = SimConfig(n_stocks=80, start=dt.date(2019, 1, 1), end=dt.date(2020, 6, 30), seed=5)


def _random_scores(store: MarketStore, start: dt.date, end: dt.date, seed: int = 0) -> pl.DataFrame:
    bars = store.bars(start, end, columns=["symbol", "date"])
    return bars.select("date", "symbol").with_columns(
        pl.Series("score", np.random.default_rng(seed).normal(size=bars.height)))


@pytest.fixture(scope="module")
def sim_result(sim_home: Path):
    with MarketStore.open(sim_home, read_only=True) as store:
        scores = _random_scores(store, dt.date(2019, 12, 1), dt.date(2020, 12, 31))
        res = run(store, scores, BacktestConfig(k=15, n_drop=3, capital=5e6, start=dt.date(2020, 1, 2)))
        windows = [stress.Window("before the data", dt.date(2015, 6, 15), dt.date(2015, 9, 15)),
                   stress.Window("straddles the start", dt.date(2019, 12, 2), dt.date(2020, 1, 31)),
                   stress.Window("inside", dt.date(2020, 3, 2), dt.date(2020, 4, 30))]
        yield res, stress.window_table(res, store, windows), stress.exposures(res, store)


def test_windows_outside_or_partly_inside_the_data_are_reported(sim_result) -> None:
    res, table, _ = sim_result
    rows = {r["window"]: r for r in table.iter_rows(named=True)}
    assert table.height == 3                             # nothing dropped
    out = rows["before the data"]
    assert out["coverage"] == "none" and out["days"] == 0 and np.isnan(out["return"])
    assert "outside the backtest" in out["note"] and str(res.dates[0]) in out["note"]
    part = rows["straddles the start"]
    assert part["coverage"] == "partial" and part["days"] > 10 and "partial" in part["note"]
    assert "first backtest day" in part["note"]
    inside = rows["inside"]
    assert inside["coverage"] == "full" and inside["note"] == ""
    # the window's return is the NAV from the close before the window to its last day
    daily = res.daily()
    before = daily.filter(pl.col("date") < dt.date(2020, 3, 2))["nav"][-1]
    last = daily.filter(pl.col("date") <= dt.date(2020, 4, 30))["nav"][-1]
    assert inside["return"] == pytest.approx(last / before - 1)
    assert -1 < inside["excess_max_drawdown"] <= 0 and inside["turnover"] > 0


def test_default_windows_are_all_listed(sim_result, sim_store) -> None:
    res = sim_result[0]
    table = stress.window_table(res, sim_store)
    assert table["window"].to_list() == [w.name for w in stress.DEFAULT_WINDOWS]
    assert table.filter(pl.col("window") == "2020 Covid")["coverage"][0] == "full"
    assert set(table.filter(pl.col("window") != "2020 Covid")["coverage"]) == {"none"}


def test_size_exposure_follows_what_is_held(sim_store) -> None:
    bars = sim_store.bars(dt.date(2020, 1, 1), dt.date(2020, 3, 31), columns=["symbol", "date", "total_cap"])
    cfg = BacktestConfig(k=10, n_drop=2, capital=5e6, start=dt.date(2020, 1, 2), participation=0.0)
    big = run(sim_store, bars.select("date", "symbol", pl.col("total_cap").log().alias("score")), cfg)
    small = run(sim_store, bars.select("date", "symbol", (-pl.col("total_cap").log()).alias("score")), cfg)
    e_big, e_small = stress.exposures(big, sim_store), stress.exposures(small, sim_store)
    assert e_big["size"].drop_nans().mean() > 1.0 > -1.0 > e_small["size"].drop_nans().mean()
    assert e_big["liquidity"].drop_nans().mean() > e_small["liquidity"].drop_nans().mean()


def test_regime_table_buckets_every_day(sim_result) -> None:
    res = sim_result[0]
    table = stress.regime_table(res)
    for regime in ("volatility", "breadth"):
        part = table.filter(pl.col("regime") == regime)
        assert part["bucket"].to_list() == ["low", "mid", "high", "unclassified"]
        assert part["days"].sum() == len(res.dates) - 1
        assert part.filter(pl.col("bucket") == "unclassified")["days"][0] == stress.REGIME_WINDOW
        ranked = part.filter(pl.col("bucket") != "unclassified")
        assert ranked["low"].to_list() == sorted(ranked["low"].to_list())


def test_window_files(tmp_path: Path) -> None:
    f = tmp_path / "w.toml"
    f.write_text('[[window]]\nname = "2020 Covid"\nstart = 2020-02-03\nend = "2020-02-28"\n'
                 '[[window]]\nname = "2019 trade war"\nstart = "2019-05-06"\nend = "2019-06-06"\n')
    got = {w.name: w for w in stress.load_windows(f)}
    assert len(got) == len(stress.DEFAULT_WINDOWS) + 1
    assert got["2020 Covid"].start == dt.date(2020, 2, 3) and "2019 trade war" in got
    f.write_text('defaults = false\n[[window]]\nname = "mine"\nstart = "2019-05-06"\nend = "2019-06-06"\n')
    assert [w.name for w in stress.load_windows(f)] == ["mine"]
    f.write_text('[[window]]\nname = "bad"\nstart = "2019-05-06"\n')
    with pytest.raises(FlyerError, match="need name, start, end"):
        stress.load_windows(f)
    with pytest.raises(FlyerError, match="not found"):
        stress.load_windows(tmp_path / "missing.toml")


@pytest.fixture(scope="module")
def crisis_runs(tmp_path_factory):
    """The same random-score strategy on the sim market with and without a liquidity crisis."""
    out = {}
    for name, cfg in (("calm", SIM), ("crisis", dataclasses.replace(SIM, crisis_start=CRISIS, crisis_days=15))):
        store = MarketStore.open(tmp_path_factory.mktemp(name))
        store.write("sim", generate(cfg))
        scores = _random_scores(store, dt.date(2019, 9, 1), dt.date(2020, 6, 30))
        res = run(store, scores, BacktestConfig(k=10, n_drop=3, capital=3e7, start=dt.date(2019, 10, 8)))
        out[name] = (res, stress.window_table(res, store, [CRISIS_WINDOW]).row(0, named=True))
        store.close()
    return out


def test_sim_crisis_leaves_orders_unfilled_and_the_report_sees_it(crisis_runs) -> None:
    (_, w_calm), (crisis, w_crisis) = crisis_runs["calm"], crisis_runs["crisis"]
    assert w_crisis["fill_rate"] < w_calm["fill_rate"] - 0.2
    assert w_crisis["blocked_orders"] > 0 == w_calm["blocked_orders"]      # limit-down locks
    assert w_crisis["capped_orders"] > 1.5 * w_calm["capped_orders"]       # volume collapse
    # every crisis day ends with orders open: the holdings drift from their targets
    ex = execution.summary(crisis, CRISIS_WINDOW.start, CRISIS_WINDOW.end)
    assert ex["unfilled_days"] == 1.0
    days = crisis.execution().filter(pl.col("date").is_between(CRISIS_WINDOW.start, CRISIS_WINDOW.end))
    assert (days["demand"] - days["filled"]).min() > 0


def test_cli_backtest_stress_tables_and_report(sim_home: Path, tmp_path: Path) -> None:
    with MarketStore.open(sim_home, read_only=True) as store:
        path = tmp_path / "scores.parquet"
        _random_scores(store, dt.date(2020, 1, 1), dt.date(2020, 6, 30)).write_parquet(path)
    windows = tmp_path / "w.toml"
    windows.write_text('[[window]]\nname = "spring 2020"\nstart = "2020-03-02"\nend = "2020-04-30"\n')
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["backtest", "--scores", str(path), "--k", "10", "--n-drop", "2",
                                   "--participation", "0.05", "--impact", "sqrt", "--stress",
                                   "--windows", str(windows), "--report", str(out), "--home", str(sim_home)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "stress windows" in res.output and "spring" in res.output and "regimes" in res.output
    assert "2015 crash: outside the backtest" in res.output
    assert "participation limit: 5% of the day's volume" in res.output and "impact: sqrt k=1.0" in res.output
    page = out.read_text()
    assert "Stress windows" in page and "spring 2020" in page and "Regimes" in page
