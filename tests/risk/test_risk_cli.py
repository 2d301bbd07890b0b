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


def _main(args: list[str], capsys) -> tuple[int, str]:
    """``flyer ...`` as the console entry point runs it: (exit code, stdout + stderr)."""
    import pytest

    from flyer.cli import main

    with pytest.raises(SystemExit) as ex:
        main(args)
    out = capsys.readouterr()
    return int(ex.value.code or 0), out.out + out.err


def test_too_few_stocks_and_no_models_are_errors(tmp_path: Path, capsys) -> None:
    """A market too small for the model's factors fails in one line, nothing stored; asking for
    a model by key where none exists is an error (exit 1), not an empty listing."""
    import datetime as dt

    from flyer.data.sources.sim import SimConfig, generate

    home = tmp_path / "tiny"
    with MarketStore.open(home) as store:
        store.write("sim", generate(SimConfig(n_stocks=10, start=dt.date(2019, 1, 1), end=dt.date(2019, 12, 31), seed=3)))
    code, out = _main(["risk", "info", "--home", str(home), "--key", "bogus"], capsys)
    assert code == 1 and "no risk model 'bogus'" in out and len(out.strip().splitlines()) == 1, out
    code, out = _main(["risk", "info", "--home", str(home), "--key", "../runs"], capsys)
    assert code == 2 and "bad risk model id '../runs'" in out and len(out.strip().splitlines()) == 1, out
    code, out = _main(["risk", "info", "--home", str(home)], capsys)
    assert code == 0 and "no risk models" in out
    code, out = _main(["risk", "build", "--home", str(home)], capsys)
    assert code == 1 and "never holds more stocks than the model's" in out, out
    assert len(out.strip().splitlines()) == 1, out
    assert not (home / "risk").exists() or not any(p.is_dir() for p in (home / "risk").iterdir())
