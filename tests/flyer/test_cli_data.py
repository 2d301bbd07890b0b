"""End-to-end through the `flyer` executable: ingest, info, errors."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

FLYER = [sys.executable, "-m", "flyer"]


def run(args: list[str], home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "FLYER_HOME": str(home)}
    return subprocess.run(FLYER + args, capture_output=True, text=True, env=env, timeout=300)


def test_ingest_sim_then_info(fresh_home: Path) -> None:
    r = run(["ingest", "--source", "sim", "--stocks", "30", "--start", "2020-01-01", "--end", "2020-06-30"], fresh_home)
    assert r.returncode == 0, r.stderr
    assert "rows written" in r.stdout
    assert (fresh_home / "market.duckdb").exists()
    r = run(["info"], fresh_home)
    assert r.returncode == 0 and "000905.SH" in r.stdout
    first = r.stdout.split("symbols ")[1].split("\n")[0]  # "N  bars M  span ..."
    again = run(["ingest", "--source", "sim", "--stocks", "30", "--start", "2020-01-01", "--end", "2020-06-30"], fresh_home)
    assert again.returncode == 0
    assert run(["info"], fresh_home).stdout.split("symbols ")[1].split("\n")[0] == first  # idempotent


def test_errors_are_one_line_and_nonzero(fresh_home: Path) -> None:
    r = run(["info"], fresh_home)
    assert r.returncode != 0 and r.stderr.strip().startswith("error: no market store")
    r = run(["ingest", "--source", "nope"], fresh_home)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "unknown source" in r.stderr
    r = run(["ingest", "--source", "files", "--path", str(fresh_home / "missing.csv")], fresh_home)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1
