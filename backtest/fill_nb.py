"""Order filling: vectorbt's ``process_order_nb`` for the orders the engine sends, without vectorbt.

The engine (``flyer.backtest.engine``) executes every fill through ``process_order_nb`` and
writes vectorbt order records. Importing ``vectorbt.portfolio.nb`` imports all of vectorbt
(pandas, plotly, ...: about 3.5 s in every backtest process), so this module carries the part
the engine uses, with vectorbt's names, types and arithmetic (vectorbt 1.x,
``portfolio/nb.py``: ``execute_order_nb``, ``buy_nb``, ``sell_nb``, ``process_order_nb``;
``utils/math_.py``: the tolerance helpers), restricted to what the engine sends:
  * long-only orders (``Direction.LongOnly``) sized in shares (``SizeType.Amount``), a positive
    size buys, a negative size sells at most the position;
  * ``fees`` (a fraction), ``fixed_fees`` (CNY), ``slippage``, ``min_size``, ``max_size``,
    ``size_granularity``, ``allow_partial``, ``raise_reject``; no locked cash, no random
    rejection, no log records (each raises ``ValueError`` when asked for).
Every operation is done in vectorbt's order, so the records are bit-identical
(``tests/backtest/test_fill_nb.py`` checks grids of orders against vectorbt itself). The
``vectorbt`` backend still runs vectorbt's own loop (imported only when that backend is asked
for); its callbacks hand it this module's ``Order``, which has vectorbt's fields.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

REL_TOL = 1e-9    # vectorbt.utils.math_.rel_tol
ABS_TOL = 1e-12   # vectorbt.utils.math_.abs_tol


class DirectionT(NamedTuple):
    LongOnly: int = 0
    ShortOnly: int = 1
    Both: int = 2


class SizeTypeT(NamedTuple):
    Amount: int = 0
    Value: int = 1
    Percent: int = 2
    TargetAmount: int = 3
    TargetValue: int = 4
    TargetPercent: int = 5


class OrderStatusT(NamedTuple):
    Filled: int = 0
    Ignored: int = 1
    Rejected: int = 2


class OrderStatusInfoT(NamedTuple):
    SizeNaN: int = 0
    PriceNaN: int = 1
    SizeZero: int = 5
    NoCashLong: int = 7
    NoOpenPosition: int = 8
    MaxSizeExceeded: int = 9
    CantCoverFees: int = 11
    MinSizeNotReached: int = 12
    PartialFill: int = 13


Direction = DirectionT()
SizeType = SizeTypeT()
OrderStatus = OrderStatusT()
OrderStatusInfo = OrderStatusInfoT()
BUY, SELL = 0, 1  # OrderSide


class Order(NamedTuple):
    """An order, field for field vectorbt's ``Order`` (``size`` in shares, ``price`` per share)."""

    size: float = np.inf
    price: float = np.inf
    size_type: int = 0
    direction: int = 2
    fees: float = 0.0
    fixed_fees: float = 0.0
    slippage: float = 0.0
    min_size: float = 0.0
    max_size: float = np.inf
    size_granularity: float = np.nan
    reject_prob: float = 0.0
    lock_cash: bool = False
    allow_partial: bool = True
    raise_reject: bool = False
    log: bool = False


NoOrder = Order(np.nan, np.nan, -1, -1, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan, False, False,
                False, False)


class OrderResult(NamedTuple):
    """Filled ``size``, ``price`` (with slippage), ``fees`` (CNY), ``side`` (0 buy, 1 sell), ``status``, ``status_info``."""

    size: float
    price: float
    fees: float
    side: int
    status: int
    status_info: int


class ProcessOrderState(NamedTuple):
    """vectorbt's state before and after an order (``debt`` and ``val_price`` kept as given)."""

    cash: float
    position: float
    debt: float
    free_cash: float
    val_price: float
    value: float
    oidx: int
    lidx: int


