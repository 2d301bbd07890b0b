"""Automatic factor mining: genetic programming that builds a weighted pool of formulas.

Public API::

    load_data(store, universe, horizon, train, valid, test, fields, lookback) -> MiningData
    build_data(bars, members, horizon, train, valid, test, fields) -> MiningData
    Scorer(data, norm).evaluate(formulas, pool) -> list[EvalResult]     # deterministic, never raises
    SerialEvaluator(data, ...) / RayEvaluator(data, workers=, address=, ...)
    mine(evaluator, SearchConfig(...), checkpoint=, identity=, ...) -> MiningResult
    write_pool(path, pool, weights, meta) / read_pool(path) -> PoolFile   # TOML with [weights]
    pool_figures(scorer, ...) / baseline_pool(scorer, ...)              # the held-out report
    combined_scores(store, pool_file, start, end) -> [date, symbol, score]

Modules: ``grammar`` (random typed trees, genetic operators, canonical form), ``panel`` (the
panel and evaluation cells shipped to workers), ``nodes`` (node-by-node values with a cache
keyed by canonical subtree), ``kernels`` (numba per-date statistics), ``evaluate`` (one
candidate's statistics), ``pool`` (weights and combined IC in closed form), ``state``
(settings, entries, checkpoints), ``search`` (the GP driver), ``parallel`` (serial / Ray),
``report`` (train / valid / test figures and the Alpha158 baseline), ``poolfile``, ``score``.
"""
from __future__ import annotations

from flyer.factors.mining.evaluate import EvalResult, PeriodStats, Scorer
from flyer.factors.mining.grammar import Grammar, canonical, random_tree, unit_of
from flyer.factors.mining.nodes import CacheStats, NodeCache, tree_values
from flyer.factors.mining.panel import UNIVERSES, MiningData, build_data, load_data
from flyer.factors.mining.parallel import RayEvaluator, SerialEvaluator, make_evaluator
from flyer.factors.mining.pool import PoolStats, combined_ic, fit_weights
from flyer.factors.mining.poolfile import PoolFile, read_pool, write_pool
from flyer.factors.mining.report import PoolFigures, baseline_pool, pool_figures
from flyer.factors.mining.search import GenerationTiming, MiningResult, mine
from flyer.factors.mining.state import GenerationReport, PoolEntry, SearchConfig

__all__ = [
    "UNIVERSES",
    "CacheStats",
    "EvalResult",
    "GenerationReport",
    "GenerationTiming",
    "Grammar",
    "MiningData",
    "MiningResult",
    "NodeCache",
    "PeriodStats",
    "PoolEntry",
    "PoolFigures",
    "PoolFile",
    "PoolStats",
    "RayEvaluator",
    "Scorer",
    "SearchConfig",
    "SerialEvaluator",
    "baseline_pool",
    "build_data",
    "canonical",
    "combined_ic",
    "fit_weights",
    "load_data",
    "make_evaluator",
    "mine",
    "pool_figures",
    "random_tree",
    "read_pool",
    "tree_values",
    "unit_of",
    "write_pool",
]
