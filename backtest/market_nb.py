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
def trailing_liquidity_nb(sid: np.ndarray, value: np.ndarray, close_adj: np.ndarray, traded: np.ndarray,
                          window: int) -> tuple[np.ndarray, np.ndarray]:
    """Rows sorted by (stock id ``sid``, date): (ADV, sigma), each (R,), from the stock's rows
    *before* each row: ADV = mean traded ``value`` (CNY) of its last ``window`` traded rows (NaN when
    none), sigma = sample std (ddof 1) of the log returns of ``close_adj`` between consecutive
    traded rows, the last ``window`` of them (NaN with fewer than 2). ``traded``: (R,) bool
    (a bar with volume, not suspended)."""
    n = sid.shape[0]
    adv = np.full(n, np.nan)
    sigma = np.full(n, np.nan)
    amts = np.zeros(window)
    rets = np.zeros(window)
    n_amt = n_ret = 0
    last_close = np.nan
    for r in range(n):
        if r == 0 or sid[r] != sid[r - 1]:
            n_amt = n_ret = 0
            last_close = np.nan
        m = min(n_amt, window)
        if m > 0:
            adv[r] = amts[:m].sum() / m
        m = min(n_ret, window)
        if m >= 2:
            mu = rets[:m].sum() / m
            sigma[r] = np.sqrt(((rets[:m] - mu) ** 2).sum() / (m - 1))
        if traded[r] and close_adj[r] > 0:
            amts[n_amt % window] = value[r]
            n_amt += 1
            if last_close > 0:
                rets[n_ret % window] = np.log(close_adj[r] / last_close)
                n_ret += 1
            last_close = close_adj[r]
    return adv, sigma


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


@njit(cache=True)
def dense_market_nb(rows: np.ndarray, first_day: int, cols: np.ndarray, deal: np.ndarray, adj: np.ndarray,
                    close: np.ndarray, volume: np.ndarray, buy_block: np.ndarray, sell_block: np.ndarray,
                    adv: np.ndarray, sigma: np.ndarray) -> tuple[np.ndarray, ...]:
    """The (T, n) market arrays in one pass over ``rows[first_day:, cols]`` (``rows``: (T', N)
    row of each day's bar in the flat per stock-day columns, -1 without one): (deal, adj
    forward-filled from 1, adjusted close forward-filled from NaN, buy block, sell block,
    volume (null -> 0), adv, sigma); a day without a bar is NaN / blocked (True)."""
    t_n, n = rows.shape[0] - first_day, cols.shape[0]
    out_deal, out_adj, out_cv = np.empty((t_n, n)), np.empty((t_n, n)), np.empty((t_n, n))
    out_vol, out_adv, out_sig = np.empty((t_n, n)), np.empty((t_n, n)), np.empty((t_n, n))
    out_buy, out_sell = np.empty((t_n, n), dtype=np.bool_), np.empty((t_n, n), dtype=np.bool_)
    last_adj, last_cv = np.ones(n), np.full(n, np.nan)
    for i in range(t_n):
        for k in range(n):
            r = rows[first_day + i, cols[k]]
            if r < 0:
                out_deal[i, k], out_vol[i, k], out_adv[i, k], out_sig[i, k] = np.nan, np.nan, np.nan, np.nan
                out_buy[i, k], out_sell[i, k] = True, True
            else:
                out_deal[i, k], out_adv[i, k], out_sig[i, k] = deal[r], adv[r], sigma[r]
                out_vol[i, k] = 0.0 if np.isnan(volume[r]) else volume[r]
                out_buy[i, k], out_sell[i, k] = buy_block[r], sell_block[r]
                if not np.isnan(adj[r]):
                    last_adj[k] = adj[r]
                cv = close[r] * adj[r]
                if not np.isnan(cv):
                    last_cv[k] = cv
            out_adj[i, k], out_cv[i, k] = last_adj[k], last_cv[k]
    return out_deal, out_adj, out_cv, out_buy, out_sell, out_vol, out_adv, out_sig


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
