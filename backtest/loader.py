"""Load once: everything one backtest reads from the store, in four reads, handed down as ``RunData``.

``load(store, scores, config)`` = ``reference`` + ``window`` + ``read``:
  1. ``reference``: ``MarketStore.reference``, the calendar, the instruments (list and delist
     dates) and the coverage spans, in one read; ``window`` resolves the run's dates on that
     calendar (``resolve_dates``) and cuts the scores to them (no read);
  2. ``read``: ``MarketStore.memberships``, the daily point-in-time members of the benchmark
     (and of the strategy's universe) from ``LOOKBACK`` trading days before the start to the end;
  3. ``MarketStore.bars``: the raw bars of every scored symbol and every member over the same
     days, with only the columns execution and the diagnostics need;
  4. ``MarketStore.index_closes``: the benchmark's closes and its total-return version's.
Nothing below this module goes back to the store for these: the market arrays
(``flyer.backtest.market.build_market``), the tradable-score filter, the strategies' weights,
the total-return estimate (``flyer.backtest.benchmark``) and the diagnostics
(``flyer.backtest.diagnostics``) all read ``RunData``. (The enhance strategy also reads its risk
model, which lives beside the store.) A backtest whose universe and market come from the cache
(``flyer.backtest.universe``) makes step 1 only: ``LazyData`` reads steps 2-4 when something
asks for them. ``RunData.rows_of`` finds the bar of any (date, symbol) through a dense
(day x symbol) index built once, so the filters and diagnostics need no join on the bars.
"""
from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import polars as pl

from flyer.backtest.config import BacktestConfig
from flyer.core.errors import FlyerError
from flyer.core.values import as_date

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

#: trading days loaded before the start: > rules.IPO_FREE_DAYS (a listing inside the lookback is
#: seen) and > the liquidity window + 1 (the trailing ADV and volatility of the first day)
LOOKBACK = 25
EXEC_COLUMNS = ("close", "adj_factor", "is_st", "is_suspended", "volume", "float_cap")


@dataclass(frozen=True, eq=False)
class RunData:
    """What one backtest reads from the store (module docstring); frames sorted, raw prices.

    ``calendar``: every trading day of the store; ``days``: the run's days [start, end];
    ``lookback``: the ``LOOKBACK`` days before ``start``. ``instruments`` [symbol, list_date,
    delist_date]; ``coverage`` the store's spans [tbl, key, mode, first, last, note];
    ``members`` [index_code, date, symbol, weight] over lookback + days; ``bars`` raw
    [symbol, date, close, adj_factor, is_st, is_suspended, volume, float_cap, <deal price>,
    (amount for vwap)] of the scored symbols and the members over lookback + days, sorted by
    (symbol, date); ``index`` [index_code, date, close] of the benchmark codes over the days.
    """

    calendar: tuple[dt.date, ...]
    lookback: tuple[dt.date, ...]
    days: tuple[dt.date, ...]
    instruments: pl.DataFrame
    coverage: pl.DataFrame
    members: pl.DataFrame
    bars: pl.DataFrame
    index: pl.DataFrame
    deal_price: str
    vwap_fill: str

    def members_of(self, code: str, start: dt.date | None = None) -> pl.DataFrame:
        """[date, symbol, weight] of ``code`` from ``start`` (default: the run's first day)."""
        first = start or self.days[0]
        return self.members.filter((pl.col("index_code") == code) & (pl.col("date") >= first)).drop("index_code")

    @functools.cached_property
    def bar_index(self) -> BarIndex:
        """The dense index of ``bars`` over the loaded days (lookback + days) x the loaded
        symbols (built on first use; the frame is immutable)."""
        return bar_index(self.bars, self.lookback + self.days)

    def rows_of(self, dates: pl.Series, symbols: pl.Series) -> np.ndarray:
        """(len,) int64 row of ``bars`` holding each (date, symbol), -1 where there is none."""
        return self.bar_index.rows_of(dates, symbols)

    def bars_of(self, symbols: list[str] | None = None, start: dt.date | None = None) -> pl.DataFrame:
        """The loaded bars of ``symbols`` (all when None) from ``start`` (default: the lookback's
        first day), sorted by (symbol, date)."""
        df = self.bars
        if start is not None:
            df = df.filter(pl.col("date") >= start)
        if symbols is not None:
            df = df.filter(pl.col("symbol").is_in(symbols))
        return df