class ExecuteOrderState(NamedTuple):
    cash: float
    position: float
    debt: float
    free_cash: float


#: vectorbt's order record (``vectorbt.portfolio.enums.order_dt``)
order_dt = np.dtype([("id", np.int64), ("col", np.int64), ("idx", np.int64), ("size", np.float64),
                     ("price", np.float64), ("fees", np.float64), ("side", np.int64)], align=True)
#: log records are never written (``Order.log`` is refused); the engine allocates one
log_dt = np.dtype([("id", np.int64)], align=True)


@njit(cache=True)
def is_close_nb(a: float, b: float) -> bool:
    """``a`` and ``b`` equal within ``REL_TOL`` / ``ABS_TOL`` (never for NaN or inf)."""
    if np.isnan(a) or np.isnan(b):
        return False
    if np.isinf(a) or np.isinf(b):
        return False
    if a == b:
        return True
    return abs(a - b) <= max(REL_TOL * max(abs(a), abs(b)), ABS_TOL)


@njit(cache=True)
def is_close_or_less_nb(a: float, b: float) -> bool:
    if is_close_nb(a, b):
        return True
    return a < b


@njit(cache=True)
def is_less_nb(a: float, b: float) -> bool:
    if is_close_nb(a, b):
        return False
    return a < b


@njit(cache=True)
def add_nb(a: float, b: float) -> float:
    """``a + b``, exactly 0 when the two cancel within the tolerance."""
    if np.sign(a) != np.sign(b):
        if is_close_nb(abs(a), abs(b)):
            return 0.0
    elif is_close_nb(a + b, 0.0):
        return 0.0
    return a + b


@njit(cache=True)
def not_filled_nb(status: int, info: int) -> OrderResult:
    return OrderResult(np.nan, np.nan, np.nan, -1, status, info)


@njit(cache=True)
def buy_nb(st: ExecuteOrderState, size: float, order: Order) -> tuple[ExecuteOrderState, OrderResult]:
    """A long buy of ``size`` shares (vectorbt's ``buy_nb``, long only, cash unlocked)."""
    adj_price = order.price * (1 + order.slippage)
    cash_limit = min(st.cash, st.cash)
    if cash_limit == 0:
        return st, not_filled_nb(OrderStatus.Rejected, OrderStatusInfo.NoCashLong)
    if np.isinf(size) and np.isinf(cash_limit):
        raise ValueError("Attempt to go in long direction infinitely")
    adj_size = size
    if adj_size == 0:
        return st, not_filled_nb(OrderStatus.Ignored, OrderStatusInfo.SizeZero)
    if adj_size > order.max_size:
        if not order.allow_partial:
            return st, not_filled_nb(OrderStatus.Rejected, OrderStatusInfo.MaxSizeExceeded)
        adj_size = order.max_size
    gran = order.size_granularity
    if not np.isnan(gran):
        adj_size = adj_size // gran * gran
    req_cash = adj_size * adj_price
    req_fees = req_cash * order.fees + order.fixed_fees
    total_req_cash = req_cash + req_fees
    if is_close_or_less_nb(total_req_cash, cash_limit):
        final_size, fees_paid, final_req_cash = adj_size, req_fees, total_req_cash
    else:
        max_req_cash = add_nb(cash_limit, -order.fixed_fees) / (1 + order.fees)
        if max_req_cash <= 0:
            return st, not_filled_nb(OrderStatus.Rejected, OrderStatusInfo.CantCoverFees)
        max_acq_size = max_req_cash / adj_price
        if not np.isnan(gran):
            final_size = max_acq_size // gran * gran
            new_req_cash = final_size * adj_price
            fees_paid = new_req_cash * order.fees + order.fixed_fees
            final_req_cash = new_req_cash + fees_paid
        else:
            final_size = max_acq_size
            fees_paid = cash_limit - max_req_cash
            final_req_cash = cash_limit
    if is_close_nb(adj_size, 0):
        return st, not_filled_nb(OrderStatus.Ignored, OrderStatusInfo.SizeZero)
    if is_less_nb(final_size, order.min_size):
        return st, not_filled_nb(OrderStatus.Rejected, OrderStatusInfo.MinSizeNotReached)
    if np.isfinite(size) and is_less_nb(final_size, size) and not order.allow_partial:
        return st, not_filled_nb(OrderStatus.Rejected, OrderStatusInfo.PartialFill)
    new = ExecuteOrderState(add_nb(st.cash, -final_req_cash), add_nb(st.position, final_size), st.debt,
                            add_nb(st.free_cash, -final_req_cash))
    return new, OrderResult(final_size, adj_price, fees_paid, BUY, OrderStatus.Filled, -1)


