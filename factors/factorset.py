"""``FactorSet``: an ordered, named, immutable collection of factor expressions.

A set's identity is its content: ``FactorSet.key(qlib_compat)`` hashes the engine version, the
mode and the ordered ``(factor name, canonical formula)`` pairs. The set's own ``name`` (a
library name or a file stem) is a label only: two files with the same formulas share a key, an
edited file gets a new one.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

from flyer.factors.expr import CrossSection, Expr
from flyer.factors.parser import FormulaError, parse

#: Version of the factor semantics (operators, warm-up, suspension and float handling in
#: ``engine``/``kernels``). Bump it whenever a formula's values change: every content key
#: changes with it, so values stored by an older engine are never read as current.
#: 2: x/0 and Log(x<=0) null; values computed per half-year epoch; every rolling operator runs
#: as a numba kernel (running sums, deques); stored values are float32.
ENGINE_VERSION = 2


@dataclass(frozen=True)
class FactorSet:
    """Named factors ``(name, expr)`` in output column order; names are unique.

    ``weights``: optional combination weights, one per factor in order (a mined pool's:
    the combined score is the weighted sum of the per-date standardised factors)."""

    name: str
    factors: tuple[tuple[str, Expr], ...]
    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        names = [n for n, _ in self.factors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"factor set {self.name!r}: duplicate names {', '.join(dupes)}")
        for n in names:
            if not n or n in ("date", "symbol") or n.startswith("_"):
                raise ValueError(f"factor set {self.name!r}: bad factor name {n!r}")
        if self.weights is not None and len(self.weights) != len(self.factors):
            raise ValueError(f"factor set {self.name!r}: {len(self.weights)} weights for {len(self.factors)} factors")

    @classmethod
    def from_formulas(cls, name: str, formulas: Mapping[str, str | Expr],
                      weights: Mapping[str, float] | None = None) -> FactorSet:
        """Build from ``{factor_name: formula text or Expr}`` (and optional ``{factor_name: weight}``
        covering every factor); a bad formula raises ``FormulaError`` naming the factor:
        ``bad formula 'X' (MA5): ...``."""
        from flyer.core.names import safe_name

        items = []
        for fname, formula in formulas.items():
            safe_name(fname, "factor name")  # names become file and column names
            if isinstance(formula, Expr):
                items.append((fname, formula))
                continue
            try:
                items.append((fname, parse(str(formula))))
            except FormulaError as exc:
                raise FormulaError(f"bad formula {formula!r} ({fname}): {exc}") from exc
        if weights is None:
            return cls(name, tuple(items))
        missing = [n for n in formulas if n not in weights]
        if missing or len(weights) != len(formulas):
            raise ValueError(f"factor set {name!r}: weights must name exactly its factors"
                             f"{' (missing ' + ', '.join(missing) + ')' if missing else ''}")
        return cls(name, tuple(items), tuple(float(weights[n]) for n in formulas))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.factors)

    @property
    def exprs(self) -> tuple[Expr, ...]:
        return tuple(e for _, e in self.factors)

    @property
    def lookback(self) -> int:
        """Rows of history before the first output date that every factor needs."""
        return max((e.lookback for e in self.exprs), default=0)

    @property
    def cross_sectional(self) -> bool:
        """True when some factor uses a per-date operator (its values depend on which stocks
        are computed together)."""
        return any(isinstance(n, CrossSection) for e in self.exprs for n in e.walk())

    def key(self, qlib_compat: bool = False) -> str:
        """Content key, 12 hex digits (``flyer.core.config.content_key``) of ``ENGINE_VERSION``, the
        mode and the ordered ``[name, canonical formula]`` pairs (not the set's name)."""
        from flyer.core.config import content_key

        return content_key({"engine": ENGINE_VERSION, "qlib_compat": bool(qlib_compat),
                            "factors": [[n, str(e)] for n, e in self.factors]})

    def formulas(self) -> dict[str, str]:
        """``{name: formula text}`` (round-trips through ``from_formulas``)."""
        return {n: str(e) for n, e in self.factors}

    def select(self, names: list[str] | tuple[str, ...]) -> FactorSet:
        """The sub-set with these factor names (in this order)."""
        table = dict(self.factors)
        missing = [n for n in names if n not in table]
        if missing:
            raise KeyError(f"not in factor set {self.name!r}: {', '.join(missing)}")
        w = dict(zip(self.names, self.weights)) if self.weights is not None else None
        return FactorSet(self.name, tuple((n, table[n]) for n in names),
                         tuple(w[n] for n in names) if w is not None else None)

    def __len__(self) -> int:
        return len(self.factors)

    def __iter__(self) -> Iterator[tuple[str, Expr]]:
        return iter(self.factors)
