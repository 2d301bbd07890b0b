"""Backtests of scores under A-share rules.

Public API (the CLI, notebooks and the nightly job call these):
  * ``backtest(home, store, source, config, options) -> Session`` (``flyer.backtest.session``):
    a score source (scores file, run, blended runs, factor pool, frame) in; the result with its
    attribution, stress tables, report, exports and saved record out - what ``flyer backtest``
    and ``flyer run`` call;
  * ``run(store, scores, config) -> BacktestResult`` (the bare backtest)
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
    from flyer.backtest.api import check_scores, run, sweep
    from flyer.backtest.capacity import capacity_curve
    from flyer.backtest.stress import regime_table, window_table
    from flyer.backtest.result import BacktestResult
    from flyer.backtest.session import backtest

_LAZY = {"check_scores": "api", "run": "api", "sweep": "api", "backtest": "session",
         "BacktestResult": "result", "capacity_curve": "capacity", "window_table": "stress",
         "regime_table": "stress"}

__all__ = ["BacktestConfig", "BacktestResult", "CostConfig", "backtest", "capacity_curve", "check_scores",
           "regime_table", "run", "sweep", "window_table"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"flyer.backtest.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'flyer.backtest' has no attribute {name!r}")
