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
from flyer.backtest.loader import LOOKBACK, RunData
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
    names = sorted(set(symbols))
    bars = data.bars_of(names)
    if bars.height == 0:
        bars = data.bars.clear()
    long = stock_days(bars, list_dates(data.instruments), list(data.lookback) + days, data.deal_price)
    if rules == "qlib":
        long = qlib_rules(long)
    present = long["symbol"].unique(maintain_order=True).to_list()
    # qlib keeps a delisted stock after its last bar at its last price: nobody is force-sold
    arrays = dense_arrays(long, days, present, {} if rules == "qlib" else delisted(data.instruments))
    if rules == "qlib":  # qlib's costs (sell = open cost + the flat rest) and one trade unit on every board
        arrays = arrays._replace(stamp=np.full(len(days), QLIB_CLOSE_COST - QLIB_OPEN_COST),
                                 transfer=np.zeros((len(days), len(EXCHANGES))),
                                 min_lot=np.full(len(present), QLIB_TRADE_UNIT),
                                 lot_inc=np.full(len(present), QLIB_TRADE_UNIT))
    return Market(dates=tuple(days), symbols=tuple(present), deal_price=data.deal_price, arrays=arrays)


def cached(store: MarketStore, data: RunData, symbols: list[str], rules: str = "ashare") -> Market:
    """``build`` once per store state and request (``flyer.backtest.market_cache``)."""
    names = sorted(set(symbols))
    return market_cache.cached_market(store, names, data.days[0], data.days[-1], data.deal_price,
                                      lambda: build(data, names, rules), assemble, variant=f"{data.vwap_fill}|{rules}")


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


def qlib_rules(long: pl.DataFrame) -> pl.DataFrame:
    """qlib's exchange (``rules="qlib"``): a stock whose close moved ``QLIB_LIMIT`` (9.5 %) or
    more from the previous close, up or down, on any board, cannot be bought or sold that day;
    suspended days and missing prices stay blocked."""
    change = (pl.col("close") / pl.col("prev_close") - 1).fill_nan(None)
    at_limit = (change.abs() >= QLIB_LIMIT - 1e-12).fill_null(False)
    deal_ok = pl.col("deal").is_not_null() & (pl.col("deal").fill_nan(0.0) > 0)
    blocked = at_limit | pl.col("is_suspended").fill_null(False) | ~deal_ok
    return long.with_columns(blocked.alias("buy_block"), blocked.alias("sell_block"))


def list_dates(instruments: pl.DataFrame) -> dict[str, dt.date | None]:
    """symbol -> list date from an instruments frame [symbol, list_date, ...]."""
    return dict(zip(instruments["symbol"].to_list(), instruments["list_date"].to_list()))


def delisted(instruments: pl.DataFrame) -> dict[str, dt.date]:
    """Symbols with a known delisting date -> that date. A stock whose bars end without one (a
    source file ended, the delisting is unknown) is neither force-sold nor tradable after its
    last bar."""
    known = instruments.filter(pl.col("delist_date").is_not_null())
    return dict(zip(known["symbol"].to_list(), known["delist_date"].to_list()))


