"""The nightly's hardening: a calendar that does not run out (fake clock), readers during a
run, the config checked before any stage, run ids that stay inside the home."""
from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from flyer.config import ConfigError, NightlyConfig, PortfolioConfig, from_dict
from flyer.data.calendar import CalendarEndError, known_calendar
from flyer.data.store import MarketStore
from flyer.core.errors import FlyerError
from flyer.nightly import STAGES, default_date, run_night
from test_nightly import _cfg, _days, base  # noqa: F401 - the module's home with a trained run


def _clone(home: Path, dest: Path) -> Path:
    return Path(shutil.copytree(home, dest))


def test_calendar_end_is_refused_not_a_holiday(base, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """Finding 7: from the day after the known calendar ends the nightly exits non-zero with
    "calendar ends on D: update it" (it used to say "not a trading day" and exit 0)."""
    home0, factor_file, run_id = base
    home = _clone(home0, tmp_path / "h")
    cfg = _cfg(factor_file, run_id)
    end = known_calendar().end
    assert end == dt.date(2026, 12, 31)  # akshare's calendar.json and exchange_calendars' XSHG
    with pytest.raises(CalendarEndError, match=f"calendar ends on {end}: update it"):
        run_night(home, cfg, dt.date(2027, 1, 4))
    monkeypatch.setenv("FLYER_TODAY", "2027-01-04")  # the fake clock
    from flyer.data.sources import make_source

    live = dataclasses.replace(cfg, source=make_source("files", path=str(tmp_path)))  # a live feed: today counts
    with pytest.raises(CalendarEndError, match="calendar ends on 2026-12-31: update it"):
        default_date(live)
    monkeypatch.setenv("FLYER_TODAY", "2026-12-30")
    assert default_date(live) == dt.date(2026, 12, 30)
    monkeypatch.setenv("FLYER_TODAY", "2027-01-04")
    r = subprocess.run([sys.executable, "-m", "flyer", "nightly", "--home", str(home), "--date", "2027-01-04"],
                       capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.startswith("error: calendar ends on 2026-12-31: update it"), r.stderr
    # a source that announces the next year's days extends the calendar (layer 3)
    with MarketStore.open(home) as store:
        days = [dt.date(2027, 1, 4), dt.date(2027, 1, 5)]
        store.con.execute("INSERT INTO exchange_calendar SELECT unnest(?::DATE[]), 'akshare'", [days])
        cal = known_calendar(store)
    assert cal.end == dt.date(2027, 1, 5) and cal.is_trading_day(dt.date(2027, 1, 4))
    assert cal.next_after(dt.date(2026, 12, 31)) == dt.date(2027, 1, 4)


@pytest.mark.parametrize("today,level", [("2026-11-01", "info"), ("2026-12-10", "warning"), ("2027-01-04", "error")])
def test_flyer_check_warns_30_days_ahead(sim_home: Path, today: str, level: str) -> None:
    import os

    env = {**os.environ, "FLYER_TODAY": today}
    r = subprocess.run([sys.executable, "-m", "flyer", "check", "--area", "calendar", "--home", str(sim_home)],
                       capture_output=True, text=True, env=env)
    assert r.stdout.split()[0] == level, r.stdout
    assert r.returncode == (1 if level == "error" else 0)
    if level != "info":
        assert "calendar ends on 2026-12-31" in r.stdout and "update it" in r.stdout


def test_sim_horizon_is_fixed_and_enforced() -> None:
    from flyer.data.sources.sim import HORIZON_END, SimConfig, SimError

    assert HORIZON_END == dt.date(2026, 12, 31)
    with pytest.raises(SimError, match="runs through 2026-12-31"):
        SimConfig(end=dt.date(2027, 3, 1))


def test_reader_works_while_the_nightly_runs(base, tmp_path: Path) -> None:  # noqa: F811
    """Finding 9: `flyer info` in a second process while the nightly is mid-run (its store is
    read-only between writes), and while a writer holds the store it waits, then reads."""
    home0, factor_file, run_id = base
    home = _clone(home0, tmp_path / "h")
    seen = []

    def info(night) -> None:  # noqa: ANN001
        r = subprocess.run([sys.executable, "-m", "flyer", "info", "--home", str(home)],
                           capture_output=True, text=True, timeout=120)
        seen.append((r.returncode, r.stderr))

    res = run_night(home, _cfg(factor_file, run_id), _days(home0, 1)[0], hooks={"factors": info, "orders": info})
    assert res.ran == STAGES and seen == [(0, ""), (0, "")], seen
    code = ("import time, sys; from flyer.data.store import MarketStore\n"
            f"s = MarketStore.open({str(home)!r}); print('held', flush=True); time.sleep(1.5); s.close()")
    writer = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "held"
    r = subprocess.run([sys.executable, "-m", "flyer", "info", "--home", str(home)], capture_output=True, text=True)
    writer.wait(30)
    assert r.returncode == 0 and "symbols" in r.stdout, r.stderr


def test_config_is_checked_before_any_stage(base, tmp_path: Path) -> None:  # noqa: F811
    """Finding 6: bad values fail at load; what needs the home (runs exist, k fits) fails
    before ingest, so nothing runs and the store is unchanged."""
    home0, factor_file, run_id = base
    for raw, match in [({"portfolio": {"capital": -5}}, "capital: must be > 0"),
                       ({"portfolio": {"k": "ten"}}, "k: must be an integer"), ({"runs": 5}, "runs must be a list"),
                       ({"retrain": {"model": "xgb"}}, "retrain.model: must be one of"),
                       ({"portfolio": {"deal_price": "mid"}}, "deal_price: must be one of")]:
        with pytest.raises(ConfigError, match=match):
            from_dict(raw)
    home = _clone(home0, tmp_path / "h")
    with MarketStore.open(home, read_only=True) as s:
        before = s.info()["bar_rows"]
    day = _days(home0, 1)[0]
    from flyer.backtest.config import BacktestConfig

    for cfg, match in [(dataclasses.replace(_cfg(factor_file, run_id), portfolio=PortfolioConfig(BacktestConfig(k=5000))),
                        r"portfolio.k = 5000 exceeds the \d+ stocks trading on"),
                       (dataclasses.replace(_cfg(factor_file, run_id), runs=("0" * 12,)), "no run '000000000000'")]:
        with pytest.raises(FlyerError, match=match):
            run_night(home, cfg, day)
    with MarketStore.open(home, read_only=True) as s:
        assert s.info()["bar_rows"] == before and s.query("SELECT count(*) AS n FROM nightly_log")["n"][0] == 0


def test_nightly_config_run_ids_stay_inside_the_home(tmp_path: Path) -> None:
    """Finding 8: a config's runs go through the same safe-name check as --run."""
    for rid in ("../../x", "a/b", "..", ".hidden", "/etc/passwd", "a\\b"):
        with pytest.raises(ConfigError, match="bad run id"):
            NightlyConfig(runs=(rid,))
    from flyer.core.errors import UsageError
    from flyer.models.runs import load_run

    (tmp_path / "runs").mkdir()
    (tmp_path / "outside").mkdir()
    with pytest.raises(UsageError, match="bad run id"):
        load_run(tmp_path, "../outside")


def test_sim_instruments_batch_equal_incremental(sim_config) -> None:
    """Finding 10's second half: the batch sim's names carry *ST exactly when the last bar is
    ST, as the night-by-night feed says (the batch used to mark stocks whose spell had not begun)."""
    from flyer.data.sources.sim import as_known_on, generate

    frames = generate(sim_config)
    inc = as_known_on(frames, None, sim_config.end)["instruments"].sort("symbol")
    batch = frames["instruments"].sort("symbol")
    assert batch.equals(inc)
    st_last = frames["bars"].filter((pl.col("date") == frames["bars"]["date"].max()) & pl.col("is_st"))
    assert set(batch.filter(pl.col("name").str.starts_with("*ST"))["symbol"]) == set(st_last["symbol"])