class BarIndex(NamedTuple):
    """Where each bar of a frame sorted by (symbol, date) lies: ``days`` (T,) int days since
    1970 ascending, ``symbols`` (N,) the frame's symbols in order, ``rows`` (T, N) int64 row of
    the bar of day t and symbol j (-1: no bar that day)."""

    days: np.ndarray
    symbols: tuple[str, ...]
    rows: np.ndarray

    def locate(self, dates: pl.Series, symbols: pl.Series) -> tuple[np.ndarray, np.ndarray]:
        """(row t, column j) of each (date, symbol), -1 where the date or the symbol is not here."""
        return day_positions(self.days, dates), symbol_positions(self.symbols, symbols)

    def mask(self, dates: tuple[dt.date, ...], symbols: tuple[str, ...]) -> np.ndarray:
        """(len(dates), len(symbols)) bool: a bar of that symbol on that day."""
        t = day_positions(self.days, pl.Series(list(dates), dtype=pl.Date))
        j = symbol_positions(self.symbols, pl.Series(list(symbols), dtype=pl.Utf8))
        found = self.rows[np.ix_(np.maximum(t, 0), np.maximum(j, 0))] >= 0
        return found & (t >= 0)[:, None] & (j >= 0)[None, :]

    def rows_of(self, dates: pl.Series, symbols: pl.Series) -> np.ndarray:
        t, j = self.locate(dates, symbols)
        ok = (t >= 0) & (j >= 0)
        out = np.full(t.shape[0], -1, dtype=np.int64)
        out[ok] = self.rows[t[ok], j[ok]]
        return out


def bar_index(bars: pl.DataFrame, days: tuple[dt.date, ...]) -> BarIndex:
    """``BarIndex`` of ``bars`` (sorted by (symbol, date)) over the trading ``days``."""
    day_int = np.array(days, dtype="datetime64[D]").astype(np.int64)
    names = bars["symbol"].unique(maintain_order=True)
    sid = bars["symbol"].rle_id().to_numpy().astype(np.int64)
    t = day_positions(day_int, bars["date"])
    rows = np.full((day_int.shape[0], names.len()), -1, dtype=np.int64)
    ok = t >= 0
    rows[t[ok], sid[ok]] = np.flatnonzero(ok)
    return BarIndex(day_int, tuple(names.to_list()), rows)


def day_positions(days: np.ndarray, dates: pl.Series) -> np.ndarray:
    """(len,) int64 position of each date in the sorted int ``days``, -1 where absent or null
    (a long sorted column is looked up once per run of equal dates)."""
    d = dates.cast(pl.Int32).fill_null(np.iinfo(np.int32).min)
    if d.len() > 8 * max(days.shape[0], 1) and d.is_sorted():
        runs = d.rle()
        found = _positions(days, runs.struct.field("value").to_numpy().astype(np.int64))
        return np.repeat(found, runs.struct.field("len").to_numpy())
    return _positions(days, d.to_numpy().astype(np.int64))


def _positions(days: np.ndarray, d: np.ndarray) -> np.ndarray:
    if days.shape[0] == 0:
        return np.full(d.shape[0], -1, dtype=np.int64)
    pos = np.minimum(np.searchsorted(days, d), days.shape[0] - 1)
    return np.where(days[pos] == d, pos, -1).astype(np.int64)


