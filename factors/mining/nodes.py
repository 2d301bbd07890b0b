"""Formula values on the mining panel, node by node, with a cache keyed by canonical subtree.

A generation of genetic programming is full of shared pieces: offspring keep most of their
parents, and the pool's formulas recur inside candidates. ``tree_values`` therefore computes a
tree one node at a time, children first, and keeps every node's values (a polars Series over
the panel rows) in a ``NodeCache`` keyed by the node's canonical text (``Expr.key``; the
grammar's trees are canonical, so equivalent subtrees share a key). A node already in the
cache costs nothing.

Each node is built with the factor engine's own ``flyer.factors.engine.node_expr``, so values
equal the engine's (``flyer.factors.compute``) wherever the engine's would be full-window: every
intermediate node is kept without warm-up masking, as inside the engine, and a cross-sectional
node's input is nulled during its warm-up and, point in time, outside the universe on that date
(``_member``): CSRank and the other cross sections rank over that date's members only. The
finished value of a tree is NaN on rows with fewer than ``lookback`` rows of history.

Results never depend on what the cache holds (a node is always computed from its children's
values in the same way), so serial and parallel runs, with their separate caches, agree.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
import polars as pl
from flyer.factors.engine import AGE, node_expr
from flyer.factors.expr import (
    Const,
    CrossSection,
    Expr,
    Field,
    PairRolling,
    Rolling,
    fields_of,
)
from flyer.factors.mining.panel import MEMBER, MiningData


@dataclass(frozen=True)
class CacheStats:
    """Counters of a ``NodeCache``: per tree evaluated, ``hits`` counts its distinct non-leaf
    nodes that were reused (found in the cache, or below a node found there) and ``misses`` those
    computed; ``hit_rate`` = hits / (hits + misses), the share of node computations saved."""

    hits: int
    misses: int
    evictions: int
    entries: int
    bytes: int

    @property
    def hit_rate(self) -> float:
        n = self.hits + self.misses
        return self.hits / n if n else float("nan")

    def since(self, before: CacheStats) -> CacheStats:
        """The lookups and evictions after ``before`` (entries and bytes as now)."""
        return CacheStats(self.hits - before.hits, self.misses - before.misses, self.evictions - before.evictions,
                          self.entries, self.bytes)

    def __add__(self, other: CacheStats) -> CacheStats:
        return CacheStats(self.hits + other.hits, self.misses + other.misses, self.evictions + other.evictions,
                          self.entries + other.entries, self.bytes + other.bytes)


class NodeCache:
    """Least-recently-used node values, at most ``max_bytes`` in all (0 keeps nothing)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[str, pl.Series] = OrderedDict()
        self._bytes = 0
        self.hits = self.misses = self.evictions = 0

    def get(self, key: str) -> pl.Series | None:
        s = self._items.get(key)
        if s is not None:
            self._items.move_to_end(key)
        return s

    def put(self, key: str, values: pl.Series) -> None:
        if key in self._items:
            return
        size = int(values.estimated_size())
        if size > self.max_bytes:
            return
        self._items[key] = values
        self._bytes += size
        while self._bytes > self.max_bytes:
            _, old = self._items.popitem(last=False)
            self._bytes -= int(old.estimated_size())
            self.evictions += 1

    def stats(self) -> CacheStats:
        return CacheStats(self.hits, self.misses, self.evictions, len(self._items), self._bytes)


def tree_values(data: MiningData, expr: Expr, cache: NodeCache) -> np.ndarray:
    """(n_rows,) float64 values of ``expr`` over the panel rows (NaN = missing or in warm-up).

    Raises whatever the engine raises for a bad tree (the caller turns it into a failed result).
    """
    fresh: dict[str, pl.Series] = {}
    plan = _plan(expr, cache, fresh)
    for level in _levels(plan):
        _compute_level(data, level, cache, fresh)
    for key, s in fresh.items():
        cache.put(key, s)
    values = _column(data, expr, cache, fresh).cast(pl.Float64).to_numpy().astype(np.float64, copy=True)
    if expr.lookback:
        values[data.panel[AGE].to_numpy() < expr.lookback] = np.nan
    return values


