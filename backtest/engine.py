"""Execution engine: vectorbt order processing driven by numba functions applying A-share rules.

Two interchangeable backends run the same per-day logic and produce identical vectorbt order
records (checked by a test):
  * ``vectorbt``: ``vectorbt.portfolio.nb.flex_simulate_nb`` (the loop behind
    ``Portfolio.from_order_func(flexible=True)``) with ``pre_segment_nb`` / ``flex_order_nb``;
  * ``loop`` (default): ``simulate_loop_nb``, a plain loop calling the same functions and
    vectorbt's ``process_order_nb`` for every fill.
Why the default is the loop (measured on this 2-core machine, 60 stocks x 1 year, load ~5):
numba cannot cache a function that receives other jitted functions as arguments ("uses dynamic
globals"), so the vectorbt backend recompiles in every process: 18-40 s before the first run,
every CLI call and every test worker. The loop backend is cached on disk: 1.1 s for the first
run in a fresh process (0.06 s warm). Simulation speed once compiled is the same.

One *group* (cash shared) is one portfolio over the N symbols of a ``Market``; a parameter
sweep stacks G groups side by side (G x N columns) and runs in one call. Each trading day
(row i) and group:
  1. ``pre_segment_nb``: forced sale of holdings whose stock is delisted (``delist_row == i``);
     on a rebalance day, ``plan_nb`` turns scores of day i-1 and current holdings into target
     positions, sized on the NAV before the day's trades (delisted holdings at their last close) (``strategies.topk_dropout_nb`` + ``topk_weights_nb``, or given weights); the
     targets not yet reached stay *pending*; sells are listed, then buys in score order; an
     order for a blocked stock (no bar, suspended, limit-up buy, limit-down sell) is not sent
     and stays pending (``retry="next_day"``) or is dropped at the next day
     (``retry="next_rebalance"``).
  2. ``flex_order_nb``: vectorbt pulls the listed orders one by one; sell sizes follow the lot
     rules (``rules_nb.sell_lot_nb``), buy sizes are lot-rounded and capped by the cash left
     (``rules_nb.affordable_nb``), fees (commission with minimum, stamp duty, transfer fee) go
     in as vectorbt ``fixed_fees`` and slippage as vectorbt ``slippage``.
Positions are adjusted shares (see ``flyer.backtest.market``); every fill is a vectorbt order
record, from which ``flyer.backtest.result`` derives NAV, trades and fees.
Each symbol trades at most once a day and sells run before buys, so the T+1 rule (shares
bought today are not sellable today) always holds; ``sell_lot_nb`` enforces it regardless.
"""
from __future__ import annotations

import warnings

import numpy as np
from numba import njit
from numba.core.errors import NumbaWarning
from vectorbt.portfolio import nb as vbt_nb
from vectorbt.portfolio.enums import Direction, NoOrder, ProcessOrderState
from vectorbt.portfolio.enums import log_dt as vbt_log_dt
from vectorbt.portfolio.enums import order_dt as vbt_order_dt

from flyer.backtest import rules_nb
from flyer.backtest.market import Market
from flyer.backtest.strategies import rank_desc_nb, topk_dropout_nb, topk_weights_nb

# columns of the per-group parameter matrix (G, N_PARAMS)
K, NDROP, WEIGHTING, KEPT, RETRY, COMM, MINC, SLIP, MODE, STAMP_ON, TRANSFER_ON = range(11)
N_PARAMS = 11
MODE_TOPK, MODE_WEIGHTS = 0, 1
RETRY_REBALANCE, RETRY_NEXT_DAY = 0, 1
SELL, BUY, DELIST = 0, 1, 2
TINY = 1e-9


@njit(cache=True)
def mark_nb(m_deal: np.ndarray, m_adj: np.ndarray, close_val: np.ndarray, i: int, j: int) -> float:
    """Adjusted price used to size orders on day i: the deal price, else the last close, else 0."""
    if not np.isnan(m_deal[i, j]):
        return m_deal[i, j] * m_adj[i, j]
    if i > 0 and not np.isnan(close_val[i - 1, j]):
        return close_val[i - 1, j]
    return 0.0


