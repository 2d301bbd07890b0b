"""Which market a store holds: one market per store unless the user asks to mix.

A simulated market is defined by its settings (``stocks``, ``seed``, ``start``, the crisis and
gap settings: every setting but ``end``, which a nightly extends); every other source (files,
ashare, akshare, baostock) feeds the one real A-share market, so real sources combine freely
(an archive, then akshare every night). ``MarketStore.write`` records the market of each ingest
in the ``markets`` table; an ingest of a different market into a store that holds one (a sim
of another size or seed onto a sim, a sim onto real data, real data onto a sim) is refused with
one line (``MarketMismatchError``) unless ``mix=True`` (``flyer ingest --mix-markets``, a
workflow's ``[data] mix_markets = true``), which records both. A store written before this
table existed adopts the market of its next ingest.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import duckdb
import polars as pl

from flyer.core.config import content_key, to_jsonable
from flyer.core.errors import FlyerError


class MarketStore(Protocol):
    """What this module uses of a ``flyer.data.store.MarketStore`` (which imports this module)."""

    path: Path
    con: duckdb.DuckDBPyConnection

    def has_table(self, table: str) -> bool: ...

    def query(self, sql: str, params: list[Any] | None = None) -> pl.DataFrame: ...

MARKETS_DDL = """
CREATE TABLE IF NOT EXISTS markets (
    market VARCHAR, kind VARCHAR, settings VARCHAR, first_ingest BIGINT, last_ingest BIGINT
)"""
#: settings of a sim that a nightly moves (not part of what the market is)
MOVING = ("end",)
REAL = {"market": "china-a-shares"}


class MarketMismatchError(FlyerError):
    """An ingest of another market into a store that holds one (exit 1)."""


@dataclass(frozen=True)
class Market:
    """What a store holds: ``kind`` (``sim`` or ``real``) and the settings that define it."""

    kind: str
    settings: tuple[tuple[str, Any], ...]

    @property
    def key(self) -> str:
        return content_key({"kind": self.kind, "settings": dict(self.settings)})

    def describe(self) -> str:
        """One phrase: ``sim (stocks 800, seed 42, start 2016-01-01)`` or ``real A-share data``."""
        if self.kind != "sim":
            return "real A-share data"
        d = dict(self.settings)
        return "sim (" + ", ".join(f"{k} {d[k]}" for k in ("stocks", "seed", "start") if k in d) + ")"


def market_of(source: Any) -> Market:
    """The market ``source`` (a ``flyer.data.sources.base.Source``) feeds."""
    if source.kind != "sim":
        return Market("real", tuple(REAL.items()))
    d = {f.name: to_jsonable(getattr(source, f.name)) for f in dataclasses.fields(source) if f.name not in MOVING}
    return Market("sim", tuple(sorted(d.items())))


def held(store: MarketStore) -> list[Market]:
    """The markets recorded in the store (empty for a new store or one written before the table)."""
    if not store.has_table("markets"):
        return []
    rows = store.query("SELECT kind, settings FROM markets ORDER BY first_ingest")
    return [Market(k, tuple(sorted(json.loads(s).items()))) for k, s in rows.iter_rows()]


def check(store: MarketStore, market: Market, mix: bool = False) -> None:
    """Refuse ``market`` when the store holds another one and ``mix`` is off (module docstring)."""
    have = held(store)
    if mix or not have or any(m.key == market.key for m in have):
        return
    mine, theirs = dict(have[0].settings), dict(market.settings)
    differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
    why = f" ({', '.join(differ)} differ)" if have[0].kind == market.kind == "sim" else ""
    raise MarketMismatchError(
        f"the store {store.path} holds {have[0].describe()}; this ingest is {market.describe()}, a different "
        f"market{why}: use another --home, or pass --mix-markets (workflow: [data] mix_markets = true) to hold both")


def record(store: MarketStore, market: Market, ingest_id: int) -> None:
    """Add ``market`` to the store's ``markets`` table (or move its last ingest); inside the
    caller's transaction."""
    store.con.execute(MARKETS_DDL)
    key = market.key
    hit = store.con.execute("SELECT count(*) FROM markets WHERE market = ?", [key]).fetchone()
    if hit and hit[0]:
        store.con.execute("UPDATE markets SET last_ingest = ? WHERE market = ?", [ingest_id, key])
    else:
        store.con.execute("INSERT INTO markets VALUES (?, ?, ?, ?, ?)",
                          [key, market.kind, json.dumps(dict(market.settings), default=str, sort_keys=True),
                           ingest_id, ingest_id])
