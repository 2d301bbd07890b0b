"""The SSE/SZSE trading calendar: what is known offline, what the store's sources reported, and
how far it reaches.

Layers (``known_calendar``), merged; each is authoritative through its own last day:
  1. akshare's offline ``akshare/file_fold/calendar.json`` (1990-12-19 to the end of the year of
     the installed akshare release): ``sse_calendar``. The simulated market uses this layer
     only, so a sim market never changes when another layer grows;
  2. ``exchange_calendars``' XSHG (a maintained package, updated when the exchange announces
     the next year's holidays; agrees with layer 1 on every day from 2006-12 to 2026-12);
  3. the store: its ``calendar`` (days with data) and its ``exchange_calendar`` table, the
     exchange's announced days (past and future) as an online source reported them (akshare's
     ``tool_trade_date_hist_sina``, BaoStock's ``query_trade_dates``, the ashare folder's file)
     or as a user added them offline (``add_year``, ``flyer calendar add``: source
     ``manual <year>``, validated by ``announced_days``).
The known calendar ends on the latest last day of its layers. A date after it is not a
holiday: it is unknown, and ``KnownCalendar.require`` refuses it with "calendar ends on D:
update it (...)", naming ``flyer calendar add`` (the nightly exits non-zero; ``flyer check``
warns ``WARN_DAYS`` ahead; ``flyer.data.calendar_checks``).

``today()`` (``flyer.data.clock``) is the clock every date check uses (``FLYER_TODAY=YYYY-MM-DD``
fixes it, for tests and replays).
"""
from __future__ import annotations

import datetime as dt
import functools
import itertools
import json
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import polars as pl
from flyer.data.clock import today

from flyer.core.errors import FlyerError, UsageError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

__all__ = [
    "WARN_DAYS",
    "CalendarEndError",
    "KnownCalendar",
    "add_year",
    "announced_days",
    "calendar_frame",
    "known_calendar",
    "sse_calendar",
    "today",
    "update_hint",
]

WARN_DAYS = 30
#: the longest run of calendar days between two trading days an announced year may hold (the
#: Spring Festival and National Day closures with their weekends are 9-10 days)
MAX_GAP_DAYS = 14


def update_hint(year: int) -> str:
    """What to do when the calendar ends before ``year``: the offline command first."""
    return (f"add the exchange's announced {year} trading days with `flyer calendar add --year {year} --file "
            f"DAYS.txt` (or --holidays), or pip install -U akshare exchange-calendars, or ingest from an online "
            "source (akshare, baostock) that reports the exchange's calendar")


class CalendarEndError(FlyerError):
    """A date beyond the last day the trading calendar knows (exit 1, never "a holiday")."""


@functools.lru_cache(maxsize=1)
def _all_days() -> tuple[dt.date, ...]:
    try:
        text = resources.files("akshare").joinpath("file_fold", "calendar.json").read_text()
    except (ModuleNotFoundError, FileNotFoundError) as exc:  # pragma: no cover - akshare is a dependency
        raise RuntimeError("the offline trading calendar needs akshare's calendar.json") from exc
    return tuple(dt.date(int(s[:4]), int(s[4:6]), int(s[6:])) for s in json.loads(text))


def sse_calendar(start: dt.date | None = None, end: dt.date | None = None) -> list[dt.date]:
    """Exchange trading days in [start, end], ascending (layer 1, offline)."""
    days = _all_days()
    return [d for d in days if (start is None or d >= start) and (end is None or d <= end)]