@njit(cache=True)
def sell_nb(st: ExecuteOrderState, size: float, order: Order) -> tuple[ExecuteOrderState, OrderResult]:
    """A long sale of at most the position (vectorbt's ``sell_nb``, long only)."""
    adj_price = order.price * (1 - order.slippage)
    size_limit = min(st.position, size)
    if size_limit > order.max_size:
        if not order.allow_partial:
            return st, not_filled_nb(OrderStatus.Rejected, OrderStatusInfo.MaxSizeExceeded)
        size_limit = order.max_size
    if st.position == 0:
        return st, not_filled_nb(OrderStatus.Rejected, OrderStatusInfo.NoOpenPosition)
    gran = order.size_granularity
    if not np.isnan(gran):
        size_limit = size_limit // gran * gran
    if is_close_nb(size_limit, 0):
        return st, not_filled_nb(OrderStatus.Ignored, OrderStatusInfo.SizeZero)
    if is_less_nb(size_limit, order.min_size):
        return st, not_filled_nb(OrderStatus.Rejected, OrderStatusInfo.MinSizeNotReached)
    if np.isfinite(size) and is_less_nb(size_limit, size) and not order.allow_partial:
        return st, not_filled_nb(OrderStatus.Rejected, OrderStatusInfo.PartialFill)
    acq_cash = size_limit * adj_price
    fees_paid = acq_cash * order.fees + order.fixed_fees
    final_acq_cash = add_nb(acq_cash, -fees_paid)
    if final_acq_cash < 0:
        return st, not_filled_nb(OrderStatus.Rejected, OrderStatusInfo.CantCoverFees)
    new = ExecuteOrderState(st.cash + final_acq_cash, add_nb(st.position, -size_limit), st.debt,
                            st.free_cash + final_acq_cash)
    return new, OrderResult(size_limit, adj_price, fees_paid, SELL, OrderStatus.Filled, -1)


@njit(cache=True)
def check_order_nb(st: ExecuteOrderState, order: Order) -> None:
    """vectorbt's input checks, plus a refusal of what this port does not carry."""
    if np.isnan(st.cash) or st.cash < 0:
        raise ValueError("cash cannot be NaN and must be greater than 0")
    if not np.isfinite(st.position):
        raise ValueError("position must be finite")
    if not np.isfinite(st.debt) or st.debt < 0:
        raise ValueError("debt must be finite and 0 or greater")
    if np.isnan(st.free_cash):
        raise ValueError("free_cash cannot be NaN")
    if not np.isfinite(order.price) or order.price <= 0:
        raise ValueError("order.price must be finite and greater than 0")
    if order.size_type != SizeType.Amount or order.direction != Direction.LongOnly:
        raise ValueError("only long-only orders sized in shares are supported")
    if st.position < 0:
        raise ValueError("position is negative but order.direction is Direction.LongOnly")
    if not np.isfinite(order.fees) or not np.isfinite(order.fixed_fees):
        raise ValueError("order.fees and order.fixed_fees must be finite")
    if not np.isfinite(order.slippage) or order.slippage < 0:
        raise ValueError("order.slippage must be finite and 0 or greater")
    if not np.isfinite(order.min_size) or order.min_size < 0:
        raise ValueError("order.min_size must be finite and 0 or greater")
    if np.isnan(order.max_size) or order.max_size <= 0:
        raise ValueError("order.max_size must be greater than 0")
    if np.isinf(order.size_granularity) or order.size_granularity <= 0:
        raise ValueError("order.size_granularity must be either NaN or finite and greater than 0")
    if order.reject_prob != 0 or order.lock_cash or order.log:
        raise ValueError("random rejection, locked cash and log records are not supported")


