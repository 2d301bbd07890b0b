"""flyer.data: the point-in-time A-share market store and its sources (sim, files, akshare).

``open_store(home=None, read_only=True)`` opens ``$FLYER_HOME/market.duckdb`` for reading (the
way notebooks, evaluation and backtests open it: a reader never locks the CLI or the nightly
job out); pass ``read_only=False`` to ingest. ``flyer.data.sources.ingest`` fills it.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flyer.data.store import MarketStore


def open_store(home: str | os.PathLike | None = None, read_only: bool = True) -> MarketStore:
    """The market store under ``home`` (default ``$FLYER_HOME``, else ``~/.flyer``); read-only
    by default. A missing store is a ``FlyerError`` unless opened for writing."""
    from flyer.data.store import MarketStore, flyer_home

    from flyer.core.errors import FlyerError

    path = flyer_home(home) / "market.duckdb"
    if read_only and not path.exists():
        raise FlyerError(f"no market store at {path}: ingest first (flyer ingest --source sim, or "
                         "flyer.data.sources.ingest(open_store(read_only=False), make_source('sim')))")
    return MarketStore.open(home, read_only=read_only)
