"""`flyer nightly` through the executable: dry run, non-trading day, config errors, lock exit code."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flyer.config import NightlyConfig, from_dict, load
from flyer.core.errors import FlyerError


def run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLYER_HOME": str(home)}
    return subprocess.run([sys.executable, "-m", "flyer", "nightly", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_dry_run_lists_stages(fresh_home: Path) -> None:
    r = run(["--date", "2024-12-30", "--dry-run"], fresh_home)
    assert r.returncode == 0, r.stderr
    assert "would run ingest, validate, factors, score, portfolio, orders" in r.stdout


def test_non_trading_day_exits_cleanly(fresh_home: Path) -> None:
    r = run(["--date", "2024-10-01"], fresh_home)
    assert r.returncode == 0, r.stderr
    assert "not a trading day" in r.stdout


def test_bad_config_and_lock(fresh_home: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[portfolio]\nkk = 3\n")
    r = run(["--config", str(bad)], fresh_home)
    assert r.returncode == 2 and r.stderr.strip() == "error: config: unknown setting(s) in portfolio: kk"
    (fresh_home / "nightly.lock").write_text(str(os.getppid()))
    r = run(["--date", "2024-12-30"], fresh_home)
    assert r.returncode == 3 and "another nightly run holds" in r.stderr


def test_config_roundtrip(tmp_path: Path) -> None:
    p = tmp_path / "n.toml"
    p.write_text('factor_set = "alpha158"\nruns = "abc"\n[source]\nkind = "sim"\nend = "2020-12-31"\n[portfolio]\nk = 30\n')
    cfg = load(p)
    assert cfg.runs == ("abc",) and cfg.portfolio.backtest.k == 30 and str(cfg.source.end) == "2020-12-31"
    assert cfg.key() == load(p).key() != NightlyConfig().key()
    y = tmp_path / "n.yaml"
    y.write_text("factor_set: alpha158\nruns: [abc]\nsource: {kind: sim, end: '2020-12-31'}\nportfolio: {k: 30}\n")
    assert load(y).key() == cfg.key()
    with pytest.raises(FlyerError, match="unknown source .ftp."):
        from_dict({"source": {"kind": "ftp"}})
    with pytest.raises(FlyerError, match="must be a date"):
        from_dict({"source": {"end": "soon"}})
