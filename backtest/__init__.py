"""Backtests of scores under A-share rules, on vectorbt.

Public API (the CLI, notebooks and the nightly job call these):
  * ``run(store, scores, config) -> BacktestResult``
  * ``sweep(store, scores, config, grid) -> (results, metrics table)``
  * ``targets(...)`` / ``orders_for_tomorrow(...)`` in ``flyer.backtest.orders``
  * ``BacktestConfig`` / ``CostConfig``; ``reference.reference_nav`` (slow check)
"""
from __future__ import annotations

from flyer.backtest.api import check_scores, load_benchmark, run, sweep
from flyer.backtest.config import BacktestConfig, CostConfig
from flyer.backtest.result import BacktestResult

__all__ = ["BacktestConfig", "BacktestResult", "CostConfig", "check_scores", "load_benchmark", "run", "sweep"]