@njit(cache=True)
def execute_order_nb(state: ProcessOrderState, order: Order) -> tuple[ExecuteOrderState, OrderResult]:
    """vectorbt's ``execute_order_nb`` for a long-only share order: values within the tolerance
    of 0 become 0, a NaN size or price ignores the order, then buy or sell."""
    cash = 0.0 if is_close_nb(state.cash, 0) else state.cash
    position = 0.0 if is_close_nb(state.position, 0) else state.position
    debt = 0.0 if is_close_nb(state.debt, 0) else state.debt
    free_cash = 0.0 if is_close_nb(state.free_cash, 0) else state.free_cash
    st = ExecuteOrderState(cash, position, debt, free_cash)
    if np.isnan(order.size):
        return st, not_filled_nb(OrderStatus.Ignored, OrderStatusInfo.SizeNaN)
    if np.isnan(order.price):
        return st, not_filled_nb(OrderStatus.Ignored, OrderStatusInfo.PriceNaN)
    check_order_nb(st, order)
    if order.size > 0:
        return buy_nb(st, order.size, order)
    return sell_nb(st, -order.size, order)


@njit(cache=True)
def process_order_nb(i: int, col: int, group: int, state: ProcessOrderState, update_value: bool, order: Order,
                     order_records: np.ndarray, log_records: np.ndarray) -> tuple[OrderResult, ProcessOrderState]:
    """Execute ``order`` on ``state``; a fill writes order record ``state.oidx`` (row ``i``, column
    ``col``). Same signature and result as vectorbt's (``update_value`` must be False;
    ``group`` and ``log_records`` are unused: no logs)."""
    if update_value:
        raise ValueError("update_value is not supported")
    exec_state, res = execute_order_nb(state, order)
    if res.status == OrderStatus.Rejected and order.raise_reject:
        raise ValueError("order rejected")
    oidx = state.oidx
    if res.status == OrderStatus.Filled:
        if oidx > len(order_records) - 1:
            raise IndexError("order_records index out of range. Set a higher max_orders.")
        rec = order_records[oidx]
        rec["id"] = oidx
        rec["col"] = col
        rec["idx"] = i
        rec["size"] = res.size
        rec["price"] = res.price
        rec["fees"] = res.fees
        rec["side"] = res.side
        oidx += 1
    return res, ProcessOrderState(exec_state.cash, exec_state.position, exec_state.debt, exec_state.free_cash,
                                  state.val_price, state.value, oidx, state.lidx)


@njit(cache=True)
def order_nb(size: float = np.nan, price: float = np.inf, size_type: int = 0, direction: int = 2,
             fees: float = 0.0, fixed_fees: float = 0.0, slippage: float = 0.0, min_size: float = 0.0,
             max_size: float = np.inf, size_granularity: float = np.nan, reject_prob: float = 0.0,
             lock_cash: bool = False, allow_partial: bool = True, raise_reject: bool = False,
             log: bool = False) -> Order:
    """An ``Order`` (vectorbt's ``order_nb``: every field cast to its type)."""
    return Order(float(size), float(price), int(size_type), int(direction), float(fees), float(fixed_fees),
                 float(slippage), float(min_size), float(max_size), float(size_granularity), float(reject_prob),
                 bool(lock_cash), bool(allow_partial), bool(raise_reject), bool(log))
