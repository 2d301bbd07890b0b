"""The search space of the miner: random well-typed formula trees and the genetic operators.

All randomness comes from a ``random.Random`` passed in by the caller (the driver), so a seed
fixes every tree. Trees are ``flyer.factors.expr`` nodes; the operators return canonical trees
(``canonical``: commutative operands sorted, ``Ref(x, 0)`` dropped) so that equivalent formulas
share one key (``str``) and are evaluated once.

Typing: every subtree has a unit (``unit_of``): ``price`` (open, high, low, close, vwap),
``volume``, ``cny`` (amount), ``1`` (dimensionless: turnover, ranks, correlations, ratios of
like units) or ``*`` (a compound unit such as price x volume). ``+``, ``-``, ``Greater`` and
``Less`` need operands of one unit; a tree that breaks this is rejected (``is_valid``) and the
operator that produced it retries. Depth, node count and lookback are bounded by ``Grammar``.
"""
from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from flyer.factors.expr import (
    BIN_OPS,
    CS_OPS,
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

Path = tuple[int, ...]

FIELD_UNITS: dict[str, str] = {"open": "price", "high": "price", "low": "price", "close": "price",
                               "vwap": "price", "volume": "volume", "amount": "cny",
                               "turnover": "1", "cap": "cny"}
#: rolling operators whose result keeps the unit of their input (the others are dimensionless)
KEEP_UNIT = frozenset({"Ref", "Delta", "Mean", "Sum", "Std", "Max", "Min", "Med", "Mad", "EMA",
                       "WMA", "DecayLinear", "Slope", "Resi"})
COMMUTATIVE_BIN = frozenset({"+", "*", "==", "!=", "&", "|"})
COMMUTATIVE_FUNC = frozenset({"Greater", "Less"})
COMMUTATIVE_PAIR = frozenset({"Corr", "Cov"})
#: element-wise functions the generator can build (one argument, or two for Greater / Less)
GEN_FUNCS = ("Abs", "Sign", "Log", "Greater", "Less")
#: rolling operators whose window is a lag (drawn from ``Grammar.lags``)
LAG_OPS = frozenset({"Ref", "Delta"})
TRIES = 20


@dataclass(frozen=True)
class Grammar:
    """Operator and field sets and the size bounds of generated trees."""

    fields: tuple[str, ...] = ("open", "high", "low", "close", "vwap", "volume", "amount", "turnover")
    binary: tuple[str, ...] = ("+", "-", "*", "/")
    funcs: tuple[str, ...] = ("Abs", "Sign", "Log", "Greater", "Less")
    rolling: tuple[str, ...] = ("Ref", "Delta", "Mean", "Sum", "Std", "Max", "Min", "Rank", "Slope",
                                "Resi", "Rsquare", "IdxMax", "IdxMin", "Skew", "Med", "EMA", "WMA")
    pair: tuple[str, ...] = ("Corr", "Cov")
    cross: tuple[str, ...] = ("CSRank", "CSZScore")
    windows: tuple[int, ...] = (5, 10, 20, 30, 60)
    lags: tuple[int, ...] = (1, 2, 5, 10, 20)      # Ref and Delta
    max_depth: int = 5
    max_nodes: int = 15
    max_lookback: int = 120

    def __post_init__(self) -> None:
        bad = [f for f in self.fields if f not in FIELD_UNITS]
        if bad or not self.fields:
            raise ValueError(f"grammar fields must be among {sorted(FIELD_UNITS)}, got {bad}")
        if not self.windows or min(self.windows) < 1 or not self.lags or min(self.lags) < 1 or self.max_depth < 1:
            raise ValueError("grammar needs positive windows and lags and max_depth >= 1")
        ops = ((set(self.binary) - set(BIN_OPS)) | (set(self.funcs) - set(GEN_FUNCS))
               | (set(self.rolling) - (set(ROLLING_OPS) - {"Quantile"})) | (set(self.pair) - set(PAIR_OPS))
               | (set(self.cross) - (set(CS_OPS) - {"Neutralize"})))
        if ops:
            raise ValueError(f"grammar: unsupported operator(s) {', '.join(sorted(ops))}")


# ----------------------------------------------------------------------------- typing
class UnitError(TypeError):
    """A tree that combines operands of different units with + - Greater Less."""


def unit_of(expr: Expr) -> str:
    """Unit of a tree (see module docstring); raises ``UnitError`` when it is ill-typed."""
    if isinstance(expr, Field):
        return FIELD_UNITS.get(expr.name, "*")
    if isinstance(expr, Const):
        return "1"
    if isinstance(expr, BinOp):
        a, b = unit_of(expr.left), unit_of(expr.right)
        return _bin_unit(expr.op, a, b)
    if isinstance(expr, Func):
        units = [unit_of(x) for x in expr.args]
        if expr.name in ("Greater", "Less"):
            return _same(units[0], units[1])
        return units[0] if expr.name == "Abs" else "1"
    if isinstance(expr, Rolling):
        u = unit_of(expr.x)
        return u if expr.op in KEEP_UNIT else "1"
    if isinstance(expr, PairRolling):
        unit_of(expr.left), unit_of(expr.right)
        return "1" if expr.op == "Corr" else "*"
    if isinstance(expr, CrossSection):
        unit_of(expr.x)
        return "1"
    raise UnitError(f"unknown node {type(expr).__name__}")


def _same(a: str, b: str) -> str:
    if a != b or a == "*":
        raise UnitError(f"operands of units {a} and {b}")
    return a


def _bin_unit(op: str, a: str, b: str) -> str:
    if op in ("+", "-"):
        return _same(a, b)
    if op == "*":
        return b if a == "1" else a if b == "1" else "*"
    if op == "/":
        if a == b and a != "*":
            return "1"
        return a if b == "1" else "*"
    return "1"  # comparisons and logic give 0/1 flags


def depth_of(expr: Expr) -> int:
    """Depth of a tree (a field alone has depth 1)."""
    return 1 + max((depth_of(c) for c in expr.children()), default=0)


def size_of(expr: Expr) -> int:
    """Number of nodes of a tree (the complexity measure)."""
    return sum(1 for _ in expr.walk())


#: rolling operators that keep a positive input positive
POSITIVE_ROLLING = frozenset({"Ref", "Mean", "Sum", "Max", "Min", "Med", "EMA", "WMA", "DecayLinear", "Std"})


def positive(expr: Expr) -> bool:
    """Whether a tree is positive by construction (fields, their means and ratios, ranks), so
    that ``Log`` of it is defined; ``Log`` of anything else is rejected by ``is_valid``."""
    if isinstance(expr, Field):
        return expr.name in FIELD_UNITS
    if isinstance(expr, Rolling):
        return expr.op in POSITIVE_ROLLING and positive(expr.x)
    if isinstance(expr, BinOp):
        return expr.op in ("+", "*", "/") and positive(expr.left) and positive(expr.right)
    if isinstance(expr, Func):
        return expr.name in ("Greater", "Less") and all(positive(a) for a in expr.args)
    return isinstance(expr, CrossSection) and expr.op == "CSRank"


def is_valid(expr: Expr, grammar: Grammar) -> bool:
    """Well-typed, reads a field, no degenerate node (``x - x``, ``Corr(x, x, w)``: two equal
    operands; ``Log`` of a tree that is not ``positive``), and within the grammar's depth,
    size and lookback bounds."""
    try:
        unit_of(expr)
    except UnitError:
        return False
    nodes = list(expr.walk())
    has_field = any(isinstance(n, Field) for n in nodes)
    degenerate = any(len(n.children()) == 2 and n.children()[0] == n.children()[1] for n in nodes)
    degenerate |= any(isinstance(n, Func) and n.name == "Log" and not positive(n.args[0]) for n in nodes)
    return (has_field and not degenerate and depth_of(expr) <= grammar.max_depth
            and size_of(expr) <= grammar.max_nodes and expr.lookback <= grammar.max_lookback)


# ----------------------------------------------------------------------------- canonical form
def canonical(expr: Expr) -> Expr:
    """Equivalent tree in canonical form: commutative operands sorted by text, ``Ref(x, 0)`` -> x,
    ``Abs(Abs(x))`` -> ``Abs(x)`` (also Sign), ``CSRank(CSZScore(x))`` and ``CSRank(CSRank(x))`` ->
    ``CSRank(x)``, ``CSZScore(CSZScore(x))`` -> ``CSZScore(x)``."""
    if isinstance(expr, BinOp):
        a, b = canonical(expr.left), canonical(expr.right)
        if expr.op in COMMUTATIVE_BIN and b.key < a.key:
            a, b = b, a
        return BinOp(expr.op, a, b)
    if isinstance(expr, Func):
        args = tuple(canonical(x) for x in expr.args)
        if expr.name in ("Abs", "Sign") and isinstance(args[0], Func) and args[0].name == expr.name:
            return args[0]
        if expr.name in COMMUTATIVE_FUNC:
            args = tuple(sorted(args, key=lambda e: e.key))
        return Func(expr.name, args)
    if isinstance(expr, Rolling):
        x = canonical(expr.x)
        if expr.op == "Ref" and expr.window == 0:
            return x
        return Rolling(expr.op, x, expr.window, expr.q)
    if isinstance(expr, PairRolling):
        a, b = canonical(expr.left), canonical(expr.right)
        if expr.op in COMMUTATIVE_PAIR and b.key < a.key:
            a, b = b, a
        return PairRolling(expr.op, a, b, expr.window)
    if isinstance(expr, CrossSection):
        x = canonical(expr.x)
        inner = x.op if isinstance(x, CrossSection) else ""
        if isinstance(x, CrossSection) and (expr.op, inner) in (("CSRank", "CSRank"), ("CSRank", "CSZScore"),
                                                                 ("CSZScore", "CSZScore")):
            x = x.x  # the inner transform does not change the result
        return CrossSection(expr.op, x, expr.by)
    return expr


# ----------------------------------------------------------------------------- random trees
def random_tree(rng: random.Random, grammar: Grammar, depth: int | None = None,
                full: bool = False) -> Expr:
    """A random valid canonical tree of depth <= ``depth`` (default the grammar's maximum).

    ``full``: every branch reaches the depth (the "full" half of ramped half-and-half);
    otherwise branches stop early at random ("grow").
    """
    depth = grammar.max_depth if depth is None else max(1, min(depth, grammar.max_depth))
    for _ in range(TRIES * 5):
        tree = canonical(_grow(rng, grammar, depth, full))
        if is_valid(tree, grammar):
            return tree
    return Field(grammar.fields[0])


def _grow(rng: random.Random, g: Grammar, depth: int, full: bool) -> Expr:
    if depth <= 1 or (not full and rng.random() < 0.3):
        return Field(rng.choice(g.fields))
    kinds = [k for k, ops in (("bin", g.binary), ("func", g.funcs), ("roll", g.rolling),
                              ("pair", g.pair), ("cs", g.cross)) if ops]
    weights = {"bin": 3, "func": 1, "roll": 4, "pair": 1, "cs": 1}
    kind = rng.choices(kinds, [weights[k] for k in kinds])[0]
    sub = lambda: _grow(rng, g, depth - 1, full)  # noqa: E731
    if kind == "bin":
        return BinOp(rng.choice(g.binary), sub(), sub())
    if kind == "func":
        name = rng.choice(g.funcs)
        return Func(name, (sub(), sub()) if name in COMMUTATIVE_FUNC else (sub(),))
    if kind == "roll":
        op = rng.choice(g.rolling)
        return Rolling(op, sub(), _window(rng, g, op))
    if kind == "pair":
        return PairRolling(rng.choice(g.pair), sub(), sub(), rng.choice(g.windows))
    return CrossSection(rng.choice(g.cross), sub())


def _window(rng: random.Random, g: Grammar, op: str) -> int:
    """A lag for Ref / Delta, a window for the other rolling operators."""
    return rng.choice(g.lags if op in LAG_OPS else g.windows)


def ramped_population(rng: random.Random, grammar: Grammar, n: int) -> list[Expr]:
    """``n`` random trees by ramped half-and-half over depths 2..max_depth (may repeat)."""
    depths = list(range(2, grammar.max_depth + 1)) or [1]
    return [random_tree(rng, grammar, depths[i % len(depths)], full=(i // len(depths)) % 2 == 1)
            for i in range(n)]


# ----------------------------------------------------------------------------- tree surgery
def subtrees(expr: Expr, path: Path = ()) -> list[tuple[Path, Expr]]:
    """Every node with its path (child indices from the root), parents before children."""
    out = [(path, expr)]
    for i, c in enumerate(expr.children()):
        out.extend(subtrees(c, path + (i,)))
    return out


def replace_at(expr: Expr, path: Path, new: Expr) -> Expr:
    """A copy of ``expr`` with the node at ``path`` replaced by ``new``."""
    if not path:
        return new
    kids = list(expr.children())
    kids[path[0]] = replace_at(kids[path[0]], path[1:], new)
    return _with_children(expr, kids)


def _with_children(expr: Expr, kids: list[Expr]) -> Expr:
    if isinstance(expr, BinOp):
        return BinOp(expr.op, kids[0], kids[1])
    if isinstance(expr, Func):
        return Func(expr.name, tuple(kids))
    if isinstance(expr, Rolling):
        return Rolling(expr.op, kids[0], expr.window, expr.q)
    if isinstance(expr, PairRolling):
        return PairRolling(expr.op, kids[0], kids[1], expr.window)
    if isinstance(expr, CrossSection):
        return CrossSection(expr.op, kids[0], expr.by)
    return expr


def _retry(rng: random.Random, grammar: Grammar, parent: Expr,
           make: Callable[[], Expr]) -> Expr:
    """``make()`` until it gives a valid tree different from ``parent`` (else ``parent``)."""
    for _ in range(TRIES):
        child = canonical(make())
        if child.key != parent.key and is_valid(child, grammar):
            return child
    return parent


def crossover(rng: random.Random, grammar: Grammar, a: Expr, b: Expr) -> Expr:
    """Replace a random subtree of ``a`` by a random subtree of ``b``."""
    def make() -> Expr:
        path, _ = rng.choice(subtrees(a))
        _, donor = rng.choice(subtrees(b))
        return replace_at(a, path, donor)
    return _retry(rng, grammar, a, make)


def subtree_mutation(rng: random.Random, grammar: Grammar, a: Expr) -> Expr:
    """Replace a random subtree of ``a`` by a fresh random tree of depth <= 2."""
    def make() -> Expr:
        path, _ = rng.choice(subtrees(a))
        return replace_at(a, path, _grow(rng, grammar, rng.choice((1, 2, 2)), False))
    return _retry(rng, grammar, a, make)


def point_mutation(rng: random.Random, grammar: Grammar, a: Expr) -> Expr:
    """Change one node in place: a field, an operator of the same arity, or a window."""
    def make() -> Expr:
        path, node = rng.choice(subtrees(a))
        return replace_at(a, path, _mutate_node(rng, grammar, node))
    return _retry(rng, grammar, a, make)


def _mutate_node(rng: random.Random, g: Grammar, node: Expr) -> Expr:
    if isinstance(node, Field):
        return Field(rng.choice(g.fields))
    if isinstance(node, BinOp) and g.binary:
        return BinOp(rng.choice(g.binary), node.left, node.right)
    if isinstance(node, Func):
        same = [f for f in g.funcs if (f in COMMUTATIVE_FUNC) == (node.name in COMMUTATIVE_FUNC)]
        return Func(rng.choice(same or [node.name]), node.args)
    if isinstance(node, Rolling):
        if rng.random() < 0.5:
            return Rolling(node.op, node.x, _window(rng, g, node.op), node.q)
        op = rng.choice(g.rolling)
        return Rolling(op, node.x, node.window if (op in LAG_OPS) == (node.op in LAG_OPS) else _window(rng, g, op))
    if isinstance(node, PairRolling):
        if rng.random() < 0.5:
            return PairRolling(node.op, node.left, node.right, rng.choice(g.windows))
        return PairRolling(rng.choice(g.pair), node.left, node.right, node.window)
    if isinstance(node, CrossSection) and g.cross:
        return CrossSection(rng.choice(g.cross), node.x)
    return node
