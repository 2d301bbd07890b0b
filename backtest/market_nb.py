"""Numeric kernels of market preparation: plain arrays in, arrays out (no store, no labels).

``flyer.backtest.market.load_market`` reads the store and calls these on flat per stock-day
arrays (rows sorted by (stock, date)) and on the dense (T, N) arrays it scatters them into.
Prices are raw CNY unless stated; dates are int days since 1970-01-01.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from flyer.backtest import rules_nb


@njit(cache=True)
def per_stock_nb(sid: np.ndarray, close: np.ndarray, adj: np.ndarray, date: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows sorted by (stock id ``sid``, date): (raw previous close in today's share basis
    close[t-1] * adj[t-1] / adj[t] (NaN on a stock's first row), 1-based row number within the
    stock, date (int days) of the stock's first row), each (R,)."""
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


@njit(cache=True)
def block_flags_nb(deal: np.ndarray, close: np.ndarray, up: np.ndarray, down: np.ndarray,
                   suspended: np.ndarray, deal_is_open: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per stock-day (buy blocked, sell blocked), each (R,) bool, from the raw deal price, close,
    limit prices (NaN = no limit) and the suspension flag (``rules_nb.buy_blocked_nb`` /
    ``sell_blocked_nb``; a NaN or non-positive deal price blocks both sides)."""
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
    """Forward-fill NaN down each column of the (T, N) ``a`` in place (and return it); leading
    NaN become ``fill_first``."""
    for j in range(a.shape[1]):
        last = fill_first
        for i in range(a.shape[0]):
            if np.isnan(a[i, j]):
                a[i, j] = last
            else:
                last = a[i, j]
    return a


def dense(ri: np.ndarray, ci: np.ndarray, values: np.ndarray, shape: tuple[int, int], fill: object
          ) -> np.ndarray:
    """(T, N) array of ``values``' dtype: ``values[r]`` at (ri[r], ci[r]), ``fill`` elsewhere."""
    out = np.full(shape, fill, dtype=np.asarray(values).dtype)
    out[ri, ci] = values
    return out


def delist_rows(last_day: np.ndarray, days: np.ndarray) -> np.ndarray:
    """(N,) int64 row of the first of ``days`` (T,) after each stock's last bar ``last_day`` (N,)
    (both datetime64[D]); T when the calendar has no day after it."""
    return np.searchsorted(days, last_day, side="right").astype(np.int64)