def stock_days(bars: pl.DataFrame, lists: dict[str, dt.date | None], days: list[dt.date],
               deal_price: str) -> pl.DataFrame:
    """Long frame of raw ``bars`` (sorted by (symbol, date), from ``days[0]``) with stock id
    ``sid``, prev close, day of listing, limit prices, ``deal``, the block flags and the
    trailing ``adv`` / ``sigma`` (see ``MarketArrays``).

    Day of listing counts the stock's bars from its first one; a stock whose first loaded bar is
    the first lookback day (and not its list date in ``lists``) listed earlier: counted as
    listed long ago.
    """
    sid = bars["symbol"].rle_id().to_numpy()
    names = bars["symbol"].unique(maintain_order=True)
    info = pl.DataFrame({"board": _boards(names.to_list()),
                         "list_date": [lists.get(x) for x in names.to_list()]},
                        schema={"board": pl.Utf8, "list_date": pl.Date})
    date_int = bars["date"].cast(pl.Int32).to_numpy().astype(np.int64)
    prev, nth, first = market_nb.per_stock_nb(sid, bars["close"].to_numpy().astype(np.float64),
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
    buy, sell = market_nb.block_flags_nb(
        df["deal"].to_numpy().astype(np.float64), df["close"].to_numpy().astype(np.float64),
        df["limit_up"].fill_null(np.nan).to_numpy().astype(np.float64),
        df["limit_down"].fill_null(np.nan).to_numpy().astype(np.float64),
        df["is_suspended"].fill_null(False).to_numpy(), deal_price == "open")
    traded = ~df["is_suspended"].fill_null(False).to_numpy() & (df["volume"].fill_null(0.0).to_numpy() > 0)
    adv, sigma = market_nb.trailing_liquidity_nb(
        sid, (df["volume"] * df["close"]).fill_null(0.0).to_numpy().astype(np.float64),
        (df["close"] * df["adj_factor"]).to_numpy().astype(np.float64), traded, LIQUIDITY_WINDOW)
    return df.with_columns(pl.Series("buy_block", buy), pl.Series("sell_block", sell),
                           pl.Series("adv", adv), pl.Series("sigma", sigma))


def dense_arrays(long: pl.DataFrame, days: list[dt.date], present: list[str],
                 delisted: dict[str, dt.date] | None = None) -> MarketArrays:
    """Scatter the :func:`stock_days` frame into the (T, N) kernel arrays over ``days``
    (the stocks ``present`` in order of their ``sid``). ``delisted``: the symbols force-sold
    (at their last close) on their delisting date, or the day after their last bar when that is
    later (None: every stock whose bars end, the day after its last bar); the others' holdings
    stay, frozen at their last close (no bar: neither buyable nor sellable), as do delisted
    ones between their last bar and their delisting date."""
    last_bar = long.group_by("sid").agg(pl.col("date").max().alias("last")).sort("sid")
    long = long.filter(pl.col("date") >= days[0])
    shape = (len(days), len(present))
    day_int = np.array(days, dtype="datetime64[D]").astype(np.int64)
    ri = np.searchsorted(day_int, long["date"].cast(pl.Int32).to_numpy().astype(np.int64))
    ci = long["sid"].to_numpy().astype(np.int64)
    stamp, transfer = fee_rates(days)
    dense, ffill = market_nb.dense, market_nb.ffill_nb
    adj = ffill(dense(ri, ci, long["adj_factor"].to_numpy().astype(np.float64), shape, np.nan), 1.0)
    close_val = ffill(dense(ri, ci, (long["close"] * long["adj_factor"]).to_numpy(), shape, np.nan), np.nan)
    boards = _boards(present)
    return MarketArrays(
        deal=dense(ri, ci, long["deal"].to_numpy().astype(np.float64), shape, np.nan),
        adj=adj, close_val=close_val,
        buy_block=dense(ri, ci, long["buy_block"].to_numpy(), shape, True),
        sell_block=dense(ri, ci, long["sell_block"].to_numpy(), shape, True),
        delist_row=_delist_rows(last_bar["last"], days, present, delisted),
        min_lot=np.array([rules.lot_rules(b)[0] for b in boards], dtype=np.float64),
        lot_inc=np.array([rules.lot_rules(b)[1] for b in boards], dtype=np.float64),
        exch=np.array([EXCHANGES.index(s.split(".")[1]) for s in present], dtype=np.int64),
        stamp=stamp, transfer=transfer,
        volume=dense(ri, ci, long["volume"].fill_null(0.0).to_numpy().astype(np.float64), shape, np.nan),
        adv=dense(ri, ci, long["adv"].to_numpy().astype(np.float64), shape, np.nan),
        sigma=dense(ri, ci, long["sigma"].to_numpy().astype(np.float64), shape, np.nan),
    )


def _delist_rows(last: pl.Series, days: list[dt.date], present: list[str],
                 delisted: dict[str, dt.date] | None) -> np.ndarray:
    day_arr = np.array(days, dtype="datetime64[D]")
    rows = market_nb.delist_rows(last.to_numpy().astype("datetime64[D]"), day_arr)
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
