"""The SSE/SZSE trading calendar available offline.

akshare ships the exchange calendar (1990-12-19 to the end of the current year) as
``akshare/file_fold/calendar.json``; the simulated market and tests use it so that the sim
runs on the real calendar with no network. ``flyer ingest`` stores the calendar it uses.
"""
from __future__ import annotations

import datetime as dt
import functools
import json
from importlib import resources

import polars as pl


@functools.lru_cache(maxsize=1)
def _all_days() -> tuple[dt.date, ...]:
    try:
        text = resources.files("akshare").joinpath("file_fold", "calendar.json").read_text()
    except (ModuleNotFoundError, FileNotFoundError) as exc:  # pragma: no cover - akshare is a dependency
        raise RuntimeError("the offline trading calendar needs akshare's calendar.json") from exc
    return tuple(dt.date(int(s[:4]), int(s[4:6]), int(s[6:])) for s in json.loads(text))


def sse_calendar(start: dt.date | None = None, end: dt.date | None = None) -> list[dt.date]:
    """Exchange trading days in [start, end], ascending."""
    days = _all_days()
    return [d for d in days if (start is None or d >= start) and (end is None or d <= end)]


def calendar_frame(start: dt.date | None = None, end: dt.date | None = None) -> pl.DataFrame:
    """The calendar as a one-column ``date`` frame, ready for ``MarketStore.write``."""
    return pl.DataFrame({"date": sse_calendar(start, end)}, schema={"date": pl.Date})
