"""Factor expressions: immutable node classes forming an expression tree.

A factor is a tree of frozen dataclasses; ``str(expr)`` prints it in the formula language and
``flyer.factors.parser.parse(str(expr)) == expr`` (round trip). Node classes:

- ``Field(name)``: a bar column, ``$close`` (names in ``FIELDS``).
- ``Const(value)``: a float literal.
- ``BinOp(op, left, right)``: ``+ - * /``, comparisons ``> < >= <= == !=`` (1.0 / 0.0) and
  logical ``& |`` (non-zero is true).
- ``Func(name, args)``: element-wise functions (``FUNCS``: Abs, Sign, Log, Power, ...).
- ``Rolling(op, x, window, q)``: per-instrument time-series operators (``ROLLING_OPS``);
  ``q`` is Quantile's level, else None.
- ``PairRolling(op, left, right, window)``: Corr, Cov.
- ``CrossSection(op, x, by)``: per-date operators (``CS_OPS``); ``by`` names Neutralize's
  regressors (``industry``, ``cap``).

``Expr.lookback`` is the number of rows of history before ``t`` that a value at ``t`` needs:
``window - 1`` for a rolling window, ``n`` for ``Ref``/``Delta``, summed along a path, maxed over
paths. Windows count rows of the instrument's series (market days).

Division by zero gives null, never inf (so does ``Log`` of a value <= 0); a non-finite factor
output is stored as null and counted. Printing, equality, ``walk`` and ``lookback`` are
iterative, so a tree of any depth prints (the parser limits formulas to ``MAX_DEPTH`` levels
and ``MAX_NODES`` nodes, windows to ``MAX_WINDOW`` rows).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

MAX_DEPTH = 64        # nesting levels of one formula (Alpha158 / WQ101 use at most ~12)
MAX_NODES = 2_000     # nodes of one formula
MAX_WINDOW = 10_000   # rows (~40 years of trading days); the data's span is checked at compute time

FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "vwap", "volume", "amount",
                           "turnover", "cap", "industry", "pe", "pb")
#: fields that are not bar columns: joined point in time by ``flyer.data.fields.attach``
#: fields set to null on suspended days (``is_suspended``); ``cap`` and ``industry`` are kept
TRADED_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "vwap", "volume", "amount",
                                  "turnover")

ARITH_OPS = ("+", "-", "*", "/")
COMPARE_OPS = (">", "<", ">=", "<=", "==", "!=")
LOGIC_OPS = ("&", "|")
BIN_OPS = ARITH_OPS + COMPARE_OPS + LOGIC_OPS
#: binding power of each binary operator (higher binds tighter); all are left-associative
PRECEDENCE: dict[str, int] = {"|": 1, "&": 2, **{o: 3 for o in COMPARE_OPS},
                              "+": 4, "-": 4, "*": 5, "/": 5}

#: element-wise functions and their arity
FUNCS: dict[str, int] = {"Abs": 1, "Sign": 1, "Log": 1, "Power": 2, "SignedPower": 2,
                         "Greater": 2, "Less": 2, "If": 3}
#: single-input rolling operators (``Quantile`` also takes ``q``)
ROLLING_OPS: tuple[str, ...] = (
    "Ref", "Delta", "Mean", "Sum", "Std", "Var", "Skew", "Kurt", "Max", "Min", "IdxMax", "IdxMin",
    "Quantile", "Med", "Mad", "Rank", "Count", "Slope", "Rsquare", "Resi", "WMA", "EMA", "Prod",
    "DecayLinear")
#: two-input rolling operators
PAIR_OPS: tuple[str, ...] = ("Corr", "Cov")
#: cross-sectional (per date) operators
CS_OPS: tuple[str, ...] = ("CSRank", "CSZScore", "CSDemean", "CSScale", "Neutralize")
NEUTRALIZE_BY: tuple[str, ...] = ("industry", "cap")
#: other spellings accepted by the parser (WorldQuant 101 names) -> canonical operator
ALIASES: dict[str, str] = {
    "TsRank": "Rank", "TsMax": "Max", "TsMin": "Min", "TsArgMax": "IdxMax", "TsArgMin": "IdxMin",
    "TsSum": "Sum", "Delay": "Ref", "Stddev": "Std", "Correlation": "Corr", "Covariance": "Cov",
    "Product": "Prod", "Scale": "CSScale", "IndNeutralize": "Neutralize",
}


@dataclass(frozen=True)
class Expr:
    """Base of all nodes: structural equality and hashing (both by the canonical text, so
    neither recurses), arithmetic builds new nodes."""

    def children(self) -> tuple[Expr, ...]:
        return ()

    @property
    def lookback(self) -> int:
        """Rows of history before ``t`` needed for a value at ``t`` (0 for element-wise)."""
        return _fold(self, lambda node, kids: node._own_lookback(kids))

    def _own_lookback(self, kids: list[int]) -> int:
        return max(kids, default=0)

    def walk(self) -> Iterator[Expr]:
        """All nodes of the tree, children before parents (repeats included)."""
        stack: list[tuple[Expr, bool]] = [(self, False)]
        while stack:
            node, expanded = stack.pop()
            kids = node.children()
            if expanded or not kids:
                yield node
            else:
                stack.append((node, True))
                stack.extend((c, False) for c in reversed(kids))

    def _fmt(self, parts: list[str]) -> str:  # pragma: no cover - every node overrides it
        raise NotImplementedError

    def __str__(self) -> str:
        return _fold(self, lambda node, parts: node._fmt(parts))

    @cached_property
    def key(self) -> str:
        """Canonical text of the node (``str``), cached: the hash-consing key."""
        return str(self)

    def __hash__(self) -> int:
        return hash(self.key)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expr):
            return NotImplemented
        return self is other or (type(self) is type(other) and self.key == other.key)

    def __add__(self, other: Expr | float) -> Expr:
        return BinOp("+", self, _lift(other))

    def __radd__(self, other: float) -> Expr:
        return BinOp("+", _lift(other), self)

    def __sub__(self, other: Expr | float) -> Expr:
        return BinOp("-", self, _lift(other))

    def __rsub__(self, other: float) -> Expr:
        return BinOp("-", _lift(other), self)

    def __mul__(self, other: Expr | float) -> Expr:
        return BinOp("*", self, _lift(other))

    def __rmul__(self, other: float) -> Expr:
        return BinOp("*", _lift(other), self)

    def __truediv__(self, other: Expr | float) -> Expr:
        return BinOp("/", self, _lift(other))

    def __rtruediv__(self, other: float) -> Expr:
        return BinOp("/", _lift(other), self)

    def __neg__(self) -> Expr:
        return BinOp("-", Const(0.0), self)


T = TypeVar("T")


def _fold(root: Expr, combine: Callable[[Expr, list[T]], T]) -> T:
    """``combine(node, child results)`` applied bottom-up over the tree without recursion
    (shared nodes once)."""
    done: dict[int, T] = {}
    stack: list[tuple[Expr, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if id(node) in done:
            continue
        kids = node.children()
        if expanded or not kids:
            done[id(node)] = combine(node, [done[id(c)] for c in kids])
        else:
            stack.append((node, True))
            stack.extend((c, False) for c in kids if id(c) not in done)
    return done[id(root)]


def _lift(value: Expr | float) -> Expr:
    return value if isinstance(value, Expr) else Const(float(value))


def _num(value: float) -> str:
    text = repr(float(value))
    return text.removesuffix(".0")


@dataclass(frozen=True, eq=False)
class Field(Expr):
    """A bar column: ``$close``. ``name`` is one of ``FIELDS``."""

    name: str

    def __post_init__(self) -> None:
        if self.name not in FIELDS:
            raise ValueError(f"unknown field '${self.name}'")

    def _fmt(self, parts: list[str]) -> str:
        return f"${self.name}"

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=False)
class Const(Expr):
    """A float literal."""

    value: float

    def __post_init__(self) -> None:
        value = float(self.value)
        if not math.isfinite(value):
            raise ValueError(f"constants must be finite, got {value}")
        object.__setattr__(self, "value", value + 0.0)  # -0.0 -> 0.0 (hash agrees with ==)

    def _fmt(self, parts: list[str]) -> str:
        return _num(self.value)

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=False)
class BinOp(Expr):
    """``left op right`` for an operator in ``BIN_OPS``."""

    op: str
    left: Expr
    right: Expr

    def __post_init__(self) -> None:
        if self.op not in BIN_OPS:
            raise ValueError(f"unknown binary operator {self.op!r}")

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def _fmt(self, parts: list[str]) -> str:
        p = PRECEDENCE[self.op]
        left, right = parts
        if isinstance(self.left, BinOp) and PRECEDENCE[self.left.op] < p:
            left = f"({left})"
        if isinstance(self.right, BinOp) and PRECEDENCE[self.right.op] <= p:
            right = f"({right})"
        return f"{left} {self.op} {right}"

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=False)
class Func(Expr):
    """An element-wise function call ``Name(args...)`` (``FUNCS``)."""

    name: str
    args: tuple[Expr, ...]

    def __post_init__(self) -> None:
        if FUNCS.get(self.name) != len(self.args):
            raise ValueError(f"bad element-wise call {self.name}/{len(self.args)}")

    def children(self) -> tuple[Expr, ...]:
        return self.args

    def _fmt(self, parts: list[str]) -> str:
        return f"{self.name}({', '.join(parts)})"

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=False)
class Rolling(Expr):
    """A per-instrument rolling operator over ``window`` rows (``q`` for Quantile only)."""

    op: str
    x: Expr
    window: int
    q: float | None = None

    def __post_init__(self) -> None:
        if self.op not in ROLLING_OPS:
            raise ValueError(f"unknown rolling operator {self.op!r}")
        if self.window < (0 if self.op == "Ref" else 1):
            raise ValueError(f"{self.op} window must be a positive integer, got {self.window}")
        if (self.op == "Quantile") != (self.q is not None):
            raise ValueError("Quantile (and only Quantile) takes q")

    def children(self) -> tuple[Expr, ...]:
        return (self.x,)

    def _own_lookback(self, kids: list[int]) -> int:
        extra = self.window if self.op in ("Ref", "Delta") else self.window - 1
        return kids[0] + extra

    def _fmt(self, parts: list[str]) -> str:
        tail = f", {_num(self.q)}" if self.q is not None else ""
        return f"{self.op}({parts[0]}, {self.window}{tail})"

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=False)
class PairRolling(Expr):
    """A rolling operator of two series (Corr, Cov) over ``window`` rows."""

    op: str
    left: Expr
    right: Expr
    window: int

    def __post_init__(self) -> None:
        if self.op not in PAIR_OPS:
            raise ValueError(f"unknown pair operator {self.op!r}")
        if self.window < 1:
            raise ValueError(f"{self.op} window must be a positive integer, got {self.window}")

    def children(self) -> tuple[Expr, ...]:
        return (self.left, self.right)

    def _own_lookback(self, kids: list[int]) -> int:
        return max(kids) + self.window - 1

    def _fmt(self, parts: list[str]) -> str:
        return f"{self.op}({parts[0]}, {parts[1]}, {self.window})"

    __hash__ = Expr.__hash__


@dataclass(frozen=True, eq=False)
class CrossSection(Expr):
    """A per-date operator over all instruments of the panel (``CS_OPS``)."""

    op: str
    x: Expr
    by: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.op not in CS_OPS:
            raise ValueError(f"unknown cross-sectional operator {self.op!r}")
        if self.op == "Neutralize":
            if not self.by or any(b not in NEUTRALIZE_BY for b in self.by) or len(set(self.by)) < len(self.by):
                raise ValueError(f"Neutralize takes 'industry' and/or 'cap', got {self.by}")
        elif self.by:
            raise ValueError(f"{self.op} takes no grouping")

    def children(self) -> tuple[Expr, ...]:
        return (self.x,)

    def _fmt(self, parts: list[str]) -> str:
        return f"{self.op}({', '.join([parts[0], *self.by])})"

    __hash__ = Expr.__hash__


def fields_of(expr: Expr) -> set[str]:
    """Names of the fields an expression reads."""
    return {n.name for n in expr.walk() if isinstance(n, Field)}
