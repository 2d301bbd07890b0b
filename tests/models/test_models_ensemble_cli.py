"""``flyer train --model ensemble --members lgbm,linear,mlp`` and ``--model stack --horizons``:
members trained (or reused), combined per fold with weights fitted on validation only, saved
as a combined run the backtest reads."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.cli import app
from flyer.models import metrics
from flyer.models.runs import list_runs, load_run

SPAN = ["--factors", "basic", "--train", "2018-03-01:2019-12-31", "--valid", "2020-01-01:2020-06-30",
        "--test", "2020-07-01:2021-06-15", "--walk-forward", "--retrain-months", "6"]


@pytest.fixture()
def home(models_home: Path, tmp_path: Path) -> Path:
    h = tmp_path / "home"
    h.mkdir()
    shutil.copy(models_home / "market.duckdb", h / "market.duckdb")
    return h


def test_ensemble_ic_weights_from_validation(home: Path) -> None:
    args = ["train", "--model", "ensemble", "--members", "lgbm,linear,mlp", "--combine", "ic", "--epochs", "2",
            "--threads", "1", *SPAN, "--home", str(home)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    runs = list_runs(home)
    ens_id = runs.filter(pl.col("model") == "ensemble")["id"][0]
    assert f"ensemble {ens_id}" in r.output and r.output.count("member ") == 3
    met = json.loads((home / "runs" / ens_id / "metrics.json").read_text())
    members = [load_run(home, m["id"]) for m in met["members"]]
    assert [m.config.model.kind for m in members] == ["lgbm", "linear", "mlp"] and len(met["weights"]) == 2
    for k, ws in enumerate(met["weights"]):   # each member's validation RankIC of the fold, floored at 0
        want = [max(metrics.summary(m.valid_predictions().filter(pl.col("fold") == k), target=None)["RankIC"], 0.0)
                for m in members]
        assert ws == pytest.approx(want if sum(want) > 0 else [1.0] * 3)
    scores = pl.read_parquet(home / "runs" / ens_id / "predictions.parquet")
    assert scores.height == members[0].predictions().height and met["test"]["RankIC"] > 0
    again = CliRunner().invoke(app, args)      # members reused, same combined id
    assert again.exit_code == 0 and again.output.count("(reused)") == 3 and ens_id in again.output
    bt = CliRunner().invoke(app, ["backtest", "--run", ens_id, "--k", "20", "--n-drop", "4", "--home", str(home)])
    assert bt.exit_code == 0, bt.output


def test_stack_horizons_from_cli(home: Path) -> None:
    r = CliRunner().invoke(app, ["train", "--model", "stack", "--members", "linear", "--horizons", "1,5", *SPAN,
                                 "--home", str(home)])
    assert r.exit_code == 0, r.output
    runs = list_runs(home)
    sid = runs.filter(pl.col("model") == "stack")["id"][0]
    met = json.loads((home / "runs" / sid / "metrics.json").read_text())
    assert [m["horizon"] for m in met["members"]] == [1, 5] and all(len(w) == 2 for w in met["weights"])
    assert runs.filter(pl.col("model") == "linear").height == 2
