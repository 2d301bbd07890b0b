"""Alpha from stacked horizons: weights fitted on each fold's validation period only, the
contributions add up to the blend's IC, and ``flyer backtest --run A,B`` runs the blend."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.models.blend import blend
from flyer.cli import app
from flyer.data.store import MarketStore
from flyer.models.config import make_config
from flyer.models.pipeline import train

D = dt.date


@pytest.fixture(scope="module")
def runs(sim_frames, tmp_path_factory):
    """Linear runs at horizons 1 and 5 on the basic features, two walk-forward folds, in a home
    that also holds the sim market."""
    home = tmp_path_factory.mktemp("alpha_runs")
    with MarketStore.open(home) as store:
        store.write("sim", sim_frames)
    out = []
    with MarketStore.open(home, read_only=True) as store:
        for h in (1, 5):
            cfg = make_config("linear", (D(2018, 3, 1), D(2019, 6, 30)), (D(2019, 7, 1), D(2019, 12, 31)),
                              (D(2020, 1, 1), D(2020, 12, 31)), factors="basic", lookback=25, label_horizon=h,
                              walk_forward=True, retrain_months=6)
            out.append(train(store, cfg, home=home, threads=1))
    return home, out


def test_weights_come_from_validation_and_contributions_add_up(runs, tmp_path: Path) -> None:
    home, (r1, r5) = runs
    mix = blend([r1, r5], target=1)
    assert mix.weights["fold"].n_unique() == 2 and mix.weights.height == 4
    c = mix.contributions.filter(pl.col("year") == "all")
    blend_row = c.filter(pl.col("source") == "blend")
    assert blend_row["ic"].item() == pytest.approx(c.filter(pl.col("source") != "blend")["contribution"].sum())
    # the blend's own per-date correlation with the (z-scored, clipped) target label, computed directly
    lab = r5.oos().select("fold", "date", "symbol", pl.col("label").cast(pl.Float64)).with_columns(
        ((pl.col("label") - pl.col("label").mean().over("date")) / pl.col("label").std().over("date")).clip(-3, 3)
        .alias("y"))
    direct = mix.scores.join(lab, on=["date", "symbol"]).group_by("date").agg(pl.corr("score", "y")).drop_nans()
    assert blend_row["ic"].item() == pytest.approx(direct["score"].mean(), abs=1e-9)
    # weights use validation rows only: scrambling the TEST labels leaves them unchanged
    v, o = r5.valid_predictions(), r5.oos()
    for k in range(2):
        assert v.filter(pl.col("fold") == k)["date"].max() < o.filter(pl.col("fold") == k)["date"].min()
    import shutil

    from flyer.models.runs import load_run

    shutil.copytree(home / "runs" / r5.id, tmp_path / "runs" / r5.id)
    o.with_columns(pl.col("label").shuffle(seed=1)).write_parquet(tmp_path / "runs" / r5.id / "oos.parquet")
    scrambled = blend([r1, load_run(tmp_path, r5.id)], target=1)
    np.testing.assert_allclose(scrambled.weights["weight"], mix.weights["weight"])
    assert scrambled.contributions["ic"].to_list() != mix.contributions["ic"].to_list()


def test_cli_blends_runs(runs) -> None:
    home, (r1, r5) = runs
    res = CliRunner().invoke(app, ["backtest", "--run", f"{r1.id},{r5.id}", "--blend-target", "5", "--home",
                                   str(home), "--k", "10"])
    assert res.exit_code == 0, res.output
    assert "alpha blend" in res.output and "contribution" in res.output
    bad = CliRunner().invoke(app, ["backtest", "--run", f"{r1.id},{r5.id}", "--blend-target", "7", "--home",
                                   str(home)])
    from flyer.core.errors import UsageError

    assert isinstance(bad.exception, UsageError) and "no run has that label horizon" in str(bad.exception)
