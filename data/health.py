"""Data-health checks of a store: the findings behind ``flyer check``.

A check is a function ``(store) -> list[Finding]`` registered with ``@check("area")``
(``flyer.data.findings``); ``run`` calls every registered check and returns all findings,
worst first. Checks only read the store (it may be opened read-only while a nightly job runs).
Areas add their own checks in the module that owns the data (calendar, coverage of fields per
year, membership, ...), so a new rule is one function; the built-in check modules are
imported here (``BUILTIN_CHECK_MODULES``), and they import only ``flyer.data.findings``.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from flyer.data import (
    calendar_checks,
    coverage_checks,
    health_checks,
    health_fields,
    limit_moves,
)
from flyer.data.findings import LEVELS, Check, Finding, Level, check, registered

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

__all__ = ["BUILTIN_CHECK_MODULES", "LEVELS", "Check", "Finding", "Level", "check", "run"]

#: modules whose import registers the built-in checks
BUILTIN_CHECK_MODULES = tuple(m.__name__ for m in (health_checks, health_fields, coverage_checks, calendar_checks,
                                                   limit_moves))


#: the order areas are reported in within a level (others follow in registration order)
AREAS = ("store", "coverage", "fields", "trading", "adjustment", "calendar", "membership", "index")


def run(store: MarketStore, areas: tuple[str, ...] | None = None) -> list[Finding]:
    """Every registered check's findings (only ``areas`` when given), errors first, then by area."""
    out: list[Finding] = []
    for area, fns in registered().items():
        if areas is None or area in areas:
            for fn in fns:
                out.extend(fn(store))
    rank = {a: i for i, a in enumerate(AREAS)}
    return sorted(out, key=lambda f: (LEVELS.index(f.level), rank.get(f.area, len(AREAS))))