@njit(cache=True)
def plan_nb(i: int, pos: np.ndarray, cash: float, scores: np.ndarray, weights: np.ndarray,
            deal: np.ndarray, adj: np.ndarray, close_val: np.ndarray, delist_row: np.ndarray,
            p: np.ndarray, pending: np.ndarray, prio: np.ndarray) -> None:
    """Set ``pending`` (target adjusted shares, NaN = none) and ``prio`` from signal row i-1.

    ``pos``: (N,) adjusted shares held; ``cash`` CNY; ``p``: this group's parameter row.
    """
    n = pos.shape[0]
    sc = scores[i - 1]
    marks = np.zeros(n)
    nav = cash
    for j in range(n):
        marks[j] = mark_nb(deal, adj, close_val, i, j)
        nav += pos[j] * marks[j]
    order = rank_desc_nb(sc)
    for r in range(n):
        prio[order[r]] = r
    pending[:] = np.nan
    if int(p[MODE]) == MODE_TOPK:
        held = (pos > TINY) & (delist_row > i)
        sell, buy = topk_dropout_nb(sc, held, int(p[K]), int(p[NDROP]))
        final = held & ~sell
        for j in buy:
            final[j] = True
        w = topk_weights_nb(sc, final, int(p[K]), int(p[WEIGHTING]))
        for j in range(n):
            if sell[j]:
                pending[j] = 0.0
            elif final[j] and marks[j] > 0 and (not held[j] or p[KEPT] > 0):
                pending[j] = w[j] * nav / marks[j]
    else:
        wrow = weights[i - 1]
        for j in range(n):
            if delist_row[j] <= i or not (wrow[j] > 0 or pos[j] > TINY):
                continue
            if wrow[j] > 0 and marks[j] > 0:
                pending[j] = wrow[j] * nav / marks[j]
            elif not wrow[j] > 0:
                pending[j] = 0.0


@njit(cache=True)
def list_orders_nb(i: int, pos: np.ndarray, buy_block: np.ndarray, sell_block: np.ndarray,
                   delist_row: np.ndarray, pending: np.ndarray, prio: np.ndarray,
                   ocol: np.ndarray, okind: np.ndarray, blocked: np.ndarray, g: int) -> int:
    """Fill the day's order list (delistings, sells, buys by priority); returns its length.

    Orders sent are removed from ``pending``; blocked ones stay and are counted in ``blocked``.
    """
    n = pos.shape[0]
    m = 0
    for j in range(n):
        if delist_row[j] == i and pos[j] > TINY:
            ocol[m], okind[m] = j, DELIST
            m += 1
        if delist_row[j] <= i:
            pending[j] = np.nan
    for j in range(n):
        if not np.isnan(pending[j]) and pending[j] < pos[j] - TINY:
            if sell_block[i, j]:
                blocked[i, g, 1] += 1
            else:
                ocol[m], okind[m] = j, SELL
                m += 1
    first_buy = m
    for j in range(n):
        if not np.isnan(pending[j]) and pending[j] > pos[j] + TINY:
            if buy_block[i, j]:
                blocked[i, g, 0] += 1
            else:
                ocol[m], okind[m] = j, BUY
                m += 1
    if m > first_buy:
        keys = np.empty(m - first_buy)
        for r in range(first_buy, m):
            keys[r - first_buy] = prio[ocol[r]]
        ocol[first_buy:m] = ocol[first_buy:m][np.argsort(keys, kind="mergesort")]
    return m


@njit(cache=True)
def pre_group_nb(c, pending: np.ndarray):
    """Reset the per-portfolio pending targets before each group."""
    pending[:] = np.nan
    return ()


@njit(cache=True)
def day_orders_nb(i, g, pos, cash, deal, adj, close_val, buy_block, sell_block, delist_row, scores,
                  weights, rebalance, params, pending, prio, ocol, okind, otarget, blocked) -> int:
    """Plan (on rebalance days) and list the orders of day i for portfolio g; returns their number."""
    p = params[g]
    if rebalance[i, g] and i > 0:
        plan_nb(i, pos, cash, scores, weights, deal, adj, close_val, delist_row, p, pending, prio)
    elif int(p[RETRY]) == RETRY_REBALANCE:
        pending[:] = np.nan
    m = list_orders_nb(i, pos, buy_block, sell_block, delist_row, pending, prio, ocol, okind, blocked, g)
    for r in range(m):
        otarget[r] = pending[ocol[r]]
        pending[ocol[r]] = np.nan
    return m


