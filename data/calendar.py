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
     ``tool_trade_date_hist_sina``, BaoStock's ``query_trade_dates``, the ashare folder's file).
The known calendar ends on the latest last day of its layers. A date after it is not a
holiday: it is unknown, and ``KnownCalendar.require`` refuses it with "calendar ends on D:
update it" (the nightly exits non-zero; ``flyer check`` warns ``WARN_DAYS`` ahead).

``today()`` is the clock every date check uses (``FLYER_TODAY=YYYY-MM-DD`` fixes it, for
tests and replays).
"""
from __future__ import annotations

import datetime as dt
import functools
import json
import os
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import polars as pl

from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

WARN_DAYS = 30
UPDATE_HINT = ("pip install -U akshare exchange-calendars, or ingest from an online source "
               "(akshare, baostock) that reports the exchange's calendar")


class CalendarEndError(FlyerError):
    """A date beyond the last day the trading calendar knows (exit 1, never "a holiday")."""


def today() -> dt.date:
    """The clock: ``$FLYER_TODAY`` when set (YYYY-MM-DD), else the system date."""
    fixed = os.environ.get("FLYER_TODAY")
    if fixed:
        try:
            return dt.date.fromisoformat(fixed)
        except ValueError:
            raise FlyerError(f"FLYER_TODAY must be YYYY-MM-DD, got {fixed!r}") from None
    return dt.date.today()


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
            raise CalendarEndError(f"calendar ends on {self.end}: update it ({UPDATE_HINT}); "
                                   f"{day} cannot be told from a holiday")

    def is_trading_day(self, day: dt.date) -> bool:
        self.require(day)
        return day in set(self.days)

    def next_after(self, day: dt.date) -> dt.date:
        """The first trading day after ``day`` (CalendarEndError when not known yet)."""
        nxt = next((d for d in self.days if d > day), None)
        if nxt is None:
            raise CalendarEndError(f"calendar ends on {self.end}: update it ({UPDATE_HINT}); "
                                   f"the trading day after {day} is unknown")
        return nxt

    def last_on_or_before(self, day: dt.date) -> dt.date | None:
        past = [d for d in self.days if d <= day]
        return past[-1] if past else None


def known_calendar(store: MarketStore | None = None) -> KnownCalendar:
    """The merged calendar of the layers in the module docstring (``store`` adds layer 3)."""
    layers: list[tuple[str, tuple[dt.date, ...]]] = [("akshare calendar.json", _all_days()),
                                                      ("exchange_calendars XSHG", _xshg_days())]
    if store is not None:
        layers.append(("store calendar", tuple(store.calendar().to_list())))
        if store.has_table("exchange_calendar"):
            announced = store.query("SELECT DISTINCT date FROM exchange_calendar ORDER BY date")["date"]
            layers.append(("store exchange_calendar", tuple(announced.to_list())))
    layers = [(name, days) for name, days in layers if days]
    if not layers:  # pragma: no cover - akshare ships layer 1
        raise CalendarEndError(f"no trading calendar is installed: {UPDATE_HINT}")
    days = sorted(set().union(*(set(d) for _, d in layers)))
    ends = tuple((name, max(d)) for name, d in layers)
    return KnownCalendar(tuple(days), max(e for _, e in ends), ends)


def _register_check() -> None:
    from flyer.data.health import Finding, check

    @check("calendar")
    def calendar_end(store: MarketStore) -> list[Finding]:
        """Error once today is past the known calendar, a warning ``WARN_DAYS`` days ahead."""
        cal, now = known_calendar(store), today()
        left = (cal.end - now).days
        where = ", ".join(f"{name} to {end}" for name, end in cal.layers)
        if left < 0:
            return [Finding("error", "calendar", f"calendar ends on {cal.end}, {-left} day(s) ago: update it "
                                                 f"({UPDATE_HINT}); layers: {where}")]
        if left <= WARN_DAYS:
            return [Finding("warning", "calendar", f"calendar ends on {cal.end}, in {left} day(s): update it "
                                                   f"({UPDATE_HINT}); layers: {where}")]
        return [Finding("info", "calendar", f"calendar known through {cal.end} ({where})")]


_register_check()
