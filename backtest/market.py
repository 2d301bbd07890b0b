"""Prepare dense (date x symbol) execution arrays from the market store.

Steps (``load_market``):
  1. the trading calendar from ``start`` to ``end`` plus ``LOOKBACK`` earlier days (previous
     close for price limits, and whether a stock listed recently);
  2. raw bars (``adjust=False``) of the requested symbols;
  3. per stock-day in polars: raw previous close ``close[t-1] * adj[t-1] / adj[t]``, day of
     listing (from the stock's first bar), board (``flyer.data.symbols.board_expr``), limit prices
     (``flyer.data.rules.limit_prices_expr``), the deal price (open / close / vwap);
  4. buy/sell blocking flags per stock-day (``rules_nb.buy_blocked_nb`` / ``sell_blocked_nb``);
  5. scatter into dense arrays, forward-fill the adjusted close and adj factor;
     ``delist_row``: the first row after a stock's last bar when the calendar goes on.

Positions are simulated in *adjusted shares* q = raw shares / adj_factor, valued at the
adjusted price raw x adj_factor. q is unchanged by a split or dividend, so raw share counts
scale by adj[t]/adj[t-1] on an adj_factor change: dividends and splits are reinvested and NAV
follows the total-return (back-adjusted) price. Lots apply to raw shares q x adj.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from numba import njit

from flyer.backtest import rules_nb
from flyer.data import rules
from flyer.data.symbols import board_expr

LOOKBACK = 10  # > rules.IPO_FREE_DAYS, so a listing inside the lookback is seen
EXCHANGES = ("SH", "SZ", "BJ")


@dataclass(frozen=True, eq=False)
class Market:
    """Dense execution inputs; rows are trading days, columns symbols (axis order as named).

    deal: (T, N) raw deal price in CNY, NaN where the stock has no bar.
    adj: (T, N) adj factor, forward-filled (1 before the first bar).
    close_val: (T, N) adjusted close raw x adj, forward-filled, NaN before the first bar.
    buy_block / sell_block: (T, N) bool, no bar, suspended or at the limit.
    delist_row: (N,) int, row of the forced sale at the last close (T when never delisted).
    min_lot / lot_inc: (N,) shares; exch: (N,) 0 SH, 1 SZ, 2 BJ.
    stamp: (T,) seller stamp duty rate; transfer: (T, 3) transfer fee rate by exchange.
    """

    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    deal: np.ndarray
    adj: np.ndarray
    close_val: np.ndarray
    buy_block: np.ndarray
    sell_block: np.ndarray
    delist_row: np.ndarray
    min_lot: np.ndarray
    lot_inc: np.ndarray
    exch: np.ndarray
    stamp: np.ndarray
    transfer: np.ndarray
    deal_price: str

    @property
    def shape(self) -> tuple[int, int]:
        return self.deal.shape


def trade_calendar(store, start: dt.date | None, end: dt.date | None) -> tuple[list[dt.date], list[dt.date]]:
    """(lookback days, days in [start, end]) from the store's calendar."""
    cal = store.calendar(None, end).to_list()
    first = next((i for i, d in enumerate(cal) if start is None or d >= start), len(cal))
    return cal[max(0, first - LOOKBACK):first], cal[first:]


def read_bars(store, days: list[dt.date], symbols: list[str], deal_price: str) -> pl.DataFrame:
    """Raw bars sorted by (symbol, date) with only the columns execution needs."""
    cols = ["symbol", "date", "close", "adj_factor", "is_st", "is_suspended"] + \
        ([deal_price] if deal_price != "close" else [])
    bars = store.bars(days[0], days[-1], symbols=symbols, adjust=False, columns=cols)
    if not bars["symbol"].is_sorted():
        bars = bars.sort("symbol", "date")
    return bars


