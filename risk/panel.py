"""Dense (date x symbol) inputs of the risk model, read from the market store.

Steps (``load_panel``):
  1. the calendar from ``config.lookback`` trading days before ``start`` to ``end``;
  2. raw bars (close, volume, adj factor, caps, suspension, ST) scattered into (T, N) arrays;
     total returns from the back-adjusted close (``close * adj_factor``);
  3. caps where the store has none (the real data after 2022-01-14): the last known share
     count carried forward with raw prices over the store's whole history
     (``carried_caps``), marked in ``carried``;
  4. turnover = raw volume / float shares (so it exists wherever a share count does);
  5. point-in-time industries painted from the store's intervals, PB from the fundamentals,
     estimation-universe membership from the index snapshots.
Missing values are NaN (floats), -1 (industry codes) or False (masks).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from numba import njit

from flyer.core.errors import FlyerError
from flyer.risk.config import RiskConfig

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

SPLIT_RATIO = 1.05  # an adj-factor step above this is a bonus issue / split: the share count scales with it


@dataclass(frozen=True, eq=False)
class RiskPanel:
    """Dense inputs; rows are trading days, columns symbols (both ascending).

    ret: (T, N) total daily return (fraction), NaN without a bar today and yesterday.
    traded: (T, N) bool, a bar with volume > 0 and not suspended.
    cap / float_cap: (T, N) CNY, carried where the store has none (see ``carried``).
    turnover: (T, N) raw volume / float shares (fraction of float traded).
    ind: (T, N) int64 index into ``industries`` (-1 = unknown).
    bp: (T, N) book-to-price = 1 / PB (NaN where PB is missing or 0).
    member: (T, N) bool, in the estimation universe's indexes that day (all True for ``all``).
    age: (T, N) int64 bars since the stock's first bar in the store (1 on that day).
    is_st: (T, N) bool.
    carried: (T, N) bool, cap computed from a carried share count.
    first_row: index of ``config.start`` (rows before it are lookback history).
    """

    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    industries: tuple[str, ...]
    industry_names: tuple[str, ...]
    ret: np.ndarray
    traded: np.ndarray
    cap: np.ndarray
    float_cap: np.ndarray
    turnover: np.ndarray
    ind: np.ndarray
    bp: np.ndarray
    member: np.ndarray
    age: np.ndarray
    is_st: np.ndarray
    carried: np.ndarray
    first_row: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.ret.shape


@njit(cache=True)
def carry_shares_nb(sid: np.ndarray, close: np.ndarray, adj: np.ndarray, cap: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """Long rows sorted by (stock id ``sid``, date) -> (cap, carried): ``cap`` where known, else
    the last known share count (cap / raw close) times today's raw close. The count scales with
    the adj factor on days it steps up by more than ``SPLIT_RATIO`` (bonus shares, splits); cash
    dividends leave it unchanged. NaN before a stock's first known cap."""
    n = sid.shape[0]
    out = np.full(n, np.nan)
    carried = np.zeros(n, dtype=np.bool_)
    shares = np.nan
    for r in range(n):
        if r == 0 or sid[r] != sid[r - 1]:
            shares = np.nan
        elif adj[r] > adj[r - 1] * SPLIT_RATIO and not np.isnan(shares):
            shares *= adj[r] / adj[r - 1]
        if not np.isnan(cap[r]) and cap[r] > 0 and close[r] > 0:
            out[r] = cap[r]
            shares = cap[r] / close[r]
        elif not np.isnan(shares):
            out[r] = shares * close[r]
            carried[r] = True
    return out, carried


