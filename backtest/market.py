"""Prepare the dense (date x symbol) execution arrays of a backtest from its loaded data.

``build(data, symbols, rules)`` turns the bars ``flyer.backtest.loader`` read (``RunData``) into a
:class:`Market`, the numeric kernels living in ``flyer.backtest.market_nb``; ``cached(store, data,
symbols, rules)`` returns the arrays of an identical request on the same store content from
``flyer.backtest.market_cache`` (process memo, then disk) instead; ``load_market(store, symbols,
start, end, ...)`` reads what it needs and builds one (notebooks, tests):
  1. the trading days from ``start`` to ``end`` plus ``loader.LOOKBACK`` earlier days (previous
     close for price limits, and whether a stock listed recently);
  2. the raw bars (``adjust=False``) of the requested symbols, and their list dates;
  3. ``stock_days`` per stock-day: raw previous close ``close[t-1] * adj[t-1] / adj[t]`` and day
     of listing (``market_nb.per_stock_nb``), board (``flyer.data.symbols.board_expr``), limit
     prices (``flyer.data.rules.limit_prices_expr``), the deal price (open / close / vwap), the
     buy/sell blocking flags (``market_nb.block_flags_nb``);
     and the trailing liquidity a fill's market impact is priced on (``market_nb.trailing_liquidity_nb``:
     ADV and daily volatility over the ``LIQUIDITY_WINDOW`` traded bars before the day);
  4. ``dense_arrays``: scatter into (T, N) arrays (``market_nb.dense``), forward-fill the adjusted
     close and adj factor (``market_nb.ffill_nb``); ``delist_row``: the first row after a
     delisted stock's last bar when the calendar goes on (``market_nb.delist_rows``; a stock
     whose bars end without a delisting date is never force-sold); lots, exchanges and fee
     rates by date from ``flyer.data.rules``.

Positions are simulated in *adjusted shares* q = raw shares / adj_factor, valued at the
adjusted price raw x adj_factor. q is unchanged by a split or dividend, so raw share counts
scale by adj[t]/adj[t-1] on an adj_factor change: dividends and splits are reinvested and NAV
follows the total-return (back-adjusted) price. Lots apply to raw shares q x adj.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import polars as pl

from flyer.backtest import market_cache, market_nb
from flyer.backtest.config import QLIB_CLOSE_COST, QLIB_LIMIT, QLIB_OPEN_COST, QLIB_TRADE_UNIT
from flyer.backtest.loader import LOOKBACK, LazyData, RunData
from flyer.data import rules
from flyer.data.symbols import board_expr

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

LIQUIDITY_WINDOW = 20  # traded bars behind a fill's ADV and volatility (market impact)
assert LOOKBACK > LIQUIDITY_WINDOW + 1
EXCHANGES = ("SH", "SZ", "BJ")


class MarketArrays(NamedTuple):
    """The dense execution inputs the numba kernels read; rows are trading days, columns symbols.

    deal: (T, N) raw deal price in CNY, NaN where the stock has no bar.
    adj: (T, N) adj factor, forward-filled (1 before the first bar).
    close_val: (T, N) adjusted close raw x adj, forward-filled, NaN before the first bar.
    buy_block / sell_block: (T, N) bool, no bar, suspended or at the limit.
    delist_row: (N,) int64, row of the forced sale at the last close (T when never delisted;
      T for every stock under ``rules="qlib"``: held after its last bar, at its last close).
    min_lot / lot_inc: (N,) float64 shares; exch: (N,) int64 0 SH, 1 SZ, 2 BJ.
    stamp: (T,) seller stamp duty rate; transfer: (T, 3) transfer fee rate by exchange.
    volume: (T, N) raw shares traded that day (0 when suspended, NaN without a bar).
    adv: (T, N) mean daily traded value in CNY, volume x close (raw), over the stock's
      ``LIQUIDITY_WINDOW`` traded bars before the day (NaN without any; volume x close rather
      than the vendor's amount, which the real data lacks after 2022-01-14); sigma: (T, N) sample std of the daily log returns of
      the adjusted close over the same window (NaN with fewer than 2 returns).
    """

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
    volume: np.ndarray
    adv: np.ndarray
    sigma: np.ndarray


@dataclass(frozen=True, eq=False)
class Market:
    """A prepared market: the labels of the axes and the kernels' arrays.

    ``dates``: the T trading days (rows); ``symbols``: the N symbols with bars (columns,
    sorted); ``deal_price``: which bar price ``arrays.deal`` holds (open / close / vwap).
    Built by :func:`build` (from a backtest's loaded data) or :func:`load_market`.
    """

    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    deal_price: str
    arrays: MarketArrays

    @property
    def shape(self) -> tuple[int, int]:
        """(T, N)."""
        return self.arrays.deal.shape


def build(data: RunData, symbols: list[str], rules: str = "ashare") -> Market:
    """Steps 1-4 of the module docstring over ``data`` (no store read, no cache)."""
    days = list(data.days)
    long = stock_days(data)
    if rules == "qlib":
        long = qlib_rules(long)
    index = data.bar_index
    cols = np.flatnonzero(np.isin(np.array(index.symbols, dtype=object), np.array(sorted(set(symbols)), dtype=object)))
    present = [index.symbols[c] for c in cols]
    # qlib keeps a delisted stock after its last bar at its last price: nobody is force-sold
    arrays = dense_arrays(long, index.rows, len(data.lookback), cols, days, present,
                          {} if rules == "qlib" else delisted(data.instruments))
    if rules == "qlib":  # qlib's costs (sell = open cost + the flat rest) and one trade unit on every board
        arrays = arrays._replace(stamp=np.full(len(days), QLIB_CLOSE_COST - QLIB_OPEN_COST),
                                 transfer=np.zeros((len(days), len(EXCHANGES))),
                                 min_lot=np.full(len(present), QLIB_TRADE_UNIT),
                                 lot_inc=np.full(len(present), QLIB_TRADE_UNIT))
    return Market(dates=tuple(days), symbols=tuple(present), deal_price=data.deal_price, arrays=arrays)


def cached(store: MarketStore, data: RunData | LazyData, symbols: list[str], rules: str = "ashare",
           state: tuple[int, int, str] | None = None) -> Market:
    """``build`` once per store state and request (``flyer.backtest.market_cache``); ``data``
    may be a ``LazyData`` (read only when the market is built), ``state`` the store's
    ``market_cache.store_state`` when the caller read it already."""
    names = sorted(set(symbols))
    load = data.get if isinstance(data, LazyData) else (lambda: data)
    return market_cache.cached_market(store, names, data.days[0], data.days[-1], data.deal_price,
                                      lambda: build(load(), names, rules), assemble,
                                      variant=f"{data.vwap_fill}|{rules}", state=state)


def assemble(dates: tuple[dt.date, ...], symbols: tuple[str, ...], deal_price: str,
             arrays: dict[str, np.ndarray]) -> Market:
    """A ``Market`` from cached arrays; a ``ValueError`` / ``TypeError`` when they do not fit
    (missing or extra arrays, shapes other than (T, N), (T,), (N,), (T, 3))."""
    ma = MarketArrays(**arrays)
    t, n = len(dates), len(symbols)
    for name, a in ma._asdict().items():
        if a.shape[:1] not in ((t,), (n,)) or (a.ndim == 2 and a.shape[1] not in (n, len(EXCHANGES))):
            raise ValueError(f"cached array {name} has shape {a.shape}, not ({t}, {n})")
    if ma.deal.shape != (t, n):
        raise ValueError("cached deal prices do not fit the market")
    return Market(dates=dates, symbols=symbols, deal_price=deal_price, arrays=ma)


def load_market(store: MarketStore, symbols: list[str], start: dt.date | None, end: dt.date | None,
                deal_price: str = "open", vwap_fill: str = "none", rules: str = "ashare",
                cache: bool = True) -> Market:
    """Dense execution arrays for ``symbols`` over the trading days in [start, end] read from the
    store (``flyer.backtest.loader.market_data``); ``rules`` ``qlib``: qlib's flat limit rule and
    costs (``qlib_rules``), its 100-share trade unit on every board (STAR included), and no
    forced sale at a delisting (qlib holds the stock at its last price). ``cache`` reuses the
    arrays of an identical request on the same store content. (A backtest builds its market
    from the data it loaded once: ``cached``.)"""
    from flyer.backtest.loader import market_data

    data = market_data(store, sorted(set(symbols)), start, end, deal_price, vwap_fill)
    return cached(store, data, symbols, rules) if cache else build(data, symbols, rules)


def build_market(store: MarketStore, symbols: list[str], start: dt.date | None, end: dt.date | None,
                 deal_price: str = "open", vwap_fill: str = "none", rules: str = "ashare") -> Market:
    """``load_market`` without the cache."""
    return load_market(store, symbols, start, end, deal_price, vwap_fill, rules, cache=False)


class StockDays(NamedTuple):
    """Per stock-day columns of the loaded bars (``RunData.bars``, rows sorted by (stock, date)
    from the first lookback day): ``sid`` (R,) int64 stock of each row (in order of
    ``RunData.bar_index.symbols``), ``date`` (R,) int days since 1970, raw ``close``, ``adj``,
    ``volume`` (NaN when null), ``suspended`` (R,) bool, ``prev_close`` (raw, in today's share
    basis; NaN on a stock's first row), the raw ``deal`` price (NaN without one), ``limit_up`` /
    ``limit_down`` (NaN: no limit), the ``buy_block`` / ``sell_block`` flags and the trailing
    ``adv`` / ``sigma``."""

    sid: np.ndarray
    date: np.ndarray
    close: np.ndarray
    adj: np.ndarray
    volume: np.ndarray
    suspended: np.ndarray
    prev_close: np.ndarray
    deal: np.ndarray
    limit_up: np.ndarray
    limit_down: np.ndarray
    buy_block: np.ndarray
    sell_block: np.ndarray
    adv: np.ndarray
    sigma: np.ndarray


def qlib_rules(long: StockDays) -> StockDays:
    """qlib's exchange (``rules="qlib"``): a stock whose close moved ``QLIB_LIMIT`` (9.5 %) or
    more from the previous close, up or down, on any board, cannot be bought or sold that day;
    suspended days and missing prices stay blocked."""
    with np.errstate(divide="ignore", invalid="ignore"):
        change = long.close / long.prev_close - 1
    at_limit = np.abs(change) >= QLIB_LIMIT - 1e-12   # NaN (no previous close) compares False
    deal_ok = ~np.isnan(long.deal) & (np.nan_to_num(long.deal, nan=0.0) > 0)
    blocked = at_limit | long.suspended | ~deal_ok
    return long._replace(buy_block=blocked, sell_block=blocked.copy())


def list_dates(instruments: pl.DataFrame) -> dict[str, dt.date | None]:
    """symbol -> list date from an instruments frame [symbol, list_date, ...]."""
    return dict(zip(instruments["symbol"].to_list(), instruments["list_date"].to_list()))


def delisted(instruments: pl.DataFrame) -> dict[str, dt.date]:
    """Symbols with a known delisting date -> that date. A stock whose bars end without one (a
    source file ended, the delisting is unknown) is neither force-sold nor tradable after its
    last bar."""
    known = instruments.filter(pl.col("delist_date").is_not_null())
    return dict(zip(known["symbol"].to_list(), known["delist_date"].to_list()))


def _column(bars: pl.DataFrame, name: str) -> np.ndarray:
    """A float64 column of ``bars`` (null -> NaN)."""
    return bars[name].cast(pl.Float64).to_numpy()


def _flag(bars: pl.DataFrame, name: str) -> np.ndarray:
    return bars[name].fill_null(False).to_numpy()


def stock_days(data: RunData) -> StockDays:
    """``StockDays`` of every loaded bar, whole columns at a time (the market of a subset of the
    symbols picks its columns when it scatters them: every figure here is per stock).

    Day of listing counts the stock's bars from its first one; a stock whose first loaded bar is
    the first lookback day (and not its list date in ``data.instruments``) listed earlier:
    counted as listed long ago.
    """
    bars, days = data.bars, list(data.lookback) + list(data.days)
    present = data.bar_index.symbols
    sid = bars["symbol"].rle_id().to_numpy().astype(np.int64)
    date = bars["date"].cast(pl.Int32).to_numpy().astype(np.int64)
    close, adj, volume = (_column(bars, c) for c in ("close", "adj_factor", "volume"))
    suspended, is_st = _flag(bars, "is_suspended"), _flag(bars, "is_st")
    deal = _column(bars, data.deal_price)
    prev, nth, first = market_nb.per_stock_nb(sid, close, adj, date)
    lists = list_dates(data.instruments)
    listed = np.array([lists.get(s) for s in present], dtype="datetime64[D]").astype(np.int64)  # NaT: never equal
    day0 = np.datetime64(days[0], "D").astype(np.int64)
    dol = np.where((first > day0) | (first == listed[sid]), nth, nth + 1000)
    board = pl.Series("b", _boards(list(present)), dtype=pl.Categorical).gather(sid)
    up, down = limit_prices(prev, board, is_st, date, dol)
    buy, sell = market_nb.block_flags_nb(deal, close, up, down, suspended, data.deal_price == "open")
    traded = ~suspended & (np.nan_to_num(volume, nan=0.0) > 0)
    adv, sigma = market_nb.trailing_liquidity_nb(sid, np.nan_to_num(volume * close, nan=0.0), close * adj, traded,
                                                 LIQUIDITY_WINDOW)
    return StockDays(sid, date, close, adj, volume, suspended, prev, deal, up, down, buy, sell, adv, sigma)


def limit_prices(prev_close: np.ndarray, board: pl.Series, is_st: np.ndarray, date: np.ndarray,
                 dol: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(limit up, limit down) raw prices (R,) by ``flyer.data.rules.limit_prices_expr`` from the
    previous close, the board of each row (categorical), ST flag, day and day of listing; NaN
    where no limit applies or without a previous close."""
    frame = pl.DataFrame([pl.Series("p", prev_close, dtype=pl.Float64), board.alias("b"),
                          pl.Series("st", is_st, dtype=pl.Boolean), pl.Series("d", date.astype(np.int32)),
                          pl.Series("n", dol, dtype=pl.Int64)])
    c = pl.col
    up, down = rules.limit_prices_expr(c("p").fill_nan(None), c("b"), c("st"), c("d").cast(pl.Date), c("n"))
    out = frame.select(up.alias("up"), down.alias("down"))
    return (out["up"].fill_null(np.nan).to_numpy().astype(np.float64, copy=False),
            out["down"].fill_null(np.nan).to_numpy().astype(np.float64, copy=False))


def dense_arrays(long: StockDays, rows: np.ndarray, first_day: int, cols: np.ndarray, days: list[dt.date],
                 present: list[str], delisted: dict[str, dt.date] | None = None) -> MarketArrays:
    """Scatter the :func:`stock_days` columns into the (T, N) kernel arrays over ``days``: the
    stocks ``cols`` (``present``) of ``rows`` ((lookback + T, S) row of each stock-day's bar,
    -1 without one; ``RunData.bar_index``) from row ``first_day`` on (``market_nb.dense_market_nb``).
    ``delisted``: the symbols force-sold (at their last close) on their delisting date, or the
    day after their last bar when that is later (None: every stock whose bars end, the day after
    its last bar); the others' holdings stay, frozen at their last close (no bar: neither
    buyable nor sellable), as do delisted ones between their last bar and their delisting date."""
    last = np.ones(long.sid.shape[0], dtype=np.bool_)
    last[:-1] = long.sid[1:] != long.sid[:-1]
    last_bar = long.date[last][cols]                             # (N,) each stock's last loaded day
    deal, adj, close_val, buy, sell, volume, adv, sigma = market_nb.dense_market_nb(
        rows, first_day, cols.astype(np.int64), long.deal, long.adj, long.close, long.volume, long.buy_block,
        long.sell_block, long.adv, long.sigma)
    stamp, transfer = fee_rates(days)
    boards = _boards(present)
    return MarketArrays(
        deal=deal, adj=adj, close_val=close_val, buy_block=buy, sell_block=sell,
        delist_row=_delist_rows(last_bar, days, present, delisted),
        min_lot=np.array([rules.lot_rules(b)[0] for b in boards], dtype=np.float64),
        lot_inc=np.array([rules.lot_rules(b)[1] for b in boards], dtype=np.float64),
        exch=np.array([EXCHANGES.index(s.split(".")[1]) for s in present], dtype=np.int64),
        stamp=stamp, transfer=transfer, volume=volume, adv=adv, sigma=sigma,
    )


def _delist_rows(last: np.ndarray, days: list[dt.date], present: list[str],
                 delisted: dict[str, dt.date] | None) -> np.ndarray:
    day_arr = np.array(days, dtype="datetime64[D]")
    rows = market_nb.delist_rows(last.astype("datetime64[D]"), day_arr)
    if delisted is not None:
        known = np.array([s in delisted for s in present], dtype=np.bool_)
        dates = np.array([delisted.get(s, days[0]) for s in present], dtype="datetime64[D]")
        on = np.searchsorted(day_arr, dates, side="left")   # first trading day on or after the delisting
        rows = np.where(known, np.maximum(rows, on), len(days)).astype(np.int64)
    return rows


def fee_rates(days: list[dt.date]) -> tuple[np.ndarray, np.ndarray]:
    """(stamp (T,), transfer (T, 3)) rates by trade date from ``flyer.data.rules``."""
    stamp = np.array([rules.stamp_duty_rate(d) for d in days], dtype=np.float64)
    transfer = np.array([[rules.transfer_fee_rate(d, ex) for ex in EXCHANGES] for d in days], dtype=np.float64)
    return stamp.reshape(len(days)), transfer.reshape(len(days), 3)


def _boards(symbols: list[str]) -> list[str]:
    frame = pl.DataFrame({"s": symbols}, schema={"s": pl.Utf8})
    return frame.select(board_expr(pl.col("s")).alias("b"))["b"].to_list()
