"""``flyer calendar``: how far the trading calendar reaches, and the next year's days added offline.

    flyer calendar show
    flyer calendar add --year 2027 --file days.txt              # the year's trading days
    flyer calendar add --year 2027 --holidays --file closed.txt # or the weekdays it is closed

The exchanges announce the next year's closures each December (SSE / SZSE notices "关于<year>年
部分节假日休市安排的通知"); until akshare or exchange_calendars ship a release with them, or an
online source reports them, ``add`` is how a store that runs offline learns them
(``flyer.data.calendar.announced_days`` validates, ``add_year`` stores them).
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Optional

import typer

from flyer.commands.common import HomeOpt, console, open_store
from flyer.core.errors import UsageError

app = typer.Typer(no_args_is_help=True, help="The trading calendar: how far it reaches; add a year's announced days.")


def parse_days(text: str, where: str) -> list[dt.date]:
    """Dates in ``text`` (YYYY-MM-DD or YYYYMMDD; separated by commas, spaces or new lines;
    ``#`` starts a comment), in the order given; UsageError naming the first bad one."""
    out = []
    for number, line in enumerate(text.splitlines(), 1):
        for token in re.split(r"[,\s]+", line.split("#", 1)[0].strip()):
            if not token:
                continue
            try:
                out.append(dt.date.fromisoformat(token) if "-" in token else dt.datetime.strptime(token, "%Y%m%d").date())
            except ValueError:
                raise UsageError(f"{where} line {number}: {token!r} is not a date (YYYY-MM-DD)") from None
    return out


@app.command("add")
def add(
    year: int = typer.Option(..., "--year", help="the year the days belong to, e.g. 2027"),
    file: Optional[Path] = typer.Option(None, "--file", help="a text file of dates (one per line, or comma-separated; "
                                        "# comments)"),
    days: Optional[str] = typer.Option(None, "--days", help="the dates, comma-separated"),
    holidays: bool = typer.Option(False, "--holidays", help="the dates given are the weekdays the exchange is CLOSED "
                                  "(its holiday notice), not its trading days"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Add the exchange's announced trading days of a year to the store's calendar, offline.

    The days are validated (inside the year, weekdays, strictly ascending, the whole year with
    no gap over 14 days, and in agreement with every day the calendar already knows) and stored
    as the exchange calendar of source "manual <year>"; adding the year again replaces that list.
    """
    from flyer.data.calendar import add_year, announced_days, known_calendar

    if (file is None) == (days is None):
        raise UsageError("give the dates with --file PATH or --days LIST (one of them)")
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--file {file}: cannot read it ({exc})") from None
        given = parse_days(text, f"--file {file}")
    else:
        given = parse_days(str(days), "--days")
    with open_store(home) as store:
        known = known_calendar(store, skip=(f"manual {year}",))
        valid = announced_days(year, holidays=given if holidays else None, days=None if holidays else given,
                               known=known)
        n = add_year(store, year, valid)
        end = known_calendar(store).end
    console.print(f"[green]calendar {year}[/]: {n} trading days {valid[0]} .. {valid[-1]} added "
                  f"(source manual {year}); the calendar is known through {end}")


@app.command("show")
def show(home: Optional[Path] = HomeOpt) -> None:
    """How far the trading calendar reaches, layer by layer (offline files, packages, the store)."""
    from flyer.data.calendar import known_calendar, today

    with open_store(home, read_only=True, must_exist=True) as store:
        cal = known_calendar(store)
    for name, end in cal.layers:
        console.print(f"  {name:<40} through {end}")
    left = (cal.end - today()).days
    console.print(f"calendar known through {cal.end} ({left} day(s) from today)")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="calendar")