def symbol_positions(names: tuple[str, ...], symbols: pl.Series) -> np.ndarray:
    """(len,) int64 position of each symbol in ``names``, -1 where absent or null."""
    lookup = pl.DataFrame({"symbol": list(names), "_j": np.arange(len(names), dtype=np.int64)},
                          schema={"symbol": pl.Utf8, "_j": pl.Int64})
    hit = pl.DataFrame({"symbol": symbols.cast(pl.Utf8)}).join(lookup, on="symbol", how="left",
                                                                maintain_order="left")
    return hit["_j"].fill_null(-1).to_numpy().astype(np.int64)


def resolve_dates(calendar: list[dt.date], scores: pl.DataFrame, config: BacktestConfig) -> BacktestConfig:
    """Fill ``start`` (first score date) and ``end`` (the trading day after the last score, capped
    by the calendar). Under ``rules="qlib"`` a given ``start`` is the first trading day: the run
    starts the trading day before it, whose scores trade on ``start``."""
    start = config.start or as_date(scores["date"].min(), "first score date")
    if config.rules == "qlib" and config.start is not None:  # qlib trades on its start day, from the day before
        earlier = [d for d in calendar if d < config.start]
        start = earlier[-1] if earlier else start
    end = config.end
    if end is None:
        last = as_date(scores["date"].max(), "last score date")
        after = [d for d in calendar if d >= last][:2]
        end = after[1] if len(after) > 1 else (after[0] if after else last)
    if scores.filter(pl.col("date").is_between(start, end)).height == 0:
        raise FlyerError(f"no scores between {start} and {end}")
    return config.replace(start=start, end=end)


def benchmark_codes(code: str) -> list[str]:
    """The codes a benchmark may be stored under: its total-return version first (``H`` +
    code, e.g. H00905.CSI), then the price index ``code`` itself."""
    stem, _, ex = code.partition(".")
    return [code] if stem.startswith("H") else [f"H{stem[1:]}.CSI", f"H{stem[1:]}.{ex}", code]


@dataclass(frozen=True, eq=False)
class Reference:
    """Step 1: the store's ``calendar`` (every trading day), ``instruments`` [symbol, list_date,
    delist_date] and ``coverage`` spans [tbl, key, mode, first, last, note]."""

    calendar: tuple[dt.date, ...]
    instruments: pl.DataFrame
    coverage: pl.DataFrame


@dataclass(frozen=True, eq=False)
class Window:
    """The run's dates: ``config`` with ``start`` / ``end`` resolved, the ``days`` [start, end]
    and the ``lookback`` (``LOOKBACK`` trading days before ``start``)."""

    config: BacktestConfig
    lookback: tuple[dt.date, ...]
    days: tuple[dt.date, ...]


def reference(store: MarketStore) -> Reference:
    """Step 1 (one read): a ``FlyerError`` for a store without trading days."""
    cal, inst, cov = store.reference()
    if cal.len() == 0:
        raise FlyerError("the market store holds no trading days: ingest first")
    return Reference(tuple(cal.to_list()), inst, cov)


def window(ref: Reference, scores: pl.DataFrame, config: BacktestConfig) -> tuple[Window, pl.DataFrame]:
    """The run's ``Window`` on the store's calendar and the ``scores`` cut to it (no read)."""
    calendar = list(ref.calendar)
    config = resolve_dates(calendar, scores, config)
    assert config.start is not None and config.end is not None
    scores = scores.filter(pl.col("date").is_between(config.start, config.end))
    first = next((i for i, d in enumerate(calendar) if d >= config.start), len(calendar))
    last = next((i for i, d in enumerate(calendar) if d > config.end), len(calendar))
    lookback, days = tuple(calendar[max(0, first - LOOKBACK):first]), tuple(calendar[first:last])
    if not days:
        raise FlyerError(f"no trading days in the store between {config.start} and {config.end}")
    return Window(config, lookback, days), scores


