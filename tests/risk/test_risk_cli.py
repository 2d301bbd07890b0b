"""``flyer risk build`` / ``flyer risk info`` through the CLI: build, append nothing on a
second run, list and show models, one-line errors."""
from __future__ import annotations

from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from flyer.cli import app
from flyer.data.store import MarketStore


def test_build_info_and_errors(sim_frames, tmp_path: Path) -> None:
    home = tmp_path / "h"
    with MarketStore.open(home) as store:
        store.write("sim", sim_frames)
    runner = CliRunner()
    r = runner.invoke(app, ["risk", "build", "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert "built" in r.output and "R^2 by year" in r.output
    key = next((home / "risk").iterdir()).name
    r = runner.invoke(app, ["risk", "build", "--home", str(home)])
    assert r.exit_code == 0 and "current: 0 dates" in r.output
    r = runner.invoke(app, ["risk", "info", "--home", str(home)])
    assert r.exit_code == 0 and key in r.output
    r = runner.invoke(app, ["risk", "info", "--home", str(home), "--key", key[:5]])
    assert r.exit_code == 0 and "forecast volatility" in r.output and "momentum" in r.output
    assert "bias statistic" in r.output and "optimised" in r.output and "eigenfactor-adjusted" in r.output
    cfg = tmp_path / "risk.toml"
    cfg.write_text('[risk]\nshrinkage = 0.3\nestimation_universe = "000905.SH+000300.SH"\n')
    r = runner.invoke(app, ["risk", "build", "--home", str(home), "--config", str(cfg)])
    assert r.exit_code == 0 and len(list((home / "risk").iterdir())) == 2
    r = runner.invoke(app, ["risk", "info", "--home", str(home), "--key", "zzz"])
    assert r.exit_code != 0
    cfg.write_text('[risk]\nhalflife = 3\n')
    r = runner.invoke(app, ["risk", "build", "--home", str(home), "--config", str(cfg)])
    assert r.exit_code != 0 and "unknown setting(s) in risk: halflife" in str(r.exception or r.output)
    meta = pl.read_parquet(home / "risk" / key / "factors.parquet")
    assert {"country", "size", "r2"} <= set(meta.columns)
