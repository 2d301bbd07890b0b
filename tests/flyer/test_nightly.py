"""The nightly job: incremental equals batch, idempotent reruns, resume after failures, lock."""
from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import polars as pl
import pytest

from flyer.backtest.config import BacktestConfig
from flyer.data.store import MarketStore
from flyer.config import NightlyConfig, PortfolioConfig
from flyer.data.sources import ingest, make_source
from flyer.data.sources.sim import SimSource
from flyer.core.errors import FlyerError
from flyer.core.lock import LockedError, RunLock
from flyer.nightly import STAGES, run_night

START, BOOT = dt.date(2019, 1, 1), dt.date(2020, 3, 31)
FORMULAS = """
ROC5 = "Ref($close, 5)/$close"
MA10 = "Mean($close, 10)/$close"
STD20 = "Std($close, 20)/$close"
VMA5 = "Mean($volume, 5)/($volume+1e-12)"
CORR10 = "Corr($close, Log($volume+1), 10)"
"""


def _cfg(factor_file: Path, run_id: str) -> NightlyConfig:
    return NightlyConfig(factor_set=str(factor_file), runs=(run_id,),
                         source=SimSource(stocks=60, seed=11, start=START, end=dt.date(2020, 12, 31)),
                         portfolio=PortfolioConfig(BacktestConfig(k=10, n_drop=2, capital=2_000_000)))


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """A home with the sim market through BOOT and a small ridge run (fast, never constant)."""
    from flyer import models

    root = tmp_path_factory.mktemp("nightly")
    factor_file = root / "small.toml"
    factor_file.write_text(FORMULAS)
    home = root / "base"
    with MarketStore.open(home) as store:
        ingest(store, make_source("sim", start=START, end=BOOT, stocks=60, seed=11))
        cfg = models.make_config("linear", train=(dt.date(2019, 2, 1), dt.date(2019, 9, 30)),
                                 valid=(dt.date(2019, 10, 15), dt.date(2019, 12, 31)),
                                 test=(dt.date(2020, 1, 15), dt.date(2020, 3, 20)), factors=str(factor_file))
        run = models.train(store, cfg, home=home)
    return home, factor_file, run.id


def _clone(base_home: Path, dest: Path) -> Path:
    shutil.copytree(base_home, dest)
    return dest


def _days(home: Path, n: int) -> list[dt.date]:
    from flyer.data.calendar import sse_calendar

    return [d for d in sse_calendar(BOOT + dt.timedelta(days=1), dt.date(2020, 12, 31))][:n]


def _outputs(home: Path, days: list[dt.date], factor_file: Path) -> dict[str, pl.DataFrame]:
    from flyer.factors import storage
    from flyer.factors.library import load

    with MarketStore.open(home, read_only=True) as store:
        targets = store.query("SELECT * FROM nightly_targets WHERE date >= ? ORDER BY date, symbol", [days[0]])
        orders = store.query("SELECT * FROM nightly_orders WHERE date >= ? ORDER BY date, symbol, side", [days[0]])
    scores = pl.concat([pl.read_parquet(home / "nightly" / d.isoformat() / "scores.parquet") for d in days])
    facs = storage.read(storage.set_root(home, load(factor_file)), days[0], days[-1])
    return {"targets": targets, "orders": orders, "scores": scores.sort("date", "symbol"), "factors": facs}


def test_incremental_equals_batch(base, tmp_path: Path) -> None:
    home0, factor_file, run_id = base
    cfg = _cfg(factor_file, run_id)
    days = _days(home0, 20)
    inc = _clone(home0, tmp_path / "inc")
    for d in days:
        res = run_night(inc, cfg, d)
        assert res.ran == STAGES
    batch = _clone(home0, tmp_path / "batch")
    with MarketStore.open(batch) as store:  # one batch ingest of the whole span first
        ingest(store, make_source("sim", start=START, end=days[-1], stocks=60, seed=11))
    for d in days:
        run_night(batch, cfg, d)
    a, b = _outputs(inc, days, factor_file), _outputs(batch, days, factor_file)
    for name in a:
        assert a[name].height > 0, name
        assert a[name].equals(b[name]), name
    assert a["orders"]["side"].n_unique() == 2  # dropout sells and buys happen


def test_rerun_changes_nothing_and_failures_resume(base, tmp_path: Path) -> None:
    home0, factor_file, run_id = base
    cfg = _cfg(factor_file, run_id)
    d1, d2 = _days(home0, 2)
    ref = _clone(home0, tmp_path / "ref")
    run_night(ref, cfg, d1)
    run_night(ref, cfg, d2)
    again = run_night(ref, cfg, d2)
    assert again.ran == () and again.skipped == STAGES
    want = _outputs(ref, [d1, d2], factor_file)
    for stage in STAGES:
        home = _clone(home0, tmp_path / f"crash_{stage}")
        run_night(home, cfg, d1)
        with MarketStore.open(home, read_only=True) as s:
            bars_before = s.info()["bar_rows"]

        def boom(night, stage=stage):
            raise RuntimeError(f"killed before {stage}")

        with pytest.raises(FlyerError, match=f"stage {stage} failed"):
            run_night(home, cfg, d2, hooks={stage: boom})
        if stage == "ingest":
            with MarketStore.open(home, read_only=True) as s:
                assert s.info()["bar_rows"] == bars_before  # store unchanged
        resumed = run_night(home, cfg, d2)
        assert resumed.ran == STAGES[STAGES.index(stage):]
        got = _outputs(home, [d1, d2], factor_file)
        for name in want:
            assert got[name].equals(want[name]), (stage, name)


def test_non_trading_day_and_lock(base, tmp_path: Path) -> None:
    home0, factor_file, run_id = base
    cfg = _cfg(factor_file, run_id)
    home = _clone(home0, tmp_path / "h")
    res = run_night(home, cfg, dt.date(2020, 5, 1))  # Labour Day
    assert not res.trading_day and "not a trading day" in res.messages[0]
    (home / "nightly.lock").write_text(str(os.getppid()))
    with pytest.raises(LockedError, match="another nightly run holds"):
        run_night(home, cfg, _days(home0, 1)[0])
    (home / "nightly.lock").write_text("999999999")  # stale: no such process
    with RunLock(home / "nightly.lock"):
        assert (home / "nightly.lock").read_text().split()[0] == str(os.getpid())
    assert not (home / "nightly.lock").exists()


def test_monthly_retraining_without_configured_runs(base, tmp_path: Path) -> None:
    import dataclasses

    from flyer.config import RetrainConfig

    home0, factor_file, _ = base
    cfg = dataclasses.replace(_cfg(factor_file, "unused"), runs=(),
                              retrain=RetrainConfig(schedule="monthly", model="linear", train_years=1, valid_months=3))
    home = _clone(home0, tmp_path / "retrain")
    d1, d2 = _days(home0, 2)
    first = run_night(home, cfg, d1)
    assert any("retrained linear run" in m for m in first.messages)
    second = run_night(home, cfg, d2)
    assert not any("retrained" in m for m in second.messages)
    assert (home / "nightly" / d2.isoformat() / "orders.csv").exists()
