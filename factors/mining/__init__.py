"""Automatic factor mining: a genetic-programming search over formulas of the factor language.

Public API::

    load_data(store, universe, horizon, train, valid, fields, lookback) -> MiningData
    build_data(bars, members, horizon, train, valid, fields) -> MiningData
    evaluate_batch(data, formulas) -> list[EvalResult]          # deterministic, never raises
    SerialEvaluator(data, batch_size) / RayEvaluator(data, num_cpus=, address=, batch_size=)
    mine(evaluator, SearchConfig(...), checkpoint=, identity=, ...) -> MiningResult
    write_pool(path, pool)                                      # TOML ``name = "formula"``

Modules: ``grammar`` (random typed trees, genetic operators, canonical form), ``panel`` (the
arrays shipped to workers), ``kernels`` (numba rank IC), ``evaluate`` (one batch), ``parallel``
(serial / Ray evaluators), ``search`` (the GP driver, pool and checkpoints).
"""
from __future__ import annotations

from flyer.factors.mining.evaluate import EvalResult, evaluate_batch
from flyer.factors.mining.grammar import Grammar, canonical, random_tree, unit_of
from flyer.factors.mining.panel import UNIVERSES, MiningData, build_data, load_data
from flyer.factors.mining.parallel import RayEvaluator, SerialEvaluator, make_evaluator
from flyer.factors.mining.search import (GenerationReport, MiningResult, PoolEntry, SearchConfig, mine,
                                   write_pool)

__all__ = [
    "EvalResult", "GenerationReport", "Grammar", "MiningData", "MiningResult", "PoolEntry",
    "RayEvaluator", "SearchConfig", "SerialEvaluator", "UNIVERSES", "build_data", "canonical",
    "evaluate_batch", "load_data", "make_evaluator", "mine", "random_tree", "unit_of", "write_pool",
]
