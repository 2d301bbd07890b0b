"""``FactorSet``: an ordered, named, immutable collection of factor expressions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator, Mapping

from flyer.factors.expr import Expr
from flyer.factors.parser import FormulaError, parse


@dataclass(frozen=True)
class FactorSet:
    """Named factors ``(name, expr)`` in output column order; names are unique."""

    name: str
    factors: tuple[tuple[str, Expr], ...]

    def __post_init__(self) -> None:
        names = [n for n, _ in self.factors]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"factor set {self.name!r}: duplicate names {', '.join(dupes)}")
        for n in names:
            if not n or n in ("date", "symbol") or n.startswith("_"):
                raise ValueError(f"factor set {self.name!r}: bad factor name {n!r}")

    @classmethod
    def from_formulas(cls, name: str, formulas: Mapping[str, str | Expr]) -> FactorSet:
        """Build from ``{factor_name: formula text or Expr}``; a bad formula raises
        ``FormulaError`` naming the factor: ``bad formula 'X' (MA5): ...``."""
        items = []
        for fname, formula in formulas.items():
            if isinstance(formula, Expr):
                items.append((fname, formula))
                continue
            try:
                items.append((fname, parse(str(formula))))
            except FormulaError as exc:
                raise FormulaError(f"bad formula {formula!r} ({fname}): {exc}") from exc
        return cls(name, tuple(items))

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

    def formulas(self) -> dict[str, str]:
        """``{name: formula text}`` (round-trips through ``from_formulas``)."""
        return {n: str(e) for n, e in self.factors}

    def select(self, names: list[str] | tuple[str, ...]) -> FactorSet:
        """The sub-set with these factor names (in this order)."""
        table = dict(self.factors)
        missing = [n for n in names if n not in table]
        if missing:
            raise KeyError(f"not in factor set {self.name!r}: {', '.join(missing)}")
        return FactorSet(self.name, tuple((n, table[n]) for n in names))

    def __len__(self) -> int:
        return len(self.factors)

    def __iter__(self) -> Iterator[tuple[str, Expr]]:
        return iter(self.factors)