def _is_leaf(node: Expr) -> bool:
    return isinstance(node, (Field, Const))


def _plan(expr: Expr, cache: NodeCache, fresh: dict[str, pl.Series]) -> list[Expr]:
    """The tree's non-leaf nodes not in the cache, children first, each once; counts hits."""
    seen: set[str] = set()
    plan: list[Expr] = []

    def visit(node: Expr) -> None:
        if _is_leaf(node) or node.key in seen:
            return
        seen.add(node.key)
        if cache.get(node.key) is not None:  # every node below it is reused too
            below = {n.key for n in node.walk() if not _is_leaf(n)} - seen
            cache.hits += 1 + len(below)
            seen.update(below)
            return
        for c in node.children():
            visit(c)
        plan.append(node)
        cache.misses += 1

    visit(expr)
    return plan


def _levels(plan: list[Expr]) -> list[list[Expr]]:
    """Group the planned nodes so that each group only reads earlier groups' values."""
    level: dict[str, int] = {}
    for node in plan:
        level[node.key] = 1 + max((level.get(c.key, 0) for c in node.children()), default=0)
    groups: dict[int, list[Expr]] = {}
    for node in plan:
        groups.setdefault(level[node.key], []).append(node)
    return [groups[k] for k in sorted(groups)]


def _compute_level(data: MiningData, nodes: list[Expr], cache: NodeCache, fresh: dict[str, pl.Series]) -> None:
    """Compute one group of nodes in one polars pass over the panel (children as columns)."""
    names: dict[str, str] = {}        # child key -> its column name in this pass
    inputs: list[pl.Series] = []
    exprs = []
    for i, node in enumerate(nodes):
        args = []
        for c in node.children():
            if not _is_leaf(c) and c.key not in names:
                names[c.key] = f"_in{len(names)}"
                inputs.append(_column(data, c, cache, fresh).alias(names[c.key]))
            args.append(_arg(node, c, names))
        e = node_expr(node, args, data.starts)
        if not fields_of(node):  # a constant subtree is a scalar in polars: broadcast it
            e = e + pl.col(AGE).cast(pl.Float64) * 0.0
        exprs.append(e.cast(pl.Float64).alias(f"_out{i}"))
    frame = data.panel.with_columns(inputs) if inputs else data.panel
    out = frame.lazy().select(exprs).collect(engine="in-memory")
    for i, node in enumerate(nodes):
        fresh[node.key] = out[f"_out{i}"].alias(node.key[:60])


def _ref(child: Expr, names: dict[str, str]) -> pl.Expr:
    if isinstance(child, Field):
        return pl.col(child.name)
    if isinstance(child, Const):
        return pl.lit(child.value, dtype=pl.Float64)
    return pl.col(names[child.key])


def _arg(node: Expr, child: Expr, names: dict[str, str]) -> pl.Expr:
    """How ``node`` reads ``child``: as is, broadcast (windowed nodes), or masked (cross sections)."""
    e = _ref(child, names)
    if isinstance(node, (Rolling, PairRolling)) and not fields_of(child):
        e = e + pl.col(AGE).cast(pl.Float64) * 0.0
    if isinstance(node, CrossSection):
        keep = pl.col(MEMBER) if child.lookback == 0 else (pl.col(AGE) >= child.lookback) & pl.col(MEMBER)
        e = pl.when(keep).then(e)
    return e


def _column(data: MiningData, node: Expr, cache: NodeCache, fresh: dict[str, pl.Series]) -> pl.Series:
    """A node's values over the panel rows: a field, a constant, or a computed node."""
    if isinstance(node, Field):
        return data.panel[node.name]
    if isinstance(node, Const):
        return pl.Series("const", np.full(data.panel.height, node.value))
    found = fresh.get(node.key)
    if found is None:
        found = cache.get(node.key)
    if found is None:
        raise KeyError(f"node not computed: {node.key}")
    return found
