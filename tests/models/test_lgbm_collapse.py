"""A sim market where LightGBM's early stopping stops at one tree: qlib's settings collapse
(and the warning fires, loudly, in metrics.json, ``flyer train`` and ``flyer runs``); flyer's
defaults keep at least 100 trees and train a real model with distinct scores."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from flyer.cli import app
from flyer.models.config import make_config
from flyer.models.pipeline import fit_folds, fold_metrics, load_inputs

D = dt.date
# a one-month validation window makes qlib's early stopping (lr 0.2, l2, 50 rounds) stop early
SPLIT = dict(train=(D(2018, 3, 1), D(2019, 6, 30)), valid=(D(2019, 7, 1), D(2019, 7, 31)),
             test=(D(2019, 11, 1), D(2020, 12, 15)))
ARGS = ["--factors", "basic", "--train", "2018-03-01:2019-06-30", "--valid", "2019-07-01:2019-07-31",
        "--test", "2019-11-01:2020-12-15", "--walk-forward", "--retrain-months", "3", "--threads", "1"]


def _fit(store, **kw) -> dict:  # noqa: ANN001
    cfg = make_config("lgbm", SPLIT["train"], SPLIT["valid"], SPLIT["test"], factors="basic", lookback=25,
                      walk_forward=True, retrain_months=3, **kw)
    inputs = load_inputs(store, cfg, cfg.split.train[0], cfg.split.test[1])
    _, results = fit_folds(inputs, cfg, threads=1)
    return fold_metrics(results)


@pytest.fixture(scope="module")
def fits(sim_home: Path) -> dict[str, dict]:
    from flyer.data.store import MarketStore

    with MarketStore.open(sim_home, read_only=True) as store:
        return {"qlib": _fit(store, preset="qlib"), "default": _fit(store)}


def test_qlib_settings_collapse_and_warn(fits: dict[str, dict]) -> None:
    m = fits["qlib"]
    trees = [f["info"]["best_iteration"] for f in m["folds"]]
    assert min(trees) == 1                      # the premise: a fold stops at one tree
    assert m["test"]["distinct"] < 0.5          # a few dozen distinct scores a day: ties
    assert any("1 tree(s) kept (< 20)" in w for w in m["warnings"]) and len(m["warnings"]) >= len(trees) - 1


def test_defaults_train_a_real_model(fits: dict[str, dict]) -> None:
    m = fits["default"]
    trees = [f["info"]["best_iteration"] for f in m["folds"]]
    assert min(trees) >= 100 and m["warnings"] == []
    assert all(f["test"]["distinct"] > 0.95 for f in m["folds"])
    assert m["test"]["RankIC"] > 0.015 and m["test"]["RankIC"] > fits["qlib"]["test"]["RankIC"] - 0.005
    # where the validation IC peaked below the floor, the floor (not the peak) set the trees
    peaks = [f["info"]["valid_peak_iteration"] for f in m["folds"]]
    assert min(peaks) < 100 and all(f["info"]["stop_metric"] == "ic" for f in m["folds"])


def test_cli_warns_loudly(sim_home: Path, tmp_path: Path, console_width: Callable[[int], None]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(sim_home / "market.duckdb", home / "market.duckdb")
    r = CliRunner().invoke(app, ["train", "--model", "lgbm", "--preset", "qlib", *ARGS, "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert "WARNING fold" in r.output and "model collapsed" in r.output and "trees kept per fold" in r.output
    console_width(100)
    runs = CliRunner().invoke(app, ["runs", "--home", str(home)])
    line = next(x for x in runs.output.splitlines() if x[:4].strip() and "lgbm" in x)
    assert line.rstrip().endswith("!") and line.split()[-1].startswith("1/") and "collapsed folds" in runs.output
