"""``flyer mine`` in-process (typer's runner) on the shared sim home (read-only; output in tmp)."""
from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from flyer.cli import app
from flyer.core.errors import FlyerError, UsageError
from flyer.factors.library import load

ARGS = ["mine", "--universe", "all", "--horizon", "5", "--population", "12", "--train",
        "2018-01-01:2019-06-30", "--valid", "2019-07-01:2019-12-31", "--test", "2020-01-01:2020-12-31",
        "--mode", "serial", "--seed", "3"]


def test_mine_writes_a_weighted_pool_and_a_report_and_resumes(sim_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "mined.toml"
    runner = CliRunner()
    first = runner.invoke(app, [*ARGS, "--generations", "1", "--baseline", "3", "--out", str(out),
                                "--home", str(sim_home)])
    assert first.exit_code == 0, first.output
    assert "gen 1:" in first.output and "candidates/s" in first.output and "cache hit rate" in first.output
    ckpt = out.with_name("mined.toml.ckpt.json")
    assert out.exists() and ckpt.exists()
    fs = load(out)
    assert len(fs) >= 1 and fs.weights is not None and len(fs.weights) == len(fs)
    assert all(n.startswith("mined_") for n in fs.names)
    for head in ("mined pool: combined signal per period", "combined signal per year", "correlation matrix",
                 "baseline: top 3 Alpha158 by validation IC"):
        assert head in first.output
    report = (tmp_path / "mined.report.md").read_text()
    for head in ("## mined pool", "### Combined signal per period", "### Combined signal per year",
                 "### Members", "### Correlation matrix", "## baseline: top 3 Alpha158", "| test |", "2020 (test)"):
        assert head in report
    more = runner.invoke(app, [*ARGS, "--generations", "2", "--baseline", "0", "--out", str(out),
                               "--home", str(sim_home)])
    assert more.exit_code == 0, more.output
    assert "resumed from the checkpoint after generation 1" in more.output
    assert "gen 2:" in more.output and "gen 1:" not in more.output and "baseline" not in more.output


def test_an_empty_pool_writes_a_loadable_file_and_says_so(sim_home: Path, tmp_path: Path) -> None:
    out = tmp_path / "empty.toml"
    res = CliRunner().invoke(app, [*ARGS, "--generations", "1", "--min-valid-gain", "1", "--baseline", "0",
                                   "--out", str(out), "--home", str(sim_home)])
    assert res.exit_code == 0, res.output
    assert "no formula was accepted" in res.output and "empty (loadable) pool" in res.output
    fs = load(out)
    assert len(fs) == 0 and fs.weights == ()
    assert "[factors]" in out.read_text() and "[weights]" in out.read_text()
    bt = CliRunner().invoke(app, ["backtest", "--factor-set", str(out), "--combined", "--home", str(sim_home)])
    assert isinstance(bt.exception, FlyerError) and "empty" in str(bt.exception)


def test_mine_reports_user_errors(sim_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    bad_span = runner.invoke(app, [*ARGS, "--train", "2019-01-01", "--home", str(sim_home)])
    assert isinstance(bad_span.exception, FlyerError) and "--train" in str(bad_span.exception)
    overlap = runner.invoke(app, [*ARGS, "--test", "2019-09-01:2020-12-31", "--home", str(sim_home),
                                  "--out", str(tmp_path / "o.toml")])
    assert isinstance(overlap.exception, FlyerError) and "test span" in str(overlap.exception)
    bad_out = runner.invoke(app, [*ARGS, "--out", str(tmp_path / "x.csv"), "--home", str(sim_home)])
    assert isinstance(bad_out.exception, FlyerError)
    bad_obj = runner.invoke(app, [*ARGS, "--objective", "best", "--home", str(sim_home)])
    assert isinstance(bad_obj.exception, FlyerError) and "objective" in str(bad_obj.exception)
    empty = runner.invoke(app, [*ARGS, "--home", str(tmp_path / "nohome"), "--out", str(tmp_path / "y.toml")])
    assert isinstance(empty.exception, FlyerError) and "no market store" in str(empty.exception)


def test_mine_names_the_option_and_refuses_spans_without_data(sim_home: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    small = runner.invoke(app, [*ARGS, "--population", "4", "--home", str(sim_home), "--out", str(tmp_path / "p.toml")])
    assert isinstance(small.exception, UsageError) and small.exception.exit_code == 2
    assert "--population must be >= 5" in str(small.exception) and "elite" in str(small.exception)
    assert "--" in str(small.exception).split()[0]            # names the option, not a config field
    batch = runner.invoke(app, [*ARGS, "--batch-size", "0", "--home", str(sim_home)])
    assert isinstance(batch.exception, UsageError) and "--batch-size must be >= 1" in str(batch.exception)
    # the store holds 2018-2020: a validation or test span after it has no usable date
    for opt, span, name in (("--valid", "2021-01-01:2021-06-30", "validation"),
                            ("--test", "2021-01-01:2021-12-31", "test")):
        args = [a for a in ARGS]
        if opt == "--valid":
            args[args.index("--valid") + 1] = span
            args = args[:args.index("--test")] + args[args.index("--test") + 2:]
        else:
            args[args.index("--test") + 1] = span
        res = runner.invoke(app, [*args, "--home", str(sim_home), "--out", str(tmp_path / f"{name}.toml")])
        assert isinstance(res.exception, FlyerError), res.output
        msg = str(res.exception)
        assert f"{name} span {span.replace(':', ':')}" in msg and "has 0 usable dates" in msg and "\n" not in msg
        assert "gen 1" not in res.output and not (tmp_path / f"{name}.toml").exists()
