"""What any scores on one loaded universe share, built once per store state and cached.

A backtest loads the bars of its scored symbols and of the benchmark's (and the strategy's
universe's) members (``flyer.backtest.loader``). Everything it derives from those beyond the
market arrays depends only on the store's content and the request (window, deal price, vwap
fill, benchmark, index codes, the set of scored symbols), not on the scores' values, so it is a
:class:`Universe`, cached like markets (``flyer.backtest.market_cache``, kind ``universe``):
  * ``status`` (T, N) int8 over the run's days x every loaded symbol with a bar: 0 no bar,
    1 a bar, 2 a suspended bar (``tradable`` drops scores of symbols without a bar or suspended
    on their date; ``has_bar`` is the diagnostics' bar mask);
  * ``vwap_gap`` (T, N) bool: traded days without amount (a vwap deal price only; the coverage
    note counts them over the market's symbols);
  * the ``benchmark`` [date, close(, tr)] with its labels (``flyer.backtest.benchmark``) and the
    benchmark members without bars per year (``diagnostics.members_without_bars``).
A backtest whose universe and market are cached reads the store twice (its calendar, and the
state that keys the cache) and never loads its bars: preparing it costs the scores' checks and
lookups, not the store. Why cache these and not the loaded bars: the bars are 5-10x larger than
the arrays derived from them, and every figure here took a join over them.
"""
from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

import numpy as np
import polars as pl

from flyer.backtest import market_cache
from flyer.backtest.benchmark import benchmark_series
from flyer.backtest.config import BacktestConfig
from flyer.backtest.diagnostics import members_without_bars, vwap_gap_note
from flyer.backtest.loader import RunData, Window, day_positions, symbol_positions
from flyer.core.config import digest

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

NO_BAR, BAR, SUSPENDED = 0, 1, 2
GAP_SCHEMA = {"year": pl.Int32, "members": pl.Float64, "missing": pl.Float64, "weight_missing": pl.Float64}


class Tradable(NamedTuple):
    """``Universe.tradable``'s answer: the kept ``scores``, their ``rows`` (day) and ``cols``
    (symbol) in the universe, and the numbers dropped as ``unlisted`` and ``suspended``."""

    scores: pl.DataFrame
    rows: np.ndarray
    cols: np.ndarray
    unlisted: int
    suspended: int


