"""Research on Ray equals the serial run: walk-forward folds, ensemble members, stacked horizons,
backtest sweeps and capacity ladders (``flyer.models.parallel``; a local Ray on loopback)."""
from __future__ import annotations

import time

import numpy as np
import polars as pl
import pytest

from flyer.backtest.api import prepare, sweep
from flyer.backtest.capacity import capacity_curve
from flyer.backtest.config import BacktestConfig
from flyer.core import ray_local
from flyer.core.errors import FlyerError, UsageError
from flyer.models import parallel
from flyer.models.ensemble import train_ensemble, train_stack
from flyer.models.pipeline import fit_folds, load_inputs
from models_kit import config

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module")
def runner():
    """A local Ray of 2 CPUs on the loopback address, shared by the module's tests."""
    with parallel.make_runner("ray", workers=2) as r:
        assert [n["NodeManagerAddress"] for n in ray.nodes()] == [ray_local.LOOPBACK]
        yield r
    assert not ray.is_initialized()


def _same_results(a, b) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.fold == y.fold and x.learner.info["best_iteration"] == y.learner.info["best_iteration"]
        for name in ("train", "valid", "test"):
            assert x.scores[name].equals(y.scores[name]), name


def test_walk_forward_folds_on_ray_equal_the_serial_loop(mstore, runner) -> None:
    cfg = config("lgbm", walk_forward=True, retrain_months=4)
    inputs = load_inputs(mstore, cfg, cfg.split.train[0], cfg.split.test[1])
    _, serial = fit_folds(inputs, cfg, threads=1)
    inputs = load_inputs(mstore, cfg, cfg.split.train[0], cfg.split.test[1])
    _, on_ray = fit_folds(inputs, cfg, threads=1, runner=runner)
    assert len(serial) >= 3
    _same_results(serial, on_ray)
    assert runner.describe() == "Ray: 2 worker(s) on 1 node(s)"


def test_ensemble_members_and_stacked_horizons_on_ray_equal_serial(mstore, runner, tmp_path) -> None:
    members = [config("lgbm", walk_forward=True, retrain_months=6), config("linear", walk_forward=True, retrain_months=6)]
    path_s, runs_s = train_ensemble(mstore, members, tmp_path / "serial", "ic", threads=1)
    path_r, runs_r = train_ensemble(mstore, members, tmp_path / "ray", "ic", threads=1, runner=runner)
    assert [r.id for r in runs_s] == [r.id for r in runs_r] and path_s.name == path_r.name
    for a, b in zip(runs_s, runs_r):
        assert a.predictions().equals(b.predictions()) and a.valid_predictions().equals(b.valid_predictions())
    assert pl.read_parquet(path_s / "predictions.parquet").equals(pl.read_parquet(path_r / "predictions.parquet"))
    horizons = [config("lgbm", label_horizon=h) for h in (1, 5)]
    stack_s, _ = train_stack(mstore, horizons, tmp_path / "serial", threads=1)
    stack_r, _ = train_stack(mstore, horizons, tmp_path / "ray", threads=1, runner=runner)
    assert pl.read_parquet(stack_s / "predictions.parquet").equals(pl.read_parquet(stack_r / "predictions.parquet"))


def _scores(store) -> pl.DataFrame:
    bars = store.bars(columns=["close"]).filter(pl.col("date") >= pl.date(2020, 1, 1))
    return bars.select("date", "symbol", (pl.col("close") / pl.col("close").shift(5).over("symbol")).alias("score")
                       ).drop_nulls()


def test_backtest_sweeps_and_capacity_ladders_on_ray_equal_one_engine_call(mstore, runner) -> None:
    scores = _scores(mstore)
    grid = {"k": [5, 10, 20], "n_drop": [1, 3]}
    res_s, table_s = sweep(mstore, scores, BacktestConfig(k=10), grid)
    res_r, table_r = sweep(mstore, scores, BacktestConfig(k=10), grid, runner=runner)
    assert table_s.equals(table_r)
    for a, b in zip(res_s, res_r):
        assert a.records.tobytes() == b.records.tobytes() and np.array_equal(a.blocked, b.blocked)
    cfg = BacktestConfig(k=10, n_drop=2).replace(impact="sqrt")
    cap_s = capacity_curve(mstore, scores, cfg, [1e6, 1e8, 1e10])
    cap_r = capacity_curve(mstore, scores, cfg, [1e6, 1e8, 1e10], runner=runner)
    assert cap_s.table.equals(cap_r.table) and cap_s.half_aum == cap_r.half_aum
    prep = prepare(mstore, scores, cfg)
    assert prep.market.shape[1] > 100


def test_local_workers_run_at_the_drivers_priority(runner) -> None:
    """Not at the raylet's default nice 15: beside any other job they would run at half speed."""
    import os

    niceness = lambda _s, _i: __import__("os").nice(0)  # noqa: E731 - a lambda travels by value
    assert set(runner.map(niceness, [0, 1, 2, 3], None)) == {os.nice(0)}


def test_an_unreachable_address_fails_at_once_in_one_line() -> None:
    t = time.perf_counter()
    with pytest.raises(FlyerError) as err:
        parallel.make_runner("ray", address="127.0.0.9:1")
    assert time.perf_counter() - t < ray_local.CONNECT_TIMEOUT_S + 2
    assert "cannot reach a Ray cluster at 127.0.0.9:1" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(UsageError, match="HOST:PORT"):
        parallel.make_runner("ray", address="nowhere")
    with pytest.raises(UsageError, match="unknown mode"):
        parallel.make_runner("threads")
    assert isinstance(parallel.make_runner(), parallel.SerialRunner)
