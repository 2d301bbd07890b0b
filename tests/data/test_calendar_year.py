"""The calendar for the next year, offline: on 2027-01-04 (a fake clock: ``FLYER_TODAY``) the
installed calendars end on 2026-12-31, the refusal names ``flyer calendar add``, and once the
year's announced days are added the store knows 2027 and the refusal is gone."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from flyer.cli import main
from flyer.data.calendar import CalendarEndError, announced_days, known_calendar
from flyer.data.store import MarketStore

D = dt.date
#: ILLUSTRATIVE closures for the test (New Year, a Spring Festival week, Qingming, Labour Day,
#: Dragon Boat, Mid-Autumn, National Day): not the exchange's 2027 notice, which a user supplies
CLOSED = [D(2027, 1, 1), *(D(2027, 2, d) for d in (8, 9, 10, 11, 12)), D(2027, 4, 5), D(2027, 5, 3), D(2027, 5, 4),
          D(2027, 5, 5), D(2027, 6, 9), D(2027, 9, 15), *(D(2027, 10, d) for d in (1, 4, 5, 6, 7))]
DAYS = [D(2027, 1, 1) + dt.timedelta(k) for k in range(365)]
TRADING = [d for d in DAYS if d.weekday() < 5 and d not in CLOSED]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as ex:
        main(args)
    got = capsys.readouterr()
    return int(ex.value.code or 0), got.out, got.err


def test_on_2027_01_04_the_refusal_names_the_command_and_the_command_lifts_it(
        sim_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("FLYER_TODAY", "2027-01-04")
    home = Path(shutil.copytree(sim_home, tmp_path / "home"))
    with MarketStore.open(home, read_only=True) as store, pytest.raises(CalendarEndError) as refused:
        known_calendar(store).require(D(2027, 1, 4))
    message = str(refused.value)
    assert message.startswith("calendar ends on 2026-12-31: update it")
    assert "flyer calendar add --year 2027 --file DAYS.txt" in message
    code, out, _ = _run(["check", "--area", "calendar", "--home", str(home)], capsys)
    assert code == 1 and "error   calendar   calendar ends on 2026-12-31, 4 day(s) ago" in out
    assert "flyer calendar add --year 2027" in out

    (tmp_path / "days.txt").write_text("# 2027 trading days (illustrative)\n" + "\n".join(map(str, TRADING)) + "\n")
    code, out, err = _run(["calendar", "add", "--year", "2027", "--file", str(tmp_path / "days.txt"),
                           "--home", str(home)], capsys)
    assert code == 0 and f"calendar 2027: {len(TRADING)} trading days 2027-01-04 .. 2027-12-31 added" in out, err
    with MarketStore.open(home, read_only=True) as store:
        cal = known_calendar(store)
    assert cal.end == D(2027, 12, 31) and cal.is_trading_day(D(2027, 1, 4)) and not cal.is_trading_day(D(2027, 2, 8))
    assert cal.next_after(D(2026, 12, 31)) == D(2027, 1, 4)
    assert ("store exchange_calendar (manual 2027)", D(2027, 12, 31)) in cal.layers
    code, out, _ = _run(["check", "--area", "calendar", "--home", str(home)], capsys)
    assert code == 0 and "calendar known through 2027-12-31" in out

    # the holiday notice gives the same days, and adding the year again replaces its list
    (tmp_path / "closed.txt").write_text(",".join(str(d) for d in CLOSED))
    code, out, _ = _run(["calendar", "add", "--year", "2027", "--holidays", "--file", str(tmp_path / "closed.txt"),
                         "--home", str(home)], capsys)
    assert code == 0
    with MarketStore.open(home, read_only=True) as store:
        assert store.query("SELECT count(*) AS n FROM exchange_calendar WHERE source = 'manual 2027'")["n"][0] == len(
            TRADING)
    # the nightly no longer stops at the calendar (this home has no model run: the next check speaks)
    code, _, err = _run(["nightly", "--date", "2027-01-04", "--home", str(home)], capsys)
    assert code != 0 and "calendar ends" not in err and len(err.strip().splitlines()) == 1


def test_announced_days_agree_with_what_is_known(sim_home: Path) -> None:
    with MarketStore.open(sim_home, read_only=True) as store:
        known = known_calendar(store)
    assert announced_days(2027, days=TRADING, known=known) == TRADING
    assert announced_days(2027, holidays=[d for d in CLOSED if d.weekday() < 5], known=known) == TRADING
    from flyer.core.errors import UsageError

    with pytest.raises(UsageError, match="2026-12-31 is not in 2027"):
        announced_days(2027, days=[D(2026, 12, 31), *TRADING])
