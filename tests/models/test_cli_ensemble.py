"""``flyer train/runs/predict`` end to end, and ensembles / stacking of runs."""
from __future__ import annotations

import shutil

import numpy as np
import polars as pl
from typer.testing import CliRunner

from flyer.cli import app
from flyer.models.ensemble import rank_average, save_combined, stack
from flyer.models.pipeline import train
from flyer.models.runs import list_runs
from models_kit import D, config


def test_cli_train_runs_predict(models_home, tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(models_home / "market.duckdb", home / "market.duckdb")
    r = CliRunner().invoke(app, ["train", "--model", "linear", "--factors", "basic", "--universe", "csi500",
                                 "--train", "2018-03-01:2019-12-31", "--valid", "2020-01-01:2020-06-30",
                                 "--test", "2020-07-01:2021-06-15", "--home", str(home)])
    assert r.exit_code == 0, r.output
    (rid,) = list_runs(home)["id"].to_list()
    assert rid in r.output and "RankIC" in r.output
    r = CliRunner().invoke(app, ["runs", "--home", str(home)])
    assert r.exit_code == 0 and rid[:6] in r.output
    out = tmp_path / "s.parquet"
    r = CliRunner().invoke(app, ["predict", "--run", rid, "--date", "2021-06-15", "--out", str(out), "--home", str(home)])
    assert r.exit_code == 0, r.output
    s = pl.read_parquet(out)
    assert s.columns == ["date", "symbol", "score"] and 50 < s.height <= 500
    r = CliRunner().invoke(app, ["train", "--model", "xgb", "--home", str(home)])
    assert r.exit_code != 0


def test_rank_average() -> None:
    d = D(2021, 1, 4)
    a = pl.DataFrame({"date": [d] * 4, "symbol": list("abcd"), "score": [1.0, 2.0, 3.0, 4.0]})
    b = pl.DataFrame({"date": [d] * 3, "symbol": list("abc"), "score": [30.0, 20.0, 10.0]})
    e = rank_average([a, b]).sort("symbol")
    assert np.allclose(e["score"].to_numpy(), [(0.25 + 1) / 2, (0.5 + 2 / 3) / 2, (0.75 + 1 / 3) / 2, 1.0])


def test_stack_horizons_and_save(mstore, tmp_path) -> None:
    runs = [train(mstore, config("linear", label_horizon=h), home=tmp_path) for h in (1, 5, 20)]
    scores, weights = stack(runs, target=0)
    assert scores.columns == ["date", "symbol", "score"] and len(weights) == 1 and len(weights[0]) == 3
    assert scores.height > 0.9 * runs[0].predictions().height
    ens = rank_average([r.predictions() for r in runs])
    path = save_combined(tmp_path, "ensemble", runs, ens)
    assert (path / "predictions.parquet").exists()
    listed = list_runs(tmp_path)
    assert "ensemble" in listed["model"].to_list() and listed.height == 4


def test_rank_average_definition_ties_nulls_weights() -> None:
    """Per date: average rank / number of non-null scores (ties averaged); weighted mean of the
    ranks a stock has; dates ranked apart."""
    d1, d2 = D(2021, 1, 4), D(2021, 1, 5)
    a = pl.DataFrame({"date": [d1] * 4 + [d2] * 2, "symbol": list("abcd") + list("ab"),
                      "score": [1.0, 1.0, None, 3.0, 5.0, 4.0]})
    b = pl.DataFrame({"date": [d1] * 2, "symbol": list("ab"), "score": [2.0, 1.0]})
    e = rank_average([a, b], weights=[1.0, 3.0])
    got = {(r["date"], r["symbol"]): r["score"] for r in e.iter_rows(named=True)}
    # d1 in a: a,b tie -> 1.5/3, d -> 3/3, c null (not ranked); in b: a 2/2, b 1/2
    assert np.isclose(got[(d1, "a")], (0.5 + 3 * 1.0) / 4) and np.isclose(got[(d1, "b")], (0.5 + 3 * 0.5) / 4)
    assert np.isclose(got[(d1, "d")], 1.0) and (d1, "c") not in got
    assert np.isclose(got[(d2, "a")], 1.0) and np.isclose(got[(d2, "b")], 0.5)
    assert e.columns == ["date", "symbol", "score"] and e["score"].dtype == pl.Float64
