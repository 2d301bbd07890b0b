"""Load once: everything one backtest reads from the store, in four reads, handed down as ``RunData``.

``load(store, scores, config)``:
  1. ``MarketStore.reference``: the calendar, the instruments (list and delist dates) and the
     coverage spans, in one read; the run's dates are resolved on that calendar
     (``resolve_dates``) and the scores cut to them;
  2. ``MarketStore.memberships``: the daily point-in-time members of the benchmark (and of the
     strategy's universe) from ``LOOKBACK`` trading days before the start to the end;
  3. ``MarketStore.bars``: the raw bars of every scored symbol and every member over the same
     days, with only the columns execution and the diagnostics need;
  4. ``MarketStore.index_closes``: the benchmark's closes and its total-return version's.
Nothing below this module goes back to the store for these: the market arrays
(``flyer.backtest.market.build_market``), the tradable-score filter, the strategies' weights,
the total-return estimate (``flyer.backtest.benchmark``) and the diagnostics
(``flyer.backtest.diagnostics``) all read ``RunData``. (The enhance strategy also reads its risk
model, which lives beside the store.)
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

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

    def bars_of(self, symbols: list[str] | None = None, start: dt.date | None = None) -> pl.DataFrame:
        """The loaded bars of ``symbols`` (all when None) from ``start`` (default: the lookback's
        first day), sorted by (symbol, date)."""
        df = self.bars
        if start is not None:
            df = df.filter(pl.col("date") >= start)
        if symbols is not None:
            df = df.filter(pl.col("symbol").is_in(symbols))
        return df


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


def load(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig, index_codes: tuple[str, ...] = ()
         ) -> tuple[RunData, BacktestConfig, pl.DataFrame]:
    """(the run's data, ``config`` with its dates resolved, ``scores`` cut to them); steps 1-4
    of the module docstring. ``index_codes``: membership to load besides the benchmark's (a
    strategy's universe)."""
    cal, inst, cov = store.reference()
    calendar = cal.to_list()
    if not calendar:
        raise FlyerError("the market store holds no trading days: ingest first")
    config = resolve_dates(calendar, scores, config)
    assert config.start is not None and config.end is not None
    scores = scores.filter(pl.col("date").is_between(config.start, config.end))
    first = next((i for i, d in enumerate(calendar) if d >= config.start), len(calendar))
    last = next((i for i, d in enumerate(calendar) if d > config.end), len(calendar))
    lookback, days = tuple(calendar[max(0, first - LOOKBACK):first]), tuple(calendar[first:last])
    if not days:
        raise FlyerError(f"no trading days in the store between {config.start} and {config.end}")
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
    data = RunData(tuple(calendar), lookback, days, inst, cov, members, bars, index, config.deal_price,
                   config.vwap_fill)
    return data, config, scores


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
