"""``flyer.backtest.fill_nb`` fills orders exactly as vectorbt's ``process_order_nb`` does, and a
backtest process never imports vectorbt unless its backend is asked for."""
from __future__ import annotations

import itertools
import subprocess
import sys

import numpy as np
import pytest

from flyer.backtest import fill_nb

vbt_nb = pytest.importorskip("vectorbt.portfolio.nb")
from vectorbt.portfolio import enums as vbt_enums  # noqa: E402

CASH = (0.0, 1e-13, 950.0, 1_000_000.0)
POSITION = (0.0, 1e-13, 100.0, 12_345.6)
SIZE = (1e-13, 50.0, 100.5, 2_000.0, 1e9, np.inf, np.nan)
PRICE = (0.01, 10.37, np.nan)
COSTS = ((0.0, 0.0, 0.0), (0.001, 5.0, 0.0), (0.0, 5.0, 0.002), (0.0003, 0.0, 0.001))
LIMITS = ((0.0, np.inf, np.nan), (1.0, 60.0, np.nan), (0.0, np.inf, 100.0))


def _both(cash: float, pos: float, size: float, price: float, costs: tuple, limits: tuple, partial: bool):
    fees, fixed, slip = costs
    min_size, max_size, gran = limits
    out = []
    for mod, order_cls, state_cls, dtype in ((fill_nb, fill_nb.Order, fill_nb.ProcessOrderState, fill_nb.order_dt),
                                             (vbt_nb, vbt_enums.Order, vbt_enums.ProcessOrderState,
                                              vbt_enums.order_dt)):
        order = order_cls(size, price, 0, 0, fees, fixed, slip, min_size, max_size, gran, 0.0, False, partial,
                          False, False)
        records = np.zeros(2, dtype=dtype)
        logs = np.zeros(1, dtype=vbt_enums.log_dt)
        state = state_cls(cash, pos, 0.0, cash, np.nan, np.nan, 1, 0)
        res, new = mod.process_order_nb(3, 7, 0, state, False, order, records, logs)
        out.append((tuple(res), tuple(new), records.tobytes()))
    return out


def test_fills_equal_vectorbt_bit_for_bit() -> None:
    """Every combination of state and order on the grid (buys and sells, partial fills, fees that
    eat the cash, granularity, min/max size, NaN prices) gives the same result, state and record."""
    rng = np.random.default_rng(7)
    grid = list(itertools.product(CASH, POSITION, SIZE, PRICE, COSTS, LIMITS, (True, False), (1.0, -1.0)))
    picked = [grid[i] for i in rng.choice(len(grid), 3000, replace=False)]
    filled = 0
    for cash, pos, size, price, costs, limits, partial, sign in picked:
        ours, theirs = _both(cash, pos, sign * size, price, costs, limits, partial)
        assert np.array_equal(np.array(ours[0]), np.array(theirs[0]), equal_nan=True), (cash, pos, size, price)
        assert ours[1] == theirs[1] or np.array_equal(np.array(ours[1]), np.array(theirs[1]), equal_nan=True)
        assert ours[2] == theirs[2]
        filled += ours[0][4] == 0
    assert filled > 300  # the grid fills orders, not only rejects them


def test_unsupported_orders_are_refused() -> None:
    state = fill_nb.ProcessOrderState(1000.0, 0.0, 0.0, 1000.0, np.nan, np.nan, 0, 0)
    records, logs = np.zeros(1, dtype=fill_nb.order_dt), np.zeros(1, dtype=fill_nb.log_dt)
    short = fill_nb.order_nb(10.0, 5.0, direction=fill_nb.Direction.Both)
    with pytest.raises(ValueError, match="long-only"):
        fill_nb.process_order_nb(0, 0, 0, state, False, short, records, logs)
    logged = fill_nb.order_nb(10.0, 5.0, direction=fill_nb.Direction.LongOnly, log=True)
    with pytest.raises(ValueError, match="log records"):
        fill_nb.process_order_nb(0, 0, 0, state, False, logged, records, logs)


def test_a_backtest_process_does_not_import_vectorbt(sim_home) -> None:
    """The default (loop) backend runs a whole backtest without vectorbt in ``sys.modules``."""
    code = ("import sys, polars as pl\n"
            "from flyer.data.store import MarketStore\n"
            "from flyer.backtest.api import run\n"
            "from flyer.backtest.config import BacktestConfig\n"
            f"s = MarketStore.open({str(sim_home)!r}, read_only=True)\n"
            "b = s.bars(columns=['close']).filter(pl.col('date') >= pl.date(2020, 1, 1))\n"
            "sc = b.select('date', 'symbol', (-pl.col('close')).alias('score'))\n"
            "r = run(s, sc, BacktestConfig(k=5, n_drop=1))\n"
            "r.metrics(); r.trades()\n"
            "print(len(r.records), sorted(m for m in sys.modules if m.split('.')[0] == 'vectorbt'))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    fills, mods = out.stdout.split(" ", 1)
    assert int(fills) > 0 and mods.strip() == "[]"