def read(store: MarketStore, ref: Reference, win: Window, scores: pl.DataFrame,
         index_codes: tuple[str, ...] = ()) -> RunData:
    """Steps 2-4 (three reads): the members, bars and benchmark closes of the window."""
    config, lookback, days = win.config, win.lookback, win.days
    assert config.end is not None
    lo = (lookback or days)[0]
    codes = sorted({config.benchmark, *index_codes})
    members = store.memberships(codes, lo, config.end)
    names = sorted(set(scores["symbol"].unique().to_list()) | set(members["symbol"].unique().to_list()))
    deal = [] if config.deal_price == "close" else [config.deal_price]
    extra = ["amount"] if config.deal_price == "vwap" else []
    bars = store.bars(lo, config.end, symbols=names, adjust=False, columns=[*EXEC_COLUMNS, *deal, *extra],
                      vwap_fill=config.vwap_fill)
    if not bars["symbol"].is_sorted():
        bars = bars.sort("symbol", "date")
    index = store.index_closes(benchmark_codes(config.benchmark), days[0], config.end)
    return RunData(ref.calendar, lookback, days, ref.instruments, ref.coverage, members, bars, index,
                   config.deal_price, config.vwap_fill)


class LazyData:
    """``read`` on first ``get()``, then the same ``RunData``: a backtest served from the cache
    never reads steps 2-4."""

    def __init__(self, store: MarketStore, ref: Reference, win: Window, scores: pl.DataFrame,
                 index_codes: tuple[str, ...] = ()) -> None:
        self._args = (store, ref, win, scores, index_codes)
        self._data: RunData | None = None

    @property
    def days(self) -> tuple[dt.date, ...]:
        return self._args[2].days

    @property
    def deal_price(self) -> str:
        return self._args[2].config.deal_price

    @property
    def vwap_fill(self) -> str:
        return self._args[2].config.vwap_fill

    @property
    def loaded(self) -> bool:
        return self._data is not None

    def get(self) -> RunData:
        if self._data is None:
            self._data = read(*self._args)
        return self._data


def load(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig, index_codes: tuple[str, ...] = ()
         ) -> tuple[RunData, BacktestConfig, pl.DataFrame]:
    """(the run's data, ``config`` with its dates resolved, ``scores`` cut to them); steps 1-4
    of the module docstring. ``index_codes``: membership to load besides the benchmark's (a
    strategy's universe)."""
    ref = reference(store)
    win, scores = window(ref, scores, config)
    return read(store, ref, win, scores, index_codes), win.config, scores


def market_data(store: MarketStore, symbols: list[str], start: dt.date | None, end: dt.date | None,
                deal_price: str = "open", vwap_fill: str = "none") -> RunData:
    """The ``RunData`` of a market alone (no membership, no index): the calendar and
    instruments, and the bars of ``symbols`` over [start, end] plus the lookback (what
    ``flyer.backtest.market.load_market`` builds arrays from)."""
    cal, inst, cov = store.reference()
    calendar = [d for d in cal.to_list() if end is None or d <= end]
    first = next((i for i, d in enumerate(calendar) if start is None or d >= start), len(calendar))
    lookback, days = tuple(calendar[max(0, first - LOOKBACK):first]), tuple(calendar[first:])
    if not days:
        raise FlyerError(f"no trading days in the store between {start} and {end}")
    deal = [] if deal_price == "close" else [deal_price]
    bars = store.bars((lookback or days)[0], days[-1], symbols=symbols, adjust=False,
                      columns=[*EXEC_COLUMNS, *deal], vwap_fill=vwap_fill)
    if not bars["symbol"].is_sorted():
        bars = bars.sort("symbol", "date")
    empty = pl.DataFrame(schema={"index_code": pl.Utf8, "date": pl.Date, "symbol": pl.Utf8, "weight": pl.Float64})
    return RunData(tuple(cal.to_list()), lookback, days, inst, cov, empty, bars,
                   pl.DataFrame(schema={"index_code": pl.Utf8, "date": pl.Date, "close": pl.Float64}),
                   deal_price, vwap_fill)
