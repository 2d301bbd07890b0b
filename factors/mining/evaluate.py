"""Candidate evaluation: formulas -> per-period statistics against the label and the pool.

``Scorer(data, norm)`` turns a formula into its standardised cell vector ``z`` (per date, the
values' ranks (``norm="rank"``, the default) or the values themselves (``"zscore"``) scaled to
mean 0 and sd 1 over that date's cells; missing values count as the mean, 0) and compares it
with the label, standardised the same way (``target``), and with the pool's members:

- per date d: ``g_d = mean(z * target)``, ``s_d = mean(z * z)`` (the share of cells with a value),
  ``c_dj = mean(z * z_j)`` for each pool member j; the daily IC is ``g_d / sqrt(s_d)``;
- per period (training, validation): the means over its dates, ``g``, ``s``, ``cross``; with
  them the pool's combined IC is a closed form (``flyer.factors.mining.pool``).

Only training and validation cells are read: the test period stays unseen by the search.
``Scorer.evaluate`` is deterministic (a function of the data, the formula and the pool's
formulas) and never raises for a bad candidate: one that does not parse, fails in the engine,
or covers too little gives an ``EvalResult`` with ``ok=False`` and the reason.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from flyer.factors.expr import Expr
from flyer.factors.mining.grammar import size_of
from flyer.factors.mining.kernels import RANK, ZSCORE, segment_means_nb, standardize_nb
from flyer.factors.mining.nodes import CacheStats, NodeCache, tree_values
from flyer.factors.mining.panel import MiningData
from flyer.factors.parser import parse

NORMS = {"rank": RANK, "zscore": ZSCORE}
MIN_DATES = 20          # training dates with an IC, for a result
MIN_COVERAGE = 0.5      # share of training cells with a value, for a result
DEFAULT_CACHE_MB = 1024


@dataclass(frozen=True)
class PeriodStats:
    """One period's statistics of a standardised candidate (see module docstring).

    ``ic``/``icir``: mean and mean/sd of the daily IC; ``cross``: one value per pool member."""

    ic: float
    icir: float
    g: float
    s: float
    cross: tuple[float, ...]

    def flipped(self) -> PeriodStats:
        """The statistics of the negated formula."""
        return PeriodStats(-self.ic, -self.icir, -self.g, self.s, tuple(-c for c in self.cross))


@dataclass(frozen=True)
class EvalResult:
    """Statistics of one candidate against the pool ``pool`` (the members' formulas)."""

    formula: str
    ok: bool
    error: str = ""
    nodes: int = 0
    coverage: float = math.nan
    train: PeriodStats | None = None
    valid: PeriodStats | None = None
    pool: tuple[str, ...] = ()


def _msg(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"


class Scorer:
    """Evaluates formulas on one ``MiningData`` (its node cache and the pool's cell vectors)."""

    def __init__(self, data: MiningData, norm: str = "rank", cache_mb: int = DEFAULT_CACHE_MB) -> None:
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {', '.join(NORMS)}, got {norm!r}")
        self.data, self.norm, self.mode = data, norm, NORMS[norm]
        self.cache = NodeCache(cache_mb * 2**20)
        n_tv = int(np.searchsorted(data.period, 2, side="left"))   # train and valid dates come first
        self.seg = data.segments[:n_tv + 1]
        self.end = int(self.seg[-1])
        self.target = standardize_nb(data.label[:self.end], self.seg, self.mode)[0]
        self.period = data.period[:n_tv]
        self._z: dict[str, np.ndarray] = {}

    def values(self, expr: Expr) -> np.ndarray:
        """Raw values at every cell (all periods), NaN where missing -> (C,) float64."""
        v = tree_values(self.data, expr, self.cache)[self.data.cell_rows]
        v[~np.isfinite(v)] = np.nan
        return v

    def zvalues(self, formula: str) -> tuple[np.ndarray, np.ndarray]:
        """Standardised training + validation cell vector (float32) and finite counts per date."""
        v = tree_values(self.data, parse(formula), self.cache)[self.data.cell_rows[:self.end]]
        z, nfin = standardize_nb(np.where(np.isfinite(v), v, np.nan), self.seg, self.mode)
        return z.astype(np.float32), nfin

    def member_z(self, pool: tuple[str, ...]) -> np.ndarray:
        """(k, C_tv) float32 cell vectors of the pool's formulas (kept while they stay in it)."""
        self._z = {k: v for k, v in self._z.items() if k in pool}
        for key in pool:
            if key not in self._z:
                self._z[key] = self.zvalues(key)[0]
        if not pool:
            return np.zeros((0, self.end), dtype=np.float32)
        return np.stack([self._z[k] for k in pool])

    def evaluate(self, formulas: list[str], pool: tuple[str, ...] = ()) -> list[EvalResult]:
        """One ``EvalResult`` per formula, in order (see module docstring)."""
        members = self.member_z(pool)
        return [self._one(text, members, pool) for text in formulas]

    def cache_stats(self) -> CacheStats:
        return self.cache.stats()

    def _one(self, text: str, members: np.ndarray, pool: tuple[str, ...]) -> EvalResult:
        try:
            expr = parse(text)
            z, nfin = self.zvalues(text)
        except Exception as exc:  # noqa: BLE001 - a bad candidate must not stop the search
            return EvalResult(text, False, _msg(exc), pool=pool)
        means = segment_means_nb(z.astype(np.float64), self.target, members, self.seg)    # (D, 2 + k)
        n_cells = np.diff(self.seg)
        train = self.period == 0
        coverage = float(nfin[train].sum() / n_cells[train].sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            daily_ic = means[:, 0] / np.sqrt(means[:, 1])
        n_ic = int(np.isfinite(daily_ic[train]).sum())
        if coverage < MIN_COVERAGE:
            return EvalResult(text, False, f"covers {coverage:.0%} of training cells (< {MIN_COVERAGE:.0%})",
                              size_of(expr), coverage, pool=pool)
        if n_ic < MIN_DATES:
            return EvalResult(text, False, f"only {n_ic} training dates with an IC", size_of(expr), coverage,
                              pool=pool)
        stats = [_period(means[self.period == p], daily_ic[self.period == p]) for p in (0, 1)]
        return EvalResult(text, True, "", size_of(expr), coverage, stats[0], stats[1], pool)


def _period(means: np.ndarray, ics: np.ndarray) -> PeriodStats:
    """Means over one period's dates of the daily statistics (NaN when it has no dates)."""
    ics = ics[np.isfinite(ics)]
    if means.shape[0] == 0:
        k = means.shape[1] - 2
        return PeriodStats(math.nan, math.nan, math.nan, math.nan, (math.nan,) * k)
    m = means.mean(axis=0)
    ic = float(ics.mean()) if ics.size else math.nan
    sd = float(ics.std(ddof=1)) if ics.size > 1 else math.nan
    icir = ic / sd if sd and sd > 0 else math.nan
    return PeriodStats(ic, icir, float(m[0]), float(m[1]), tuple(float(x) for x in m[2:]))
