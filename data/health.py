"""Data-health checks of a store: the findings behind ``flyer check``.

A check is a function ``(store) -> list[Finding]`` registered with ``@check("area")``; ``run``
calls every registered check and returns all findings, worst first. Checks only read the
store (it may be opened read-only while a nightly job runs). Areas add their own checks in the
module that owns the data (calendar, coverage of fields per year, membership, ...), so a new
rule is one function.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Literal

import polars as pl

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

Level = Literal["error", "warning", "info"]
LEVELS: tuple[Level, ...] = ("error", "warning", "info")


@dataclass(frozen=True)
class Finding:
    """One observation about the store: ``level`` (error / warning / info), the ``area`` that
    raised it (e.g. "calendar", "coverage"), a one-line ``message`` and an optional ``table``
    with the figures behind it (e.g. null shares per field per year)."""

    level: Level
    area: str
    message: str
    table: pl.DataFrame | None = None


Check = Callable[["MarketStore"], list[Finding]]
_CHECKS: dict[str, list[Check]] = {}


def check(area: str) -> Callable[[Check], Check]:
    """Decorator: register ``fn`` as a health check of ``area``."""
    def deco(fn: Check) -> Check:
        _CHECKS.setdefault(area, []).append(fn)
        return fn
    return deco


def run(store: MarketStore, areas: tuple[str, ...] | None = None) -> list[Finding]:
    """Every registered check's findings (only ``areas`` when given), errors first."""
    _load_builtin_checks()
    out: list[Finding] = []
    for area, fns in _CHECKS.items():
        if areas is None or area in areas:
            for fn in fns:
                out.extend(fn(store))
    return sorted(out, key=lambda f: LEVELS.index(f.level))


def _load_builtin_checks() -> None:
    """Import the modules that define checks (each registers on import)."""
    import importlib

    for module in BUILTIN_CHECK_MODULES:
        importlib.import_module(module)


# modules that register checks with @check; add yours here
BUILTIN_CHECK_MODULES: list[str] = ["flyer.data.health_checks", "flyer.data.health_fields",
                                   "flyer.data.coverage_checks", "flyer.data.calendar"]
