"""Universe names shared by factors, models, mining and backtests.

``all`` is every stock in the store; ``csi500`` / ``csi300`` (or any index code such as
``000905.SH``) are that index's point-in-time members from ``MarketStore.membership``.
"""
from __future__ import annotations

import datetime as dt

import polars as pl
from flyer.data.store import CSI300, CSI500, MarketStore
from flyer.data.symbols import CANONICAL

from flyer.core.errors import FlyerError

UNIVERSES: dict[str, str | None] = {"all": None, "csi500": CSI500, "csi300": CSI300}


class UniverseError(FlyerError, ValueError):
    """An unknown universe, or one the store holds no membership for (one-line message)."""


def index_code(universe: str) -> str | None:
    """The index behind a universe name (None for ``all``); an index code stands for itself."""
    name = universe.strip().lower()
    if name in UNIVERSES:
        return UNIVERSES[name]
    if CANONICAL.match(universe.strip()):
        return universe.strip()
    raise UniverseError(f"unknown universe {universe!r}; use {', '.join(UNIVERSES)} or an index code like 000905.SH")


def members(store: MarketStore, universe: str, start: dt.date | None, end: dt.date | None) -> pl.DataFrame | None:
    """Point-in-time ``[date, symbol]`` of ``universe`` over [start, end], or None for ``all``."""
    code = index_code(universe)
    if code is None:
        return None
    found = store.membership(code, start, end)
    if found.height == 0:
        raise UniverseError(f"no {universe} membership ({code}) in the store between {start} and {end}")
    return found.select("date", "symbol")