@njit(cache=True)
def pre_segment_nb(c, deal, adj, close_val, buy_block, sell_block, delist_row, scores, weights,
                   rebalance, params, pending, prio, ocol, okind, otarget, ostate, blocked):
    """vectorbt pre-segment callback: :func:`day_orders_nb` for row ``c.i``, group ``c.group``."""
    n = deal.shape[1]
    pos = c.last_position[c.from_col:c.from_col + n]
    ostate[0] = day_orders_nb(c.i, c.group, pos, c.last_cash[c.group], deal, adj, close_val, buy_block,
                              sell_block, delist_row, scores, weights, rebalance, params, pending, prio,
                              ocol, okind, otarget, blocked)
    ostate[1] = 0
    return (ocol, okind, otarget, ostate)


@njit(cache=True)
def order_for_nb(i: int, j: int, pos: float, cash: float, kind: int, target: float, deal, adj, close_val,
                 min_lot, lot_inc, exch, stamp, transfer, p):
    """The vectorbt order for one listed entry (``pos`` adjusted shares held, ``cash`` CNY),
    or ``NoOrder`` when nothing valid can trade."""
    a = adj[i, j]
    comm, minc = p[COMM], p[MINC]
    duty = stamp[i] * p[STAMP_ON]
    tr = transfer[i, exch[j]] * p[TRANSFER_ON]
    if kind == DELIST:
        price = close_val[i, j] / a
        value = pos * a * price
        fee = rules_nb.total_fee_nb(value, True, comm, minc, duty, tr)
        if value - fee < 0:
            return NoOrder
        return vbt_nb.order_nb(-pos, close_val[i, j], direction=Direction.LongOnly, fixed_fees=fee)
    slip = p[SLIP]
    held = pos * a
    if kind == SELL:
        n = rules_nb.sell_lot_nb((pos - target) * a, held, held, min_lot[j], lot_inc[j])
        if n <= 0:
            return NoOrder
        size = pos if n >= held - rules_nb.EPS_SHARES else n / a
        value = size * a * deal[i, j] * (1 - slip)
        fee = rules_nb.total_fee_nb(value, True, comm, minc, duty, tr)
        if value - fee < 0:
            return NoOrder
        return vbt_nb.order_nb(-size, deal[i, j] * a, direction=Direction.LongOnly, fixed_fees=fee,
                               slippage=slip)
    fill = deal[i, j] * (1 + slip)
    n = rules_nb.affordable_nb(cash, fill, (target - pos) * a, min_lot[j], lot_inc[j],
                               comm, minc, tr)
    if n <= 0:
        return NoOrder
    fee = rules_nb.total_fee_nb(n * fill, False, comm, minc, duty, tr)
    return vbt_nb.order_nb(n / a, deal[i, j] * a, direction=Direction.LongOnly, fixed_fees=fee,
                           slippage=slip, allow_partial=False)


@njit(cache=True)
def flex_order_nb(c, ocol, okind, otarget, ostate, deal, adj, close_val, min_lot, lot_inc, exch,
                  stamp, transfer, params):
    """vectorbt flexible order function: the next listed order of this segment, or column -1."""
    p = params[c.group]
    while ostate[1] < ostate[0]:
        r = ostate[1]
        ostate[1] += 1
        col = c.from_col + ocol[r]
        order = order_for_nb(c.i, ocol[r], c.last_position[col], c.last_cash[c.group], okind[r], otarget[r],
                             deal, adj, close_val, min_lot, lot_inc, exch, stamp, transfer, p)
        if not np.isnan(order.size):
            return c.from_col + ocol[r], order
    return -1, NoOrder


@njit(cache=True)
def simulate_vbt_nb(t: int, g: int, n: int, capital: float, seg_args, order_args, pending: np.ndarray,
                    max_orders: int) -> np.ndarray:
    """vectorbt's ``flex_simulate_nb`` (the loop of ``Portfolio.from_order_func(flexible=True)``)
    with this module's callbacks. Not cacheable: numba recompiles it in every process."""
    records, _ = vbt_nb.flex_simulate_nb(
        (t, g * n), np.full(g, n, dtype=np.int64), np.full(g, capital), True,
        segment_mask=np.ones((t, g), dtype=np.bool_),
        pre_group_func_nb=pre_group_nb, pre_group_args=(pending,),
        pre_segment_func_nb=pre_segment_nb, pre_segment_args=seg_args,
        flex_order_func_nb=flex_order_nb, flex_order_args=order_args,
        close=np.full((1, 1), np.nan), ffill_val_price=True, update_value=False,
        fill_pos_record=False, max_orders=max_orders, max_logs=0, flex_2d=True)
    return records