def calendar_frame(start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
    """The calendar as a one-column ``date`` frame, ready for ``MarketStore.write``."""
    return pl.DataFrame({"date": sse_calendar(start, end)}, schema={"date": pl.Date})


@functools.lru_cache(maxsize=1)
def _xshg_days() -> tuple[dt.date, ...]:
    """Layer 2: exchange_calendars' XSHG sessions (empty when the package is missing)."""
    try:
        import exchange_calendars as xc
    except ImportError:  # pragma: no cover - a dependency; the other layers still work
        return ()
    cal = xc.get_calendar("XSHG")
    return tuple(d.date() for d in cal.sessions)


@dataclass(frozen=True)
class KnownCalendar:
    """Trading days known now, ascending, and the last day of the span they cover (``end``);
    ``layers`` names each layer with its last day."""

    days: tuple[dt.date, ...]
    end: dt.date
    layers: tuple[tuple[str, dt.date], ...]

    def require(self, day: dt.date) -> None:
        """Raise ``CalendarEndError`` when ``day`` is after the known calendar."""
        if day > self.end:
            raise CalendarEndError(f"calendar ends on {self.end}: update it ({update_hint(day.year)}); "
                                   f"{day} cannot be told from a holiday")

    def is_trading_day(self, day: dt.date) -> bool:
        self.require(day)
        return day in set(self.days)

    def next_after(self, day: dt.date) -> dt.date:
        """The first trading day after ``day`` (CalendarEndError when not known yet)."""
        nxt = next((d for d in self.days if d > day), None)
        if nxt is None:
            raise CalendarEndError(f"calendar ends on {self.end}: update it ({update_hint(self.end.year + 1)}); "
                                   f"the trading day after {day} is unknown")
        return nxt

    def last_on_or_before(self, day: dt.date) -> dt.date | None:
        past = [d for d in self.days if d <= day]
        return past[-1] if past else None


def known_calendar(store: MarketStore | None = None, skip: tuple[str, ...] = ()) -> KnownCalendar:
    """The merged calendar of the layers in the module docstring (``store`` adds layer 3);
    ``skip``: sources of the store's ``exchange_calendar`` to leave out (a list being replaced)."""
    layers: list[tuple[str, tuple[dt.date, ...]]] = [("akshare calendar.json", _all_days()),
                                                      ("exchange_calendars XSHG", _xshg_days())]
    if store is not None:
        layers.append(("store calendar", tuple(store.calendar().to_list())))
        if store.has_table("exchange_calendar"):
            announced = store.query("SELECT source, date FROM exchange_calendar ORDER BY source, date")
            for (source,), part in announced.group_by(["source"], maintain_order=True):
                if source in skip:
                    continue
                layers.append((f"store exchange_calendar ({source})", tuple(part["date"].to_list())))
    layers = [(name, days) for name, days in layers if days]
    if not layers:  # pragma: no cover - akshare ships layer 1
        raise CalendarEndError(f"no trading calendar is installed: {update_hint(today().year)}")
    days = sorted(set().union(*(set(d) for _, d in layers)))
    ends = tuple((name, max(d)) for name, d in layers)
    return KnownCalendar(tuple(days), max(e for _, e in ends), ends)


# ------------------------------------------------------------------ the next year, offline
def announced_days(year: int, days: list[dt.date] | None = None, holidays: list[dt.date] | None = None,
                   known: KnownCalendar | None = None) -> list[dt.date]:
    """The exchange's trading days of ``year`` as announced, validated (UsageError naming the
    first bad day): either ``days`` (the trading days) or ``holidays`` (the weekdays the
    exchange is closed; the trading days are the other weekdays). Rules: every day inside
    ``year``, a weekday, strictly ascending; the list covers the year (first day by Jan 10,
    last from Dec 20) with no gap over ``MAX_GAP_DAYS`` calendar days; and where a layer of
    ``known`` already covers part of the year, the days agree with it there."""
    if (days is None) == (holidays is None):
        raise UsageError("give the year's trading days or its holidays (one of them)")
    if not 1990 < year < 2200:
        raise UsageError(f"--year {year}: not a year the exchanges trade in")
    if holidays is not None:
        _check_days(year, holidays, "holiday")
        closed = set(holidays)
        first, last = dt.date(year, 1, 1), dt.date(year, 12, 31)
        days = [first + dt.timedelta(k) for k in range((last - first).days + 1)]
        days = [d for d in days if d.weekday() < 5 and d not in closed]
    assert days is not None
    _check_days(year, days, "trading day")
    if days[0] > dt.date(year, 1, 10) or days[-1] < dt.date(year, 12, 20):
        raise UsageError(f"the {year} days run {days[0]} .. {days[-1]} only: give the whole year as the exchange "
                         "announced it")
    for a, b in itertools.pairwise(days):
        if (b - a).days > MAX_GAP_DAYS:
            raise UsageError(f"no trading day between {a} and {b} ({(b - a).days} days): a missing line? "
                             f"(the longest closure with its weekends is about 10 days)")
    if known is not None:
        _agree(year, days, known)
    return days


def _check_days(year: int, days: list[dt.date], what: str) -> None:
    """Each day inside ``year``, a weekday, strictly ascending (UsageError naming the first bad one)."""
    if not days:
        raise UsageError(f"no {what}s given for {year}")
    for k, d in enumerate(days):
        if d.year != year:
            raise UsageError(f"{what} {d} is not in {year}")
        if d.weekday() >= 5:
            raise UsageError(f"{what} {d} is a {d:%A}: the exchanges never trade at weekends")
        if k and d <= days[k - 1]:
            raise UsageError(f"{what} {d} follows {days[k - 1]}: days must be strictly ascending")


def _agree(year: int, days: list[dt.date], known: KnownCalendar) -> None:
    """Where the known calendar already covers part of ``year`` (through its end), the days must match it."""
    stop = min(known.end, dt.date(year, 12, 31))
    if stop < dt.date(year, 1, 1):
        return
    span = {d for d in known.days if dt.date(year, 1, 1) <= d <= stop}
    given = {d for d in days if d <= stop}
    if span != given:
        day = min(span ^ given)
        what = "a trading day there, missing here" if day in span else "not a trading day there"
        names = ", ".join(name for name, end in known.layers if end >= dt.date(year, 1, 1))
        raise UsageError(f"{day} conflicts with the known calendar ({what}; known through {stop} from {names}): "
                         "fix the list (nothing was written)")


def add_year(store: MarketStore, year: int, days: list[dt.date]) -> int:
    """Write ``days`` (validated by ``announced_days``) as the store's announced calendar of
    ``year`` (``exchange_calendar`` rows of source ``manual <year>``, replacing an earlier list
    of that year only); returns the number of days written."""
    frame = pl.DataFrame({"date": days, "source": f"manual {year}"}, schema={"date": pl.Date, "source": pl.Utf8})
    report = store.write("manual", {"exchange_calendar": frame}, days[0], days[-1])
    return report.written.get("exchange_calendar", 0)