def carried_caps(store: MarketStore, end: dt.date, symbols: list[str] | None = None) -> pl.DataFrame:
    """[symbol, date, cap, float_cap, carried] over the store's whole history up to ``end``
    (a carried count may come from years back): total and float caps in CNY with the share
    counts carried where the store has no cap (``carry_shares_nb``)."""
    bars = store.bars(None, end, symbols=symbols, adjust=False,
                      columns=["close", "adj_factor", "total_cap", "float_cap"])
    if not bars["symbol"].is_sorted():
        bars = bars.sort("symbol", "date")
    sid = bars["symbol"].rle_id().to_numpy()
    close = bars["close"].to_numpy().astype(np.float64)
    adj = bars["adj_factor"].fill_null(1.0).to_numpy().astype(np.float64)
    arr = lambda c: bars[c].fill_null(np.nan).to_numpy().astype(np.float64)  # noqa: E731
    cap, carried = carry_shares_nb(sid, close, adj, arr("total_cap"))
    fcap, _ = carry_shares_nb(sid, close, adj, arr("float_cap"))
    return bars.select("symbol", "date").with_columns(
        pl.Series("cap", cap), pl.Series("float_cap", np.where(np.isnan(fcap), cap, fcap)),
        pl.Series("carried", carried))


@njit(cache=True)
def returns_nb(adj_close: np.ndarray, has_bar: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ret (T, N), age (T, N)): close-to-close total return where today and the previous row
    have bars; age counts a stock's bars (0 before its first)."""
    t, n = adj_close.shape
    ret = np.full((t, n), np.nan)
    age = np.zeros((t, n), dtype=np.int64)
    for j in range(n):
        count = 0
        for i in range(t):
            if has_bar[i, j]:
                count += 1
                if i > 0 and has_bar[i - 1, j] and adj_close[i - 1, j] > 0:
                    ret[i, j] = adj_close[i, j] / adj_close[i - 1, j] - 1.0
            age[i, j] = count
    return ret, age


def risk_calendar(store: MarketStore, config: RiskConfig, end: dt.date | None,
                  start: dt.date | None = None) -> tuple[list[dt.date], int]:
    """(days from ``lookback`` before the first model date through ``end``, row of the first model date)."""
    cal = store.calendar(None, end).to_list()
    if not cal:
        raise FlyerError("the store has no calendar: ingest data first")
    first = start or config.start
    i0 = next((i for i, d in enumerate(cal) if first is None or d >= first), len(cal))
    if first is None:
        i0 = min(config.lookback, len(cal) - 1)
    if i0 >= len(cal):
        raise FlyerError(f"no trading days in the store from {first} to {end}")
    lo = max(0, i0 - config.lookback)
    return cal[lo:], i0 - lo


def _scatter(frame: pl.DataFrame, column: str, row_of: dict, col_of: dict, shape: tuple[int, int],
             fill: float | bool | int, dtype: type) -> np.ndarray:
    out: np.ndarray = np.full(shape, fill, dtype=dtype)
    if frame.height == 0:
        return out
    ri = frame["date"].replace_strict(row_of, default=-1, return_dtype=pl.Int64).to_numpy()
    ci = frame["symbol"].replace_strict(col_of, default=-1, return_dtype=pl.Int64).to_numpy()
    ok = (ri >= 0) & (ci >= 0)
    vals = frame[column].to_numpy()
    out[ri[ok], ci[ok]] = vals[ok]
    return out


