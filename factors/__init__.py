"""flyer's factor engine: a formula language, factor libraries, computation and evaluation.

Public API::

    parse(text) -> Expr                       # formula text -> expression tree
    compile_set(factor_set, qlib_compat=False) -> CompiledSet
    compute(bars, factor_set, *, qlib_compat=False, industries=None) -> pl.DataFrame
    library.load(name_or_path) -> FactorSet   # alpha158, alpha360, wq101, or a TOML/YAML file

By name (``flyer.factors.research``; ``what``: a set name or file, a formula, a dict of
formulas, a FactorSet or a values frame)::

    values(store, what, start=None, end=None, universe="csi500")    -> [date, symbol, f...]
    evaluate(store, what, universe="csi500", horizon=5)             -> {factor: FactorEvaluation}
    summary_table(evals)                                            -> one row per factor
    alphalens(store, what, "KMID", universe="csi500")               -> pandas factor_data
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flyer.factors.engine import (
    CompiledSet,
    as_factor_set,
    compile_set,
    compute,
    compute_chunks,
)
from flyer.factors.expr import (
    CS_OPS,
    FIELDS,
    FUNCS,
    PAIR_OPS,
    ROLLING_OPS,
    BinOp,
    Const,
    CrossSection,
    Expr,
    Field,
    Func,
    PairRolling,
    Rolling,
)
from flyer.factors.factorset import FactorSet
from flyer.factors.parser import FormulaError, parse

if TYPE_CHECKING:
    from flyer.factors.evaluation import FactorEvaluation, summary_table
    from flyer.factors.research import alphalens, evaluate, values

#: names imported on first use: computing factors does not load the market store's modules
_LAZY = {"FactorEvaluation": "evaluation", "summary_table": "evaluation", "alphalens": "research",
         "evaluate": "research", "values": "research"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"flyer.factors.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'flyer.factors' has no attribute {name!r}")


__all__ = [
    "CS_OPS",
    "FIELDS",
    "FUNCS",
    "PAIR_OPS",
    "ROLLING_OPS",
    "BinOp",
    "CompiledSet",
    "Const",
    "CrossSection",
    "Expr",
    "FactorEvaluation",
    "FactorSet",
    "Field",
    "FormulaError",
    "Func",
    "PairRolling",
    "Rolling",
    "alphalens",
    "as_factor_set",
    "compile_set",
    "compute",
    "compute_chunks",
    "evaluate",
    "parse",
    "summary_table",
    "values",
]