@njit(cache=True)
def simulate_loop_nb(t: int, g: int, n: int, capital: float, seg_args, order_args, pending: np.ndarray,
                     max_orders: int) -> np.ndarray:
    """The same simulation as :func:`simulate_vbt_nb` in a plain loop (cacheable): same callbacks'
    logic, vectorbt's ``process_order_nb`` executes each order and writes the order record."""
    (deal, adj, close_val, buy_block, sell_block, delist_row, scores, weights, rebalance, params,
     _pending, prio, ocol, okind, otarget, _ostate, blocked) = seg_args
    min_lot, lot_inc, exch, stamp, transfer = order_args[3], order_args[4], order_args[5], order_args[6], order_args[7]
    records = np.empty(max_orders, dtype=vbt_order_dt)
    logs = np.empty(1, dtype=vbt_log_dt)
    oidx = 0
    for grp in range(g):
        cash = capital
        pos = np.zeros(n)
        pending[:] = np.nan
        p = params[grp]
        for i in range(t):
            m = day_orders_nb(i, grp, pos, cash, deal, adj, close_val, buy_block, sell_block, delist_row,
                              scores, weights, rebalance, params, pending, prio, ocol, okind, otarget, blocked)
            for r in range(m):
                j = ocol[r]
                order = order_for_nb(i, j, pos[j], cash, okind[r], otarget[r], deal, adj, close_val,
                                     min_lot, lot_inc, exch, stamp, transfer, p)
                if np.isnan(order.size):
                    continue
                state = ProcessOrderState(cash, pos[j], 0.0, cash, np.nan, np.nan, oidx, 0)
                _, new = vbt_nb.process_order_nb(i, grp * n + j, grp, state, False, order, records, logs)
                cash, pos[j], oidx = new.cash, new.position, new.oidx
    return records[:oidx]


def simulate(market: Market, scores: np.ndarray, weights: np.ndarray, rebalance: np.ndarray,
             params: np.ndarray, capital: float, max_orders: int | None = None, backend: str = "loop"
             ) -> tuple[np.ndarray, np.ndarray]:
    """Run G portfolios (rows of ``params``) in one vectorbt call.

    ``scores``: (T, N) signal of each day (NaN = none); ``weights``: (T, N) target weights for
    ``MODE_WEIGHTS`` groups (else any (1, N) array); ``rebalance``: (T, G) bool, trade on day i
    from row i-1. Returns (vectorbt order records, blocked counts (T, G, 2) [buy, sell]).
    """
    t, n = market.shape
    g = params.shape[0]
    pending, prio = np.full(n, np.nan), np.zeros(n, dtype=np.int64)
    ocol, okind = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    otarget, ostate = np.zeros(n), np.zeros(2, dtype=np.int64)
    blocked = np.zeros((t, g, 2), dtype=np.int64)
    if max_orders is None:
        max_orders = order_capacity(t, n, params)
    seg_args = (market.deal, market.adj, market.close_val, market.buy_block, market.sell_block,
                market.delist_row, scores, weights, rebalance, params, pending, prio,
                ocol, okind, otarget, ostate, blocked)
    order_args = (market.deal, market.adj, market.close_val, market.min_lot, market.lot_inc,
                  market.exch, market.stamp, market.transfer, params)
    try:
        warnings.filterwarnings("ignore", message=".*simulate_vbt_nb.*", category=NumbaWarning)
        kernel = simulate_vbt_nb if backend == "vectorbt" else simulate_loop_nb
        records = kernel(t, g, n, float(capital), seg_args, order_args, pending, max_orders)
    except IndexError:  # more fills than the estimate: grow the record buffer and rerun
        if max_orders >= t * g * n:
            raise
        return simulate(market, scores, weights, rebalance, params, capital,
                        min(4 * max_orders, t * g * n), backend)
    return records, blocked


def order_capacity(t: int, n: int, params: np.ndarray) -> int:
    """First guess of the number of fills: per portfolio, k to start, then per day 2 x n_drop
    (dropout) or up to k + n_drop (kept names rebalanced) or N (weights), plus slack."""
    per_day = np.where(params[:, MODE] == MODE_WEIGHTS, n,
                       np.where(params[:, KEPT] > 0, params[:, K] + params[:, NDROP], 2 * params[:, NDROP]))
    per_day = np.minimum(per_day + 8, n)
    return int(np.sum(t * per_day + params[:, K]) + 1024)
