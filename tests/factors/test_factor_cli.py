"""``flyer factors compute | eval | list`` end to end on a copy of the small sim store."""
from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from flyer.data.store import MarketStore
from flyer.factors import compute, storage
from flyer.factors.library import load
from flyer.factors.pipeline import load_bars


@pytest.fixture()
def home(sim_home, tmp_path):
    """A writable copy of the shared sim home (market store only)."""
    dst = tmp_path / "home"
    dst.mkdir()
    shutil.copy(sim_home / "market.duckdb", dst / "market.duckdb")
    return dst


def _run(args: list[str]):
    from flyer.cli import app

    result = CliRunner().invoke(app, args, catch_exceptions=True)
    return result


def test_compute_then_nightly_append_then_read(home):
    r = _run(["factors", "compute", "--set", "alpha158", "--start", "2020-06-01", "--end", "2020-06-30",
              "--home", str(home)])
    assert r.exit_code == 0, r.output
    root = storage.set_root(home, load("alpha158"))
    days = storage.stored_dates(root)
    assert days[0] == dt.date(2020, 6, 1) and days[-1] == dt.date(2020, 6, 30)
    mtime = (root / f"date={days[0]}" / storage.PART).stat().st_mtime_ns
    r = _run(["factors", "compute", "--set", "alpha158", "--end", "2020-07-01", "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert "1 dates" in r.output
    assert storage.stored_dates(root)[-1] == dt.date(2020, 7, 1)
    assert (root / f"date={days[0]}" / storage.PART).stat().st_mtime_ns == mtime  # history untouched
    stored = storage.read(root, dt.date(2020, 7, 1), dt.date(2020, 7, 1))
    with MarketStore.open(home, read_only=True) as store:
        bars = store.bars(end=dt.date(2020, 7, 1)).join(store.instruments().select("symbol", "industry"), on="symbol")
    full = compute(bars, load("alpha158"), dtype=pl.Float32).filter(pl.col("date") == dt.date(2020, 7, 1)).sort("date", "symbol")
    assert_frame_equal(stored, full, rel_tol=1e-9, abs_tol=1e-12)


def test_load_bars_takes_exactly_the_lookback(home):
    fs = load("alpha158")
    with MarketStore.open(home, read_only=True) as store:
        bars = load_bars(store, fs, dt.date(2020, 7, 1), dt.date(2020, 7, 1))
        cal = store.calendar(end=dt.date(2020, 7, 1))
    assert bars["date"].n_unique() == fs.lookback + 1
    assert bars["date"].min() == cal[-fs.lookback - 1]


def test_eval_prints_ranked_table_and_writes_report(home, tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('REV5 = "0 - Delta($close, 5) / Ref($close, 5)"\nVOL20 = "Std($close / Ref($close, 1), 20)"\n'
                    'NEUT = "Neutralize(CSRank(Mean($volume, 5)), industry, cap)"\n')
    out = tmp_path / "r.html"
    r = _run(["factors", "eval", "--set", str(mine), "--universe", "csi500", "--horizon", "5",
              "--start", "2019-06-01", "--end", "2020-06-30", "--report", str(out), "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert "REV5" in r.output and "NEUT" in r.output and "dropped" in r.output
    page = out.read_text()
    assert "VOL20" in page and "Rows dropped" in page


def test_list_and_errors(home, tmp_path):
    r = _run(["factors", "list", "--home", str(home)])
    assert r.exit_code == 0 and "alpha158" in r.output and "wq101" in r.output
    r = _run(["factors", "list", "--set", "alpha360", "--home", str(home)])
    assert "CLOSE59" in r.output
    bad = tmp_path / "bad.toml"
    bad.write_text('X = "Meen($close, 5)"\n')
    r = _run(["factors", "compute", "--set", str(bad), "--home", str(home)])
    assert r.exit_code != 0
    assert "unknown operator 'Meen' at column 1" in str(r.exception)