@njit(cache=True)
def per_stock_nb(sid: np.ndarray, close: np.ndarray, adj: np.ndarray, date: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by (stock, date): (raw previous close in today's share basis
    close[t-1] * adj[t-1] / adj[t] (NaN on a stock's first row), 1-based row number within the
    stock, date (int days) of the stock's first row)."""
    n = sid.shape[0]
    prev = np.full(n, np.nan)
    nth = np.ones(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    for r in range(n):
        if r > 0 and sid[r] == sid[r - 1]:
            prev[r] = close[r - 1] * adj[r - 1] / adj[r]
            nth[r] = nth[r - 1] + 1
            first[r] = first[r - 1]
        else:
            first[r] = date[r]
    return prev, nth, first


def stock_days(store, days: list[dt.date], symbols: list[str], deal_price: str) -> pl.DataFrame:
    """Long frame of raw bars with prev close, day of listing, limit prices and block flags.

    Day of listing counts the stock's bars from its first one; a stock whose first loaded bar is
    the first lookback day (and not its list date) listed earlier: counted as listed long ago.
    """
    bars = read_bars(store, days, symbols, deal_price)
    sid = bars["symbol"].rle_id().to_numpy()
    names = bars["symbol"].unique(maintain_order=True)
    lists = dict(zip(*store.instruments().select("symbol", "list_date").to_dict(as_series=False).values()))
    info = pl.DataFrame({"board": _boards(names.to_list()),
                         "list_date": [lists.get(x) for x in names.to_list()]},
                        schema={"board": pl.Utf8, "list_date": pl.Date})
    date_int = bars["date"].cast(pl.Int32).to_numpy().astype(np.int64)
    prev, nth, first = per_stock_nb(sid, bars["close"].to_numpy().astype(np.float64),
                                    bars["adj_factor"].to_numpy().astype(np.float64), date_int)
    c = pl.col
    df = bars.with_columns(
        pl.Series("sid", sid), pl.Series("prev_close", prev), pl.Series("nth", nth),
        pl.Series("first", first).cast(pl.Int32).cast(pl.Date),
        info["board"].gather(sid).alias("board"), info["list_date"].gather(sid).alias("list_date"),
    ).with_columns(
        pl.when((c("first") > days[0]) | (c("first") == c("list_date")))
        .then(c("nth")).otherwise(c("nth") + 1000).alias("dol"),
    )
    up, down = rules.limit_prices_expr(c("prev_close").fill_nan(None), c("board"), c("is_st"), c("date"), c("dol"))
    df = df.with_columns(up.alias("limit_up"), down.alias("limit_down"), c(deal_price).alias("deal"))
    buy, sell = block_flags_nb(
        df["deal"].to_numpy().astype(np.float64), df["close"].to_numpy().astype(np.float64),
        df["limit_up"].fill_null(np.nan).to_numpy().astype(np.float64),
        df["limit_down"].fill_null(np.nan).to_numpy().astype(np.float64),
        df["is_suspended"].fill_null(False).to_numpy(), deal_price == "open")
    return df.with_columns(pl.Series("buy_block", buy), pl.Series("sell_block", sell))


@njit(cache=True)
def block_flags_nb(deal: np.ndarray, close: np.ndarray, up: np.ndarray, down: np.ndarray,
                   suspended: np.ndarray, deal_is_open: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per stock-day buy / sell block flags (flat arrays, one entry per bar)."""
    n = deal.shape[0]
    buy = np.empty(n, dtype=np.bool_)
    sell = np.empty(n, dtype=np.bool_)
    for r in range(n):
        ok = not np.isnan(deal[r]) and deal[r] > 0
        buy[r] = rules_nb.buy_blocked_nb(ok, suspended[r], deal[r], close[r], up[r], deal_is_open)
        sell[r] = rules_nb.sell_blocked_nb(ok, suspended[r], deal[r], close[r], down[r], deal_is_open)
    return buy, sell


@njit(cache=True)
def ffill_nb(a: np.ndarray, fill_first: float) -> np.ndarray:
    """Forward-fill NaN down each column in place; leading NaN become ``fill_first``."""
    for j in range(a.shape[1]):
        last = fill_first
        for i in range(a.shape[0]):
            if np.isnan(a[i, j]):
                a[i, j] = last
            else:
                last = a[i, j]
    return a


def _dense(ri: np.ndarray, ci: np.ndarray, values: np.ndarray, shape: tuple[int, int], fill) -> np.ndarray:
    out = np.full(shape, fill, dtype=np.asarray(values).dtype)
    out[ri, ci] = values
    return out


def fee_rates(days: list[dt.date]) -> tuple[np.ndarray, np.ndarray]:
    """(stamp (T,), transfer (T, 3)) rates by trade date from ``flyer.data.rules``."""
    stamp = np.array([rules.stamp_duty_rate(d) for d in days], dtype=np.float64)
    transfer = np.array([[rules.transfer_fee_rate(d, ex) for ex in EXCHANGES] for d in days], dtype=np.float64)
    return stamp.reshape(len(days)), transfer.reshape(len(days), 3)


def load_market(store, symbols: list[str], start: dt.date | None, end: dt.date | None,
                deal_price: str = "open") -> Market:
    """Dense execution arrays for ``symbols`` over the trading days in [start, end]."""
    lookback, days = trade_calendar(store, start, end)
    if not days:
        raise ValueError(f"no trading days in the store between {start} and {end}")
    symbols = sorted(set(symbols))
    long = stock_days(store, lookback + days, symbols, deal_price)
    present = long["symbol"].unique(maintain_order=True).to_list()
    last_bar = long.group_by("sid").agg(pl.col("date").max().alias("last")).sort("sid")
    long = long.filter(pl.col("date") >= days[0])
    shape = (len(days), len(present))
    day_int = np.array(days, dtype="datetime64[D]").astype(np.int64)
    ri = np.searchsorted(day_int, long["date"].cast(pl.Int32).to_numpy().astype(np.int64))
    ci = long["sid"].to_numpy().astype(np.int64)
    stamp, transfer = fee_rates(days)
    adj = ffill_nb(_dense(ri, ci, long["adj_factor"].to_numpy().astype(np.float64), shape, np.nan), 1.0)
    close_val = ffill_nb(_dense(ri, ci, (long["close"] * long["adj_factor"]).to_numpy(), shape, np.nan), np.nan)
    return Market(
        dates=tuple(days), symbols=tuple(present),
        deal=_dense(ri, ci, long["deal"].to_numpy().astype(np.float64), shape, np.nan),
        adj=adj, close_val=close_val,
        buy_block=_dense(ri, ci, long["buy_block"].to_numpy(), shape, True),
        sell_block=_dense(ri, ci, long["sell_block"].to_numpy(), shape, True),
        delist_row=_delist_rows(last_bar["last"], days),
        min_lot=np.array([rules.lot_rules(b)[0] for b in _boards(present)], dtype=np.float64),
        lot_inc=np.array([rules.lot_rules(b)[1] for b in _boards(present)], dtype=np.float64),
        exch=np.array([EXCHANGES.index(s.split(".")[1]) for s in present], dtype=np.int64),
        stamp=stamp, transfer=transfer, deal_price=deal_price,
    )


def _boards(symbols: list[str]) -> list[str]:
    frame = pl.DataFrame({"s": symbols}, schema={"s": pl.Utf8})
    return frame.select(board_expr(pl.col("s")).alias("b"))["b"].to_list()


def _delist_rows(last: pl.Series, days: list[dt.date]) -> np.ndarray:
    """Row of the first trading day after each symbol's last bar (len(days) if none in range)."""
    idx = np.searchsorted(np.array(days, dtype="datetime64[D]"), last.to_numpy().astype("datetime64[D]"),
                          side="right")
    return idx.astype(np.int64)
