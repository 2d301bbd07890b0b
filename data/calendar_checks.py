"""Calendar health check (``flyer check``): how far the known trading calendar reaches."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flyer.data.calendar import WARN_DAYS, known_calendar, today, update_hint
from flyer.data.findings import Finding, check

if TYPE_CHECKING:
    from flyer.data.store import MarketStore


@check("calendar")
def calendar_end(store: MarketStore) -> list[Finding]:
    """Error once today is past the known calendar, a warning ``WARN_DAYS`` days ahead."""
    cal, now = known_calendar(store), today()
    left = (cal.end - now).days
    where = ", ".join(f"{name} to {end}" for name, end in cal.layers)
    hint = update_hint(cal.end.year + 1)
    if left < 0:
        return [Finding("error", "calendar", f"calendar ends on {cal.end}, {-left} day(s) ago: update it "
                                             f"({hint}); layers: {where}")]
    if left <= WARN_DAYS:
        return [Finding("warning", "calendar", f"calendar ends on {cal.end}, in {left} day(s): update it "
                                               f"({hint}); layers: {where}")]
    return [Finding("info", "calendar", f"calendar known through {cal.end} ({where})")]
