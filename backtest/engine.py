"""Execution engine: vectorbt order processing driven by numba functions applying A-share rules.

Two interchangeable backends run the same per-day logic and produce identical vectorbt order
records (checked by a test):
  * ``vectorbt``: ``vectorbt.portfolio.nb.flex_simulate_nb`` (the loop behind
    ``Portfolio.from_order_func(flexible=True)``) with ``pre_segment_nb`` / ``flex_order_nb``;
  * ``loop`` (default): ``simulate_loop_nb``, a plain loop calling the same functions and
    vectorbt's ``process_order_nb`` for every fill (``flyer.backtest.fill_nb``: its arithmetic
    without importing vectorbt, which only the ``vectorbt`` backend loads).
Why the default is the loop (measured on this 2-core machine, 60 stocks x 1 year, load ~5):
numba cannot cache a function that receives other jitted functions as arguments ("uses dynamic
globals"), so the vectorbt backend recompiles in every process: 18-40 s before the first run,
every CLI call and every test worker. The loop backend is cached on disk: 1.1 s for the first
run in a fresh process (0.06 s warm). Simulation speed once compiled is the same.

One *group* (cash shared) is one portfolio over the N symbols of a ``Market``; a parameter
sweep stacks G groups side by side (G x N columns) and runs in one call. The kernels take a
few NamedTuples: ``MarketArrays`` (``flyer.backtest.market``, the dense (T, N) market),
:class:`Signals` (scores, given weights, rebalance days), ``Params`` (``flyer.backtest.params``,
one (G,) array per setting; read as ``params.k[g]``) and :class:`State` (the scratch buffers
they mutate). Each trading day (row i) and group g:
  1. ``pre_segment_nb``: forced sale of holdings whose stock is delisted (``delist_row == i``);
     on a rebalance day, ``plan_nb`` turns scores of day i-1 and current holdings into target
     positions (``strategies.target_weights_nb``: top-k dropout, or given weights), sized on
     the NAV before the day's trades (delisted holdings at their last close); the
     targets not yet reached stay *pending*; sells are listed, then buys in score order; an
     order for a blocked stock (no bar, suspended, limit-up buy, limit-down sell) is not sent
     and stays pending (``retry="next_day"``) or is dropped at the next day
     (``retry="next_rebalance"``). The value of every open order (sent or blocked) is added
     to the day's ``demand``.
  2. ``flex_order_nb``: vectorbt pulls the listed orders one by one (``order_for_nb``); sell
     sizes follow the lot rules (``rules_nb.sell_lot_nb``), buy sizes are lot-rounded and
     capped by the cash left (``rules_nb.affordable_nb``; with impact ``affordable_impact_nb``);
     both are capped at ``participation`` x the day's volume (``rules_nb.volume_cap_nb``).
     Fees (commission with minimum, stamp duty, transfer fee) and the square-root market
     impact (``rules_nb.impact_cost_nb``, priced on the trailing ADV and volatility of
     ``MarketArrays``) go in as vectorbt ``fixed_fees``, slippage as vectorbt ``slippage``.
  3. ``settle_nb``: an order the volume cap cut keeps its target pending, marked *carried*: it
     goes on the next day (whatever ``retry`` says) until filled, replaced by a new plan that
     trades the name, or - ``remainder="cancel"`` - dropped by the next rebalance; the cut
     orders are counted in ``capped``. A forced sale at delisting is neither capped nor charged
     impact (it is a cash-out at the last close).
Under ``rules="qlib"`` (``params.rules``, see ``BacktestConfig``): equal scores and holdings
without a score rank in qlib's instrument-code order (``Signals.code_keys``), new buys share the
cash after the day's sells x 0.95 (``qlib_buy_weights_nb``), a buy's size is floored to 100-share
lots from its shares + 0.1, nothing is force-sold at a delisting (the market's ``delist_row`` is
T: the stock stays at its last close, its unsellable sell holding one of the ``n_drop`` slots),
and blocked orders add nothing to ``demand`` (qlib never places them).
Positions are adjusted shares (see ``flyer.backtest.market``); every fill is a vectorbt order
record, from which ``flyer.backtest.result`` derives NAV, trades and fees.
Each symbol trades at most once a day and sells run before buys, so the T+1 rule (shares
bought today are not sellable today) always holds; ``sell_lot_nb`` enforces it regardless.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
from numba import config as numba_config
from numba import njit
from numba.core.errors import NumbaWarning

from flyer.backtest import fill_nb as vbt_nb  # vectorbt's order processing, without importing vectorbt
from flyer.backtest import rules_nb
from flyer.backtest.config import QLIB_ROUND_SLACK
from flyer.backtest.fill_nb import Direction, NoOrder, ProcessOrderState
from flyer.backtest.fill_nb import log_dt as vbt_log_dt
from flyer.backtest.fill_nb import order_dt as vbt_order_dt
from flyer.backtest.market import Market, MarketArrays
from flyer.backtest.params import REMAINDER_CARRY, RETRY_REBALANCE, RULES_QLIB, Params
from flyer.backtest.strategies import MODE_WEIGHTS, hash_keys, rank_desc_nb, target_weights_nb, tie_keys_nb

SELL, BUY, DELIST = 0, 1, 2   # kinds of listed orders
TINY = 1e-9
#: ``vectorbt.portfolio.nb``, bound by :func:`simulate` when the ``vectorbt`` backend is asked for
#: (importing vectorbt costs seconds: the ``loop`` backend never does)
vectorbt_nb: Any = None
VectorbtOrder: Any = None


class Signals(NamedTuple):
    """What the portfolios trade on (the scores contract as dense arrays).

    scores: (T, N) float, row i known after day i's close, NaN = no score.
    weights: (T, N) target weights of ``MODE_WEIGHTS`` portfolios (NaN = 0), else any (1, N).
    rebalance: (T, G) bool, portfolio g trades on day i from row i-1.
    sym_keys: (N,) / day_keys: (T,) uint64 ``strategies.hash_keys`` of the symbols and dates:
    equal scores are ranked by ``strategies.tie_keys_nb`` of them, not by column order.
    code_keys: (N,) uint64 rank of each symbol's qlib instrument code (``qlib_code_keys``):
    under ``rules="qlib"`` equal scores, and holdings without a score, rank in that order
    instead (qlib sorts a pandas index of codes: NaN last, in code order).
    order: (T, N) int64 ``strategies.rank_desc_nb`` of each row with those keys (:func:`rank_rows_nb`:
    ranked once per day for every portfolio of a sweep).
    """

    scores: np.ndarray
    weights: np.ndarray
    rebalance: np.ndarray
    sym_keys: np.ndarray
    day_keys: np.ndarray
    code_keys: np.ndarray
    order: np.ndarray


class State(NamedTuple):
    """Scratch buffers the kernels mutate (one portfolio at a time, reused across groups).

    pending: (N,) target adjusted shares not reached yet, NaN = none.
    carry: (N,) bool, the pending target is the rest of an order the volume cap cut.
    prio: (N,) int64 buy priority (rank of the signal, 0 = best).
    ocol / okind / otarget: (N,) the day's order list: column, ``SELL``/``BUY``/``DELIST``, target.
    ostate: (2,) int64 [orders listed, next order to send] (vectorbt backend).
    blocked: (T, G, 2) int64 output: orders not sent per day and group [buys, sells].
    capped: (T, G, 2) int64 output: orders the participation limit cut [buys, sells].
    demand: (T, G) float64 output: value (CNY, at the day's mark) of the open orders, sent or blocked
    (under qlib rules sent only: qlib places no order for a stock it cannot trade that day).
    """

    pending: np.ndarray
    carry: np.ndarray
    prio: np.ndarray
    ocol: np.ndarray
    okind: np.ndarray
    otarget: np.ndarray
    ostate: np.ndarray
    blocked: np.ndarray
    capped: np.ndarray
    demand: np.ndarray

    @classmethod
    def empty(cls, t: int, n: int, g: int) -> State:
        return cls(np.full(n, np.nan), np.zeros(n, dtype=np.bool_), np.zeros(n, dtype=np.int64),
                   np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64), np.zeros(n),
                   np.zeros(2, dtype=np.int64), np.zeros((t, g, 2), dtype=np.int64),
                   np.zeros((t, g, 2), dtype=np.int64), np.zeros((t, g)))


class Fills(NamedTuple):
    """What :func:`simulate` returns: vectorbt order records (columns g * N + j) and the
    per-day counts of ``State`` (``blocked``, ``capped`` (T, G, 2) [buys, sells], ``demand``
    (T, G) CNY)."""

    records: np.ndarray
    blocked: np.ndarray
    capped: np.ndarray
    demand: np.ndarray


@njit(cache=True)
def mark_nb(deal: np.ndarray, adj: np.ndarray, close_val: np.ndarray, i: int, j: int) -> float:
    """Adjusted price used to size orders on day i: the deal price, else the last close, else 0
    (``MarketArrays`` fields; plain arrays here: it runs T x N times)."""
    if not np.isnan(deal[i, j]):
        return deal[i, j] * adj[i, j]
    if i > 0 and not np.isnan(close_val[i - 1, j]):
        return close_val[i - 1, j]
    return 0.0


@njit(cache=True)
def plan_nb(i: int, g: int, pos: np.ndarray, cash: float, mkt: MarketArrays, sig: Signals,
            params: Params, state: State) -> None:
    """Set ``state.pending`` (target adjusted shares, NaN = none) and ``state.prio`` from signal
    row i-1 for portfolio g holding ``pos`` (N,) adjusted shares and ``cash`` CNY. A carried
    rest of a capped order survives for a name the plan does not trade (``remainder="carry"``)."""
    n = pos.shape[0]
    deal, adj, close_val, prio, pending = mkt.deal, mkt.adj, mkt.close_val, state.prio, state.pending
    carry = state.carry
    sc = sig.scores[i - 1]
    marks = np.zeros(n)
    nav = cash
    for j in range(n):
        marks[j] = mark_nb(deal, adj, close_val, i, j)
        nav += pos[j] * marks[j]
    qlib = params.rules[g] == RULES_QLIB
    order = rank_desc_nb(sc, sig.code_keys) if qlib else sig.order[i - 1]
    for r in range(n):
        prio[order[r]] = r
    held = (pos > TINY) & (mkt.delist_row > i)
    wrow = sig.weights[i - 1] if params.mode[g] == MODE_WEIGHTS else sig.weights[0]
    w, trade = target_weights_nb(sc, order, held, wrow, params.mode[g], params.k[g], params.n_drop[g],
                                 params.weighting[g], params.rebalance_kept[g])
    if qlib:
        qlib_buy_weights_nb(i, pos, cash, nav, marks, held, w, trade, mkt, params, g)
    keep = params.remainder[g] == REMAINDER_CARRY
    for j in range(n):
        if trade[j] or not (keep and carry[j]):
            pending[j] = np.nan
            carry[j] = False
    for j in range(n):
        if not trade[j]:
            continue
        if not w[j] > 0:
            pending[j] = 0.0
        elif marks[j] > 0:
            pending[j] = w[j] * nav / marks[j]


@njit(cache=True)
def qlib_buy_weights_nb(i: int, pos: np.ndarray, cash: float, nav: float, marks: np.ndarray, held: np.ndarray,
                        w: np.ndarray, trade: np.ndarray, mkt: MarketArrays, params: Params, g: int) -> None:
    """qlib's TopkDropout sizing (``rules="qlib"``), in place on ``w``: the cash after today's
    tradable sells (net of their cost) x ``risk_degree``, split equally over every new buy
    (blocked ones included: their share stays idle), as fractions of ``nav``."""
    n = pos.shape[0]
    est, n_buy = cash, 0
    for j in range(n):
        if trade[j] and held[j] and not w[j] > 0 and not mkt.sell_block[i, j]:
            value = pos[j] * marks[j]
            est += value - rules_nb.total_fee_nb(value, True, params.commission[g], params.min_commission[g],
                                                 mkt.stamp[i] * params.stamp_duty[g], 0.0)
        if trade[j] and not held[j] and w[j] > 0:
            n_buy += 1
    each = est * params.risk_degree[g] / n_buy if n_buy > 0 and nav > 0 else 0.0
    for j in range(n):
        if trade[j] and not held[j] and w[j] > 0:
            w[j] = each / nav


@njit(cache=True)
def list_orders_nb(i: int, g: int, pos: np.ndarray, mkt: MarketArrays, state: State, qlib: bool) -> int:
    """Fill the day's order list (delistings, sells, buys by priority); returns its length.

    Orders sent are removed from ``pending``; blocked ones stay and are counted in ``blocked``;
    the value of both is added to ``demand[i, g]`` - under qlib rules (``qlib``) only of the
    orders sent: qlib's strategy places no order for a stock it cannot trade that day.
    """
    n = pos.shape[0]
    # fields bound once: a NamedTuple field read inside a loop costs a reference count per pass
    pending, prio, ocol, okind, blocked = state.pending, state.prio, state.ocol, state.okind, state.blocked
    carry, demand = state.carry, state.demand
    delist_row, buy_block, sell_block = mkt.delist_row, mkt.buy_block, mkt.sell_block
    deal, adj, close_val = mkt.deal, mkt.adj, mkt.close_val
    m = 0
    for j in range(n):
        if delist_row[j] == i and pos[j] > TINY:
            ocol[m], okind[m] = j, DELIST
            m += 1
        if delist_row[j] <= i:
            pending[j] = np.nan
            carry[j] = False
    for j in range(n):
        if not np.isnan(pending[j]) and pending[j] < pos[j] - TINY:
            if not (qlib and sell_block[i, j]):
                demand[i, g] += (pos[j] - pending[j]) * mark_nb(deal, adj, close_val, i, j)
            if sell_block[i, j]:
                blocked[i, g, 1] += 1
            else:
                ocol[m], okind[m] = j, SELL
                m += 1
    first_buy = m
    for j in range(n):
        if not np.isnan(pending[j]) and pending[j] > pos[j] + TINY:
            if not (qlib and buy_block[i, j]):
                demand[i, g] += (pending[j] - pos[j]) * mark_nb(deal, adj, close_val, i, j)
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
def day_orders_nb(i: int, g: int, pos: np.ndarray, cash: float, mkt: MarketArrays, sig: Signals,
                  params: Params, state: State) -> int:
    """Plan (on rebalance days) and list the orders of day i for portfolio g; returns their number."""
    pending, carry = state.pending, state.carry
    if sig.rebalance[i, g] and i > 0:
        plan_nb(i, g, pos, cash, mkt, sig, params, state)
    elif params.retry[g] == RETRY_REBALANCE:
        for j in range(pending.shape[0]):
            if not carry[j]:
                pending[j] = np.nan
    m = list_orders_nb(i, g, pos, mkt, state, params.rules[g] == RULES_QLIB)
    ocol, otarget = state.ocol, state.otarget
    for r in range(m):
        otarget[r] = pending[ocol[r]]
        pending[ocol[r]] = np.nan
        carry[ocol[r]] = False
    return m


@njit(cache=True)
def settle_nb(i: int, g: int, r: int, capped: bool, state: State) -> None:
    """After listed order r of day i was tried: when the volume cap cut it, its target stays
    pending (carried to the next day) and it is counted in ``capped``."""
    if not capped:
        return
    j = state.ocol[r]
    state.pending[j] = state.otarget[r]
    state.carry[j] = True
    state.capped[i, g, 0 if state.okind[r] == BUY else 1] += 1


@njit(cache=True)
def order_for_nb(i: int, j: int, g: int, pos: float, cash: float, kind: int, target: float,
                 mkt: MarketArrays, params: Params):
    """(the vectorbt order for one listed entry (``pos`` adjusted shares held, ``cash`` CNY) or
    ``NoOrder`` when nothing valid can trade, whether the volume cap cut it).

    Capped means the lot-rounded size under the cap is below the lot-rounded size without it."""
    deal, close_val = mkt.deal, mkt.close_val
    a = mkt.adj[i, j]
    comm, minc = params.commission[g], params.min_commission[g]
    duty = mkt.stamp[i] * params.stamp_duty[g]
    tr = mkt.transfer[i, mkt.exch[j]] * params.transfer_fee[g]
    if kind == DELIST:
        price = close_val[i, j] / a
        value = pos * a * price
        fee = rules_nb.total_fee_nb(value, True, comm, minc, duty, tr)
        if value - fee < 0:
            return NoOrder, False
        return vbt_nb.order_nb(-pos, close_val[i, j], direction=Direction.LongOnly, fixed_fees=fee), False
    slip, k = params.slippage[g], params.impact_k[g]
    min_lot, inc, adv, sigma = mkt.min_lot[j], mkt.lot_inc[j], mkt.adv[i, j], mkt.sigma[i, j]
    cap = rules_nb.volume_cap_nb(mkt.volume[i, j], params.participation[g])
    held = pos * a
    if kind == SELL:
        want = (pos - target) * a
        n = rules_nb.sell_lot_nb(min(want, cap), held, held, min_lot, inc)
        capped = n < rules_nb.sell_lot_nb(want, held, held, min_lot, inc) - rules_nb.EPS_SHARES
        if n <= 0:
            return NoOrder, capped
        size = pos if n >= held - rules_nb.EPS_SHARES else n / a
        value = size * a * deal[i, j] * (1 - slip)
        fee = rules_nb.total_fee_nb(value, True, comm, minc, duty, tr) + rules_nb.impact_cost_nb(n, deal[i, j], adv, sigma, k)
        if value - fee < 0:
            return NoOrder, capped
        return vbt_nb.order_nb(-size, deal[i, j] * a, direction=Direction.LongOnly, fixed_fees=fee,
                               slippage=slip), capped
    want = (target - pos) * a
    if params.rules[g] == RULES_QLIB:  # qlib floors (amount + 0.1) to its trade unit
        want += QLIB_ROUND_SLACK
    capped = rules_nb.buy_lot_nb(min(want, cap), min_lot, inc) < rules_nb.buy_lot_nb(want, min_lot, inc) - rules_nb.EPS_SHARES
    fill = deal[i, j] * (1 + slip)
    n = rules_nb.affordable_nb(cash, fill, min(want, cap), min_lot, inc, comm, minc, tr)
    if k > 0:
        n = rules_nb.affordable_impact_nb(cash, fill, deal[i, j], n, min_lot, inc, comm, minc, tr, adv, sigma, k)
    if n <= 0:
        return NoOrder, capped
    fee = rules_nb.total_fee_nb(n * fill, False, comm, minc, duty, tr) + rules_nb.impact_cost_nb(n, deal[i, j], adv, sigma, k)
    return vbt_nb.order_nb(n / a, deal[i, j] * a, direction=Direction.LongOnly, fixed_fees=fee,
                           slippage=slip, allow_partial=False), capped


# ---------------------------------------------------------------- vectorbt backend callbacks
@njit(cache=True)
def pre_group_nb(c, state: State):
    """vectorbt pre-group callback: reset the pending targets before each portfolio."""
    state.pending[:] = np.nan
    state.carry[:] = False
    return ()


@njit(cache=True)
def pre_segment_nb(c, mkt: MarketArrays, sig: Signals, params: Params, state: State):
    """vectorbt pre-segment callback: :func:`day_orders_nb` for row ``c.i``, group ``c.group``."""
    n = mkt.deal.shape[1]
    pos = c.last_position[c.from_col:c.from_col + n]
    state.ostate[0] = day_orders_nb(c.i, c.group, pos, c.last_cash[c.group], mkt, sig, params, state)
    state.ostate[1] = 0
    return ()


@njit(cache=True)
def flex_order_nb(c, mkt: MarketArrays, params: Params, state: State):
    """vectorbt flexible order function: the next listed order of this segment, or column -1."""
    ostate = state.ostate
    while ostate[1] < ostate[0]:
        r = ostate[1]
        ostate[1] += 1
        j = state.ocol[r]
        col = c.from_col + j
        order, capped = order_for_nb(c.i, j, c.group, c.last_position[col], c.last_cash[c.group],
                                     state.okind[r], state.otarget[r], mkt, params)
        settle_nb(c.i, c.group, r, capped, state)
        if not np.isnan(order.size):
            return col, vectorbt_order_nb(order)
    return -1, vectorbt_order_nb(NoOrder)


@njit
def vectorbt_order_nb(o):
    """The same order as vectorbt's own ``Order`` type (its loop accepts no other)."""
    return VectorbtOrder(o.size, o.price, o.size_type, o.direction, o.fees, o.fixed_fees, o.slippage, o.min_size,
                         o.max_size, o.size_granularity, o.reject_prob, o.lock_cash, o.allow_partial, o.raise_reject,
                         o.log)


@njit(cache=True)
def simulate_vbt_nb(mkt: MarketArrays, sig: Signals, params: Params, state: State, max_orders: int
                    ) -> np.ndarray:
    """vectorbt's ``flex_simulate_nb`` (the loop of ``Portfolio.from_order_func(flexible=True)``)
    with this module's callbacks. Not cacheable: numba recompiles it in every process."""
    t, n = mkt.deal.shape
    g = params.k.shape[0]
    records, _ = vectorbt_nb.flex_simulate_nb(
        (t, g * n), np.full(g, n, dtype=np.int64), params.capital.copy(), True,
        segment_mask=np.ones((t, g), dtype=np.bool_),
        pre_group_func_nb=pre_group_nb, pre_group_args=(state,),
        pre_segment_func_nb=pre_segment_nb, pre_segment_args=(mkt, sig, params, state),
        flex_order_func_nb=flex_order_nb, flex_order_args=(mkt, params, state),
        close=np.full((1, 1), np.nan), ffill_val_price=True, update_value=False,
        fill_pos_record=False, max_orders=max_orders, max_logs=0, flex_2d=True)
    return records


# ------------------------------------------------------------------------- loop backend
@njit(cache=True)
def simulate_loop_nb(mkt: MarketArrays, sig: Signals, params: Params, state: State, max_orders: int
                     ) -> np.ndarray:
    """The same simulation as :func:`simulate_vbt_nb` in a plain loop (cacheable): same callbacks'
    logic, vectorbt's ``process_order_nb`` executes each order and writes the order record."""
    t, n = mkt.deal.shape
    records = np.empty(max_orders, dtype=vbt_order_dt)
    logs = np.empty(1, dtype=vbt_log_dt)
    oidx = 0
    ocol, okind, otarget = state.ocol, state.okind, state.otarget
    for grp in range(params.k.shape[0]):
        cash = params.capital[grp]
        pos = np.zeros(n)
        state.pending[:] = np.nan
        state.carry[:] = False
        for i in range(t):
            m = day_orders_nb(i, grp, pos, cash, mkt, sig, params, state)
            for r in range(m):
                j = ocol[r]
                order, capped = order_for_nb(i, j, grp, pos[j], cash, okind[r], otarget[r], mkt, params)
                settle_nb(i, grp, r, capped, state)
                if np.isnan(order.size):
                    continue
                ps = ProcessOrderState(cash, pos[j], 0.0, cash, np.nan, np.nan, oidx, 0)
                _, new = vbt_nb.process_order_nb(i, grp * n + j, grp, ps, False, order, records, logs)
                cash, pos[j], oidx = new.cash, new.position, new.oidx
    return records[:oidx]


@njit(nogil=True, cache=True)
def rank_rows_nb(scores: np.ndarray, sym_keys: np.ndarray, day_keys: np.ndarray) -> np.ndarray:
    """(T, N) ``rank_desc_nb`` of every row of ``scores`` with the day's tie keys."""
    t, n = scores.shape
    out = np.empty((t, n), dtype=np.int64)
    for i in range(t):
        out[i] = rank_desc_nb(scores[i], tie_keys_nb(sym_keys, day_keys[i]))
    return out


@njit(nogil=True, cache=True)
def simulate_free_nb(mkt: MarketArrays, sig: Signals, params: Params, state: State, max_orders: int) -> np.ndarray:
    """:func:`simulate_loop_nb` without the GIL: the portfolios of a sweep run in threads."""
    return simulate_loop_nb(mkt, sig, params, state, max_orders)


# ------------------------------------------------------------------------- entry point
def simulate(market: Market, scores: np.ndarray, weights: np.ndarray, params: Params,
             max_orders: int | None = None, backend: str = "loop", threads: int | None = None,
             ranks: np.ndarray | None = None) -> Fills:
    """Run the G portfolios of ``params`` over ``market`` in one kernel call.

    ``scores``: (T, N) signal of each day (NaN = none); ``weights``: (T, N) target weights for
    ``MODE_WEIGHTS`` portfolios (else any (1, N) array). Portfolio g trades on day i from row
    i-1 (:func:`rebalance_mask` with ``params.rebalance_every``). ``backend``: ``loop`` or
    ``vectorbt`` (identical records). With several portfolios, the ``loop`` backend runs them
    in ``threads`` threads (default: numba's thread count, ``NUMBA_NUM_THREADS``), one kernel
    call per portfolio, records identical to one call (:func:`simulate_groups`). ``ranks``:
    the :func:`rank_rows` of ``scores`` when the caller has them (tasks of a sweep). Returns
    :class:`Fills`.
    """
    t, n = market.shape
    threads = threads or int(getattr(numba_config, "NUMBA_NUM_THREADS", 1))
    sym_keys, day_keys = hash_keys(market.symbols), hash_keys(market.dates)
    sig = Signals(scores, weights, rebalance_mask(scores, params.rebalance_every), sym_keys, day_keys,
                  qlib_code_keys(market.symbols), ranks if ranks is not None else rank_rows(scores, sym_keys, day_keys, threads))
    workers = min(params.n_groups, threads)
    if backend == "loop" and max_orders is None and workers > 1:
        return simulate_groups(market.arrays, sig, params, workers)
    if max_orders is None:
        max_orders = order_capacity(t, n, params)
    state = State.empty(t, n, params.n_groups)
    if backend == "vectorbt":
        _bind_vectorbt()
    try:
        warnings.filterwarnings("ignore", message=".*simulate_vbt_nb.*", category=NumbaWarning)
        kernel = simulate_vbt_nb if backend == "vectorbt" else simulate_loop_nb
        records = kernel(market.arrays, sig, params, state, max_orders)
    except IndexError:  # more fills than the estimate: grow the record buffer and rerun
        if max_orders >= t * params.n_groups * n:
            raise
        return simulate(market, scores, weights, params, min(4 * max_orders, t * params.n_groups * n), backend)
    return Fills(records, state.blocked, state.capped, state.demand)


def qlib_code(symbol: str) -> str:
    """qlib's instrument code of a flyer symbol: ``600000.SH`` -> ``SH600000``."""
    code, _, exchange = symbol.partition(".")
    return f"{exchange}{code}".upper()


def qlib_code_keys(symbols: Sequence[str]) -> np.ndarray:
    """(N,) uint64 rank of each symbol's qlib code (:func:`qlib_code`) in ascending text order:
    qlib ranks equal and missing scores in this order (``SZ002315`` after ``SH601012``)."""
    codes = [qlib_code(s) for s in symbols]
    keys = np.empty(len(codes), dtype=np.uint64)
    keys[np.argsort(np.array(codes, dtype=object), kind="stable")] = np.arange(len(codes), dtype=np.uint64)
    return keys


def rank_rows(scores: np.ndarray, sym_keys: np.ndarray, day_keys: np.ndarray, threads: int) -> np.ndarray:
    """:func:`rank_rows_nb` in ``threads`` blocks of rows at once (the same array; 0: numba's
    thread count)."""
    threads = threads or int(getattr(numba_config, "NUMBA_NUM_THREADS", 1))
    t = scores.shape[0]
    if threads < 2 or t < 256:
        return rank_rows_nb(scores, sym_keys, day_keys)
    cuts = np.linspace(0, t, threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        parts = list(pool.map(lambda ab: rank_rows_nb(scores[ab[0]:ab[1]], sym_keys, day_keys[ab[0]:ab[1]]),
                              zip(cuts[:-1], cuts[1:])))
    return np.concatenate(parts)


def simulate_groups(mkt: MarketArrays, sig: Signals, params: Params, workers: int) -> Fills:
    """Each portfolio of ``params`` in its own ``simulate_free_nb`` call, ``workers`` at a time,
    stitched into what one call over all of them returns: records in portfolio order with their
    columns (g * N + j) and ids (running) as one call numbers them. Every portfolio starts from
    empty scratch buffers (one call resets them per portfolio too), so the records are identical."""
    t, n = mkt.deal.shape

    def one(g: int) -> tuple[np.ndarray, State]:
        p = Params(*(np.ascontiguousarray(a[g:g + 1]) for a in params))
        s = sig._replace(rebalance=np.ascontiguousarray(sig.rebalance[:, g:g + 1]))
        cap = order_capacity(t, n, p)
        while True:
            state = State.empty(t, n, 1)
            try:
                return simulate_free_nb(mkt, s, p, state, cap), state
            except IndexError:  # more fills than the estimate: grow the record buffer and rerun
                if cap >= t * n:
                    raise
                cap = min(4 * cap, t * n)

    with ThreadPoolExecutor(workers) as pool:
        parts = list(pool.map(one, range(params.n_groups)))
    return stitch([Fills(r, s.blocked, s.capped, s.demand) for r, s in parts], n)


def stitch(parts: list[Fills], n: int) -> Fills:
    """The ``Fills`` of one call over the portfolios of ``parts`` (one portfolio each, in order,
    N = ``n`` symbols): columns shifted to g * N + j, record ids running."""
    records = np.concatenate([p.records for p in parts]) if parts else np.empty(0, dtype=vbt_order_dt)
    records["col"] += np.repeat(np.arange(len(parts)) * n, [len(p.records) for p in parts])
    records["id"] = np.arange(len(records))
    return Fills(records, np.concatenate([p.blocked for p in parts], axis=1),
                 np.concatenate([p.capped for p in parts], axis=1), np.concatenate([p.demand for p in parts], axis=1))


def _bind_vectorbt() -> None:
    """Import vectorbt for the ``vectorbt`` backend (its loop, and its ``Order`` type)."""
    global vectorbt_nb, VectorbtOrder
    from vectorbt.portfolio import nb as vectorbt_nb
    from vectorbt.portfolio.enums import Order as VectorbtOrder


def rebalance_mask(scores: np.ndarray, every: np.ndarray) -> np.ndarray:
    """(T, G) bool: trade on day i when row i-1 is the c-th day with scores and c % every[g] == 0."""
    has = ~np.all(np.isnan(scores), axis=1)
    count = np.cumsum(has) - 1
    mask = np.zeros((scores.shape[0], len(every)), dtype=np.bool_)
    for g, e in enumerate(every):
        mask[1:, g] = has[:-1] & (count[:-1] % e == 0)
    return mask


def order_capacity(t: int, n: int, params: Params) -> int:
    """First guess of the number of fills: per portfolio, k to start, then per day 2 x n_drop
    (dropout) or up to k + n_drop (kept names rebalanced, or rests of capped orders carried
    under a participation limit) or N (weights), plus slack."""
    wide = params.rebalance_kept | (params.participation > 0)
    per_day = np.where(params.mode == MODE_WEIGHTS, n, np.where(wide, params.k + params.n_drop, 2 * params.n_drop))
    per_day = np.minimum(per_day + 8, n)
    return int(np.sum(t * per_day + params.k) + 1024)
