"""Findings of the store health checks and the registry of checks (a leaf: imports no store).

A check is a function ``(store) -> list[Finding]`` registered with ``@check("area")`` in the
module that owns the data it looks at (calendar, coverage, fields per year, ...);
``flyer.data.health.run`` imports those modules and runs every registered check.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

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


def registered() -> dict[str, list[Check]]:
    """Area -> the checks registered for it, in registration order."""
    return _CHECKS
