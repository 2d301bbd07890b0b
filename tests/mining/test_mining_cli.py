"""``flyer mine`` in-process (typer's runner) on the shared sim home (read-only; output in tmp)."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from flyer.factors.library import load
from flyer.cli import app
from flyer.errors import FlyerError

ARGS = ["mine", "--universe", "all", "--horizon", "5", "--population", "8", "--train",
        "2018-01-01:2019-12-31", "--valid", "2020-01-01:2020-12-31", "--mode", "serial", "--seed", "3"]


def test_mine_writes_a_pool_and_resumes(sim_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "mined.toml"
    runner = CliRunner()
    first = runner.invoke(app, [*ARGS, "--generations", "1", "--out", str(out), "--home", str(sim_home)])
    assert first.exit_code == 0, first.output
    assert "gen 1:" in first.output and "factor(s) ->" in first.output
    ckpt = out.with_name("mined.toml.ckpt.json")
    assert out.exists() and ckpt.exists()
    more = runner.invoke(app, [*ARGS, "--generations", "2", "--out", str(out), "--home", str(sim_home)])
    assert more.exit_code == 0, more.output
    assert "resumed from the checkpoint after generation 1" in more.output
    assert "gen 2:" in more.output and "gen 1:" not in more.output
    if "mined_" in out.read_text():     # an empty pool leaves a file of comments only
        assert all(n.startswith("mined_") for n in load(out).names)


def test_mine_reports_user_errors(sim_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad_span = runner.invoke(app, [*ARGS, "--train", "2019-01-01", "--home", str(sim_home)])
    assert isinstance(bad_span.exception, FlyerError) and "--train" in str(bad_span.exception)
    bad_out = runner.invoke(app, [*ARGS, "--out", str(tmp_path / "x.csv"), "--home", str(sim_home)])
    assert isinstance(bad_out.exception, FlyerError)
    empty = runner.invoke(app, [*ARGS, "--home", str(tmp_path / "nohome"), "--out", str(tmp_path / "y.toml")])
    assert isinstance(empty.exception, FlyerError) and "no market store" in str(empty.exception)
