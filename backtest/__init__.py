"""Backtests of scores under A-share rules, on vectorbt.

Public API (the CLI, notebooks and the nightly job call these):
  * ``run(store, scores, config) -> BacktestResult``
  * ``sweep(store, scores, config, grid) -> (results, metrics table)``
  * ``targets(...)`` / ``orders_for_tomorrow(...)`` in ``flyer.backtest.orders``
  * ``capacity_curve(store, scores, config, capitals)``; ``window_table`` / ``regime_table``
    (``flyer.backtest.stress``): capacity and stress reports
  * ``BacktestConfig`` / ``CostConfig``; ``reference.reference_nav`` (slow check)
Only the configs import eagerly: the rest (numba, vectorbt) loads on first use, so importing
``flyer.backtest.config`` (the nightly config does) stays cheap.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from flyer.backtest.config import BacktestConfig, CostConfig

if TYPE_CHECKING:
    from flyer.backtest.api import check_scores, load_benchmark, run, sweep
    from flyer.backtest.capacity import capacity_curve
    from flyer.backtest.stress import regime_table, window_table
    from flyer.backtest.result import BacktestResult

_LAZY = {"check_scores": "api", "load_benchmark": "api", "run": "api", "sweep": "api",
         "BacktestResult": "result", "capacity_curve": "capacity", "window_table": "stress",
         "regime_table": "stress"}

__all__ = ["BacktestConfig", "BacktestResult", "CostConfig", "capacity_curve", "check_scores", "load_benchmark",
           "regime_table", "run", "sweep", "window_table"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"flyer.backtest.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'flyer.backtest' has no attribute {name!r}")
