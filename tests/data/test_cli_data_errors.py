"""The data commands' failures are one line with the right exit code: a damaged store under
``flyer check`` / ``flyer info`` (a truncated file, a dropped table, a dropped column), the
calendar command's bad inputs, and an offline ingest."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import duckdb
import pytest

from flyer.cli import main
from flyer.data.store import MarketStore, StoreError


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    with pytest.raises(SystemExit) as ex:
        main(args)
    return int(ex.value.code or 0), capsys.readouterr().err.strip().splitlines()


def _damage(home: Path, how: str) -> None:
    path = home / "market.duckdb"
    if how == "truncated":
        with open(path, "r+b") as fh:
            fh.truncate(os.path.getsize(path) // 2)
        return
    con = duckdb.connect(str(path))
    con.execute("DROP TABLE calendar" if how == "table" else "ALTER TABLE bars DROP COLUMN close")
    con.close()


DAMAGE = [("truncated", r"the file is truncated \([\d,]+ bytes, its \d+ blocks in use need [\d,]+\)"),
          ("table", r"table calendar missing"),
          ("column", r"bars has no column close")]


@pytest.mark.parametrize("command", ["check", "info"])
@pytest.mark.parametrize("how,what", DAMAGE)
def test_a_damaged_store_is_named_in_one_line(sim_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              command: str, how: str, what: str) -> None:
    """Before: "unexpected IOException / CatalogException / BinderException" (the bug path), and
    ``flyer info`` printed a dropped column's store as if it were whole."""
    home = Path(shutil.copytree(sim_home, tmp_path / "home"))
    _damage(home, how)
    code, err = _run([command, "--home", str(home)], capsys)
    assert code == 1 and len(err) == 1, err
    assert err[0].startswith(f"error: store {home / 'market.duckdb'} is damaged: ") and "unexpected" not in err[0]
    assert re.search(what, err[0]) and err[0].endswith("re-ingest (flyer ingest ...), or restore a copy")


def test_a_writer_is_refused_too_and_nothing_is_recreated(sim_home: Path, tmp_path: Path) -> None:
    """A writer would have re-created the dropped table empty; it is refused instead."""
    home = Path(shutil.copytree(sim_home, tmp_path / "home"))
    _damage(home, "table")
    with pytest.raises(StoreError, match="is damaged: table calendar missing"):
        MarketStore.open(home)
    con = duckdb.connect(str(home / "market.duckdb"), read_only=True)
    assert not con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'calendar'").fetchone()[0]
    con.close()


CALENDAR = [
    (["calendar", "add", "--year", "2027"], 2, r"^error: give the dates with --file PATH or --days LIST"),
    (["calendar", "add", "--year", "2027", "--days", "2027-01-04,2027-01-09"], 2,
     r"^error: trading day 2027-01-09 is a Saturday: the exchanges never trade at weekends$"),
    (["calendar", "add", "--year", "2027", "--days", "2027-01-05,2027-01-04"], 2,
     r"^error: trading day 2027-01-04 follows 2027-01-05: days must be strictly ascending$"),
    (["calendar", "add", "--year", "2027", "--days", "2027-01-04,2028-01-03"], 2, r"^error: trading day 2028-01-03 is not in 2027"),
    (["calendar", "add", "--year", "2027", "--days", "2027-01-04,x"], 2, r"^error: --days line 1: 'x' is not a date"),
    (["calendar", "add", "--year", "2027", "--days", "2027-01-04,2027-06-30"], 2,
     r"^error: the 2027 days run 2027-01-04 \.\. 2027-06-30 only: give the whole year"),
    (["calendar", "add", "--year", "2026", "--holidays", "--days", "2026-10-08"], 2,
     r"^error: 2026-01-01 conflicts with the known calendar \(not a trading day there; known through 2026-12-31"),
    (["calendar", "add", "--year", "2027", "--file", "{home}/missing.txt"], 2, r"^error: --file .*missing\.txt: cannot read"),
]


@pytest.mark.parametrize("args,code,pattern", CALENDAR)
def test_calendar_add_rejects_bad_days_in_one_line(fresh_home: Path, capsys: pytest.CaptureFixture[str],
                                                   args: list[str], code: int, pattern: str) -> None:
    args = [a.replace("{home}", str(fresh_home)) for a in args]
    got, err = _run([*args, "--home", str(fresh_home)], capsys)
    assert got == code and len(err) == 1 and re.search(pattern, err[0]), err


def test_calendar_add_leaves_a_gap_check(fresh_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A file that lost a fortnight (a missing page when copying the notice) is refused."""
    import datetime as dt

    days = [dt.date(2027, 1, 1) + dt.timedelta(k) for k in range(365)]
    kept = [d for d in days if d.weekday() < 5 and d != dt.date(2027, 1, 1) and not dt.date(2027, 3, 1) <= d
            <= dt.date(2027, 3, 19)]
    (tmp_path / "days.txt").write_text("\n".join(map(str, kept)))
    code, err = _run(["calendar", "add", "--year", "2027", "--file", str(tmp_path / "days.txt"), "--home",
                      str(fresh_home)], capsys)
    assert code == 2 and err == ["error: no trading day between 2027-02-26 and 2027-03-22 (24 days): a missing line? "
                                 "(the longest closure with its weekends is about 10 days)"]