def load_panel(store: MarketStore, config: RiskConfig, end: dt.date | None = None,
               start: dt.date | None = None) -> RiskPanel:
    """Dense risk-model inputs from ``lookback`` days before ``start`` (default ``config.start``)
    to ``end``: see the module docstring."""
    days, first_row = risk_calendar(store, config, end, start)
    cols = ["close", "volume", "adj_factor", "is_suspended", "is_st"]
    bars = store.bars(days[0], days[-1], adjust=False, columns=cols)
    if bars.height == 0:
        raise FlyerError(f"the store has no bars between {days[0]} and {days[-1]}")
    symbols = bars["symbol"].unique().sort().to_list()
    row_of = {d: i for i, d in enumerate(days)}
    col_of = {s: j for j, s in enumerate(symbols)}
    shape = (len(days), len(symbols))
    f = lambda c: _scatter(bars, c, row_of, col_of, shape, np.nan, np.float64)  # noqa: E731
    close, volume, adj = f("close"), f("volume"), f("adj_factor")
    has_bar = ~np.isnan(close)
    susp = _scatter(bars.with_columns(pl.col("is_suspended").fill_null(False)), "is_suspended",
                    row_of, col_of, shape, True, np.bool_)
    is_st = _scatter(bars.with_columns(pl.col("is_st").fill_null(False)), "is_st", row_of, col_of, shape,
                     False, np.bool_)
    ret, age = returns_nb(close * adj, has_bar)
    caps = carried_caps(store, days[-1]).filter(pl.col("date") >= days[0])
    cap = _scatter(caps, "cap", row_of, col_of, shape, np.nan, np.float64)
    fcap = _scatter(caps, "float_cap", row_of, col_of, shape, np.nan, np.float64)
    carried = _scatter(caps, "carried", row_of, col_of, shape, False, np.bool_)
    with np.errstate(invalid="ignore", divide="ignore"):
        turnover = np.where(fcap > 0, volume * close / fcap, np.nan)
    codes, names, ind = _industries(store, config, days, symbols)
    return RiskPanel(
        dates=tuple(days), symbols=tuple(symbols), industries=codes, industry_names=names,
        ret=ret, traded=has_bar & ~susp & (np.nan_to_num(volume) > 0), cap=cap, float_cap=fcap,
        turnover=turnover, ind=ind, bp=_book_to_price(store, days, symbols, row_of, col_of, shape),
        member=_members(store, config, days, row_of, col_of, shape), age=age, is_st=is_st,
        carried=carried, first_row=first_row)


def _industries(store: MarketStore, config: RiskConfig, days: list[dt.date], symbols: list[str]
                ) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray]:
    """(codes, names, (T, N) index into codes) from the store's point-in-time intervals."""
    iv = store.industries(standard=config.industry_standard, level=config.industry_level)
    ind = np.full((len(days), len(symbols)), -1, dtype=np.int64)
    if iv.height == 0:
        return (), (), ind
    iv = iv.filter(pl.col("symbol").is_in(symbols))
    pairs = iv.select("code", "name").unique("code", keep="last").sort("code")
    codes, names = tuple(pairs["code"].to_list()), tuple(pairs["name"].to_list())
    code_of = {c: k for k, c in enumerate(codes)}
    col_of = {s: j for j, s in enumerate(symbols)}
    day_arr = np.array(days, dtype="datetime64[D]")
    never = np.datetime64("9999-12-31")
    for s, c, a, b in iv.select("symbol", "code", "start_date", "end_date").iter_rows():
        lo = np.searchsorted(day_arr, np.datetime64(a, "D"))
        hi = np.searchsorted(day_arr, np.datetime64(b, "D") if b is not None else never)
        ind[lo:hi, col_of[s]] = code_of[c]
    return codes, names, ind


def _book_to_price(store: MarketStore, days: list[dt.date], symbols: list[str], row_of: dict, col_of: dict,
                   shape: tuple[int, int]) -> np.ndarray:
    fund = store.fundamentals(days[0], days[-1], columns=["pb_mrq"])
    fund = fund.filter(pl.col("pb_mrq").is_not_null() & (pl.col("pb_mrq") != 0)).with_columns(
        (1.0 / pl.col("pb_mrq")).alias("bp"))
    return _scatter(fund, "bp", row_of, col_of, shape, np.nan, np.float64)


def _members(store: MarketStore, config: RiskConfig, days: list[dt.date], row_of: dict, col_of: dict,
             shape: tuple[int, int]) -> np.ndarray:
    codes = config.index_codes()
    if not codes:
        return np.ones(shape, dtype=np.bool_)
    out = np.zeros(shape, dtype=np.bool_)
    for code in codes:
        found = store.membership(code, days[0], days[-1])
        if found.height == 0:
            raise FlyerError(f"estimation universe: no {code} membership in the store for {days[0]}..{days[-1]}")
        out |= _scatter(found.with_columns(pl.lit(True).alias("m")), "m", row_of, col_of, shape, False, np.bool_)
    return out