@dataclass(frozen=True, eq=False)
class Universe:
    """See the module docstring. ``dates`` (T,) the run's days, ``symbols`` (N,) every loaded
    symbol with a bar (sorted), ``status`` (T, N) int8, ``vwap_gap`` (T, N) bool or (0, 0),
    ``benchmark`` [date, close(, tr)] named ``benchmark_name`` (``tr_name``: the label of the
    estimated total return, None without one), ``gaps`` [year, members, missing,
    weight_missing]."""

    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    status: np.ndarray
    vwap_gap: np.ndarray
    benchmark: pl.DataFrame
    benchmark_name: str
    tr_name: str | None
    gaps: pl.DataFrame

    def locate(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(row, column) of each [date, symbol] row of ``frame``; -1 where not in the universe."""
        days = np.array(self.dates, dtype="datetime64[D]").astype(np.int64)
        return day_positions(days, frame["date"]), symbol_positions(self.symbols, frame["symbol"])

    def tradable(self, scores: pl.DataFrame) -> Tradable:
        """The scores of symbols with a bar on the score date that are not suspended that day,
        with their positions here, and the counts dropped as unlisted (no bar: not listed yet,
        or delisted) and as suspended. A score for a stock that lists later would otherwise
        take a top-k slot (and have its buy blocked), so whether a stock lists in the future
        changed past trades."""
        t, j = self.locate(scores)
        ok = (t >= 0) & (j >= 0)
        status = np.zeros(scores.height, dtype=np.int8)
        status[ok] = self.status[t[ok], j[ok]]
        keep = status == BAR
        return Tradable(scores.filter(pl.Series(keep)), t[keep], j[keep], int((status == NO_BAR).sum()),
                        int((status == SUSPENDED).sum()))

    def columns(self, symbols: tuple[str, ...] | list[str]) -> np.ndarray:
        """(n,) int64 column of each of ``symbols`` (all loaded symbols: a market's are)."""
        cols = symbol_positions(self.symbols, pl.Series(list(symbols), dtype=pl.Utf8))
        if (cols < 0).any():
            raise ValueError("a market symbol is not in its universe")
        return cols

    def has_bar(self, symbols: tuple[str, ...]) -> np.ndarray:
        """(T, n) bool: the stock has a bar (any status) that day."""
        return self.status[:, self.columns(symbols)] != NO_BAR

    def vwap_note(self, symbols: tuple[str, ...], deal_price: str, vwap_fill: str) -> list[str]:
        """The vwap coverage note over ``symbols`` (``diagnostics.vwap_gap_note``), when any."""
        if deal_price != "vwap" or self.vwap_gap.size == 0:
            return []
        per_day = self.vwap_gap[:, self.columns(symbols)].sum(axis=1)
        years = np.array([d.year for d in self.dates])
        counts = {int(y): int(per_day[years == y].sum()) for y in np.unique(years)}
        note = vwap_gap_note({y: n for y, n in counts.items() if n > 0}, vwap_fill)
        return [note] if note else []


def build(data: RunData, config: BacktestConfig) -> Universe:
    """The ``Universe`` of the loaded ``data`` (module docstring)."""
    index = data.bar_index
    rows = index.rows[len(data.lookback):, :]
    have = rows >= 0
    suspended = data.bars["is_suspended"].fill_null(False).to_numpy()
    status = np.where(have, np.where(suspended[np.where(have, rows, 0)], SUSPENDED, BAR), NO_BAR).astype(np.int8)
    gap = np.zeros((0, 0), dtype=np.bool_)
    if data.deal_price == "vwap" and "amount" in data.bars.columns:
        b = data.bars
        per_bar = ((b["volume"] > 0) & (b["amount"].is_null() | (b["amount"] <= 0))).fill_null(False).to_numpy()
        gap = have & per_bar[np.where(have, rows, 0)]
    bench, label, tr_name = benchmark_series(data, config.benchmark)
    return Universe(data.days, index.symbols, status, gap, bench, label, tr_name,
                    members_without_bars(data, config.benchmark))


def universe_key(store: MarketStore, state: tuple[int, int, str] | None, win: Window, scores: pl.DataFrame,
                 index_codes: tuple[str, ...]) -> str:
    """The cache key: the store's state, the window, deal price, vwap fill, benchmark and index
    codes (the membership loaded) and the set of scored symbols (the bars loaded)."""
    c = win.config
    names = scores["symbol"].unique().sort().to_list()
    return market_cache.entry_key(store, state, {
        "kind": "universe", "start": str(c.start), "end": str(c.end), "deal": c.deal_price, "fill": c.vwap_fill,
        "benchmark": c.benchmark, "codes": sorted(index_codes), "symbols": digest("\n".join(names).encode())})


def cached(store: MarketStore, key: str, config: BacktestConfig, load: Callable[[], RunData]) -> Universe:
    """``build(load(), config)`` once per ``key`` (``market_cache.cached``, kind ``universe``)."""
    return market_cache.cached("universe", store, key, lambda: build(load(), config), encode, decode)


def encode(u: Universe) -> dict[str, np.ndarray]:
    """The universe as plain arrays (strings as JSON text: no object arrays, no pickle)."""
    out: dict[str, np.ndarray] = {"dates": np.array(u.dates, dtype="datetime64[D]"),
                                  "symbols": np.array(u.symbols, dtype=str), "status": u.status,
                                  "vwap_gap": u.vwap_gap}
    out.update({f"bench.{c}": u.benchmark[c].to_numpy() for c in u.benchmark.columns})
    out.update({f"gaps.{c}": u.gaps[c].to_numpy() for c in u.gaps.columns})
    meta = {"benchmark_name": u.benchmark_name, "tr_name": u.tr_name, "bench": u.benchmark.columns,
            "gaps": u.gaps.columns}
    out["meta"] = np.array(json.dumps(meta))
    return out


def decode(a: dict[str, np.ndarray]) -> Universe:
    """``encode``'s inverse; a ``ValueError`` / ``KeyError`` when the arrays do not fit."""
    meta: dict[str, Any] = json.loads(str(a["meta"]))
    dates = tuple(a["dates"].astype("datetime64[D]").astype(object))
    symbols = tuple(str(s) for s in a["symbols"])
    status, gap = a["status"], a["vwap_gap"]
    if status.shape != (len(dates), len(symbols)) or status.dtype != np.int8:
        raise ValueError("cached status does not fit its universe")
    if gap.size and gap.shape != status.shape:
        raise ValueError("cached vwap gaps do not fit their universe")
    bench = pl.DataFrame({c: a[f"bench.{c}"] for c in meta["bench"]})
    if "date" in bench.columns:
        bench = bench.with_columns(pl.col("date").cast(pl.Date))
    gaps = pl.DataFrame({c: a[f"gaps.{c}"] for c in meta["gaps"]}, schema={c: GAP_SCHEMA[c] for c in meta["gaps"]})
    return Universe(dates, symbols, status, gap, bench, str(meta["benchmark_name"]), meta["tr_name"], gaps)
