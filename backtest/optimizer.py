"""The enhanced-index optimiser: one rebalance's weights from alpha, a risk model and limits.

Problem (cvxpy, solved with CLARABEL, an interior-point conic solver cvxpy ships):

    maximise   alpha'w - risk_aversion * (y'Fy + u'Du) - cost'|w - w0|
    subject to sum(w) = 1, lb <= w <= ub            (long only; |w - b| <= stock_limit;
                                                     untradeable names held where they are)
               u = w - b,  y = X'w - X'b            (active weights, active factor exposures)
               ||(L'y, sqrt(D) u)||_2 <= te          (predicted tracking error: a second-order cone)
               |y_industry| <= industry_limit, |y_style| <= style_limit
               sum|w - w0| <= turnover               (two-sided turnover of the rebalance)
               member' w >= member_floor             (share of weight in index members)

with F = L L' the annual factor covariance and D the annual specific variances (factor form:
the problem stays small). Warm start: every problem is a cvxpy *parametrised* (DPP) problem
over a fixed number of slots, compiled once per (slots, relaxation level) and re-solved with
new parameter values (``cvxpy`` caches the canonicalisation; CLARABEL itself starts cold).

Infeasible problems relax in this order, one step at a time, until one solves
(``RELAXATIONS``); the steps taken are returned with the solution, never raised:
  1. ``turnover``: the turnover cap is dropped;
  2. ``exposure_x2``: industry and style bounds doubled;
  3. ``exposure``: industry and style bounds dropped;
  4. ``stock``: the per-stock active bound dropped (long only remains);
  5. ``te``: the tracking-error constraint dropped (still penalised in the objective);
  6. ``members``: the member floor dropped;
  7. ``hold``: no solution at all: the current weights are kept (no trade).
Untradeable names' bounds and "fully invested" are never relaxed.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

RELAXATIONS = ("turnover", "exposure_x2", "exposure", "stock", "te", "members", "hold")
OK_STATUS = ("optimal", "optimal_inaccurate")


@dataclass(frozen=True)
class Limits:
    """Optimiser limits and preferences (fractions; ``te`` annualised)."""

    te: float = 0.05
    stock_limit: float = 0.01
    industry_limit: float = 0.02
    style_limit: float = 0.2
    turnover: float = 0.3
    member_floor: float = 0.8
    risk_aversion: float = 1.0
    solver: str = "CLARABEL"


@dataclass(frozen=True)
class Problem:
    """One rebalance over n names: alpha (n,) annual expected active return; bench (n,) and w0
    (n,) weights (current, drifted); exposures (n, K) with columns country, ``n_ind``
    industries, styles; factor_cov (K, K) and specific (n,) annual variances; lb / ub (n,)
    bounds from tradeability (untradeable names: lb = ub = w0, can't buy: ub <= w0, can't sell:
    lb >= w0) before the active bound; member (n,) bool; cost (n,) cost per unit of weight
    traded (one way)."""

    alpha: np.ndarray
    bench: np.ndarray
    w0: np.ndarray
    exposures: np.ndarray
    factor_cov: np.ndarray
    specific: np.ndarray
    lb: np.ndarray
    ub: np.ndarray
    member: np.ndarray
    cost: np.ndarray
    n_ind: int
    turnover: float | None = None   # this rebalance's cap (None: ``Limits.turnover``; 2.0 = none)


@dataclass(frozen=True)
class Solution:
    """Weights (n,), solver status, relaxations taken (in order), predicted active risk
    (annual), two-sided turnover, member share, solve seconds."""

    weights: np.ndarray
    status: str
    relaxed: tuple[str, ...]
    predicted_te: float
    turnover: float
    member_share: float
    seconds: float


def active_risk(p: Problem, w: np.ndarray) -> float:
    """Annual predicted tracking error of ``w`` against ``p.bench``."""
    u = w - p.bench
    y = p.exposures.T @ u
    return float(np.sqrt(max(y @ p.factor_cov @ y + np.sum(p.specific * u * u), 0.0)))


def _chol(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    return vecs * np.sqrt(np.maximum(vals, 0.0))


class Optimizer:
    """Solves ``Problem``s under ``Limits``; keeps the compiled cvxpy problems between calls."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._cache: dict[tuple[int, int, int], tuple[Any, dict[str, Any], Any]] = {}

    def solve(self, p: Problem) -> Solution:
        """The weights of ``p``, relaxing in ``RELAXATIONS`` order until a problem solves."""
        t0 = time.perf_counter()
        w: np.ndarray | None = None
        for level in range(len(RELAXATIONS) + 1):
            if level == len(RELAXATIONS):
                w, status = _hold(p), "held"
                break
            bounds = self._bounds(p, level)
            if bounds is None:
                continue
            w, status = self._attempt(p, level, *bounds)
            if w is not None:
                break
        assert w is not None
        w = _clean(w, p)
        return Solution(w, status, RELAXATIONS[:level], active_risk(p, w), float(np.abs(w - p.w0).sum()),
                        float(w[p.member].sum()), time.perf_counter() - t0)

    def _bounds(self, p: Problem, level: int) -> tuple[np.ndarray, np.ndarray] | None:
        """(lb, ub) at a relaxation level, or None when they cannot hold (sum(lb) > 1 > sum(ub))."""
        a = self.limits.stock_limit
        if level < RELAXATIONS.index("stock") + 1:
            lo, hi = np.maximum(p.bench - a, 0.0), p.bench + a
        else:
            lo, hi = np.zeros_like(p.bench), np.ones_like(p.bench)
        fixed = p.lb >= p.ub - 1e-15
        lb = np.where(fixed, p.lb, np.maximum(np.minimum(lo, p.ub), p.lb))
        ub = np.where(fixed, p.ub, np.minimum(np.maximum(hi, p.lb), p.ub))
        if lb.sum() > 1 + 1e-9 or ub.sum() < 1 - 1e-9:
            return None
        return lb, ub

    def _attempt(self, p: Problem, level: int, lb: np.ndarray, ub: np.ndarray
                 ) -> tuple[np.ndarray | None, str]:
        import cvxpy as cp

        prob, par, w = self._problem(len(p.alpha), p.exposures.shape[1], p.n_ind, level)
        lim = self.limits
        x = p.exposures
        scale = 2.0 if level >= RELAXATIONS.index("exposure_x2") + 1 else 1.0
        k = x.shape[1]
        bound = np.full(k, 1e3)
        bound[1:1 + p.n_ind] = lim.industry_limit * scale
        bound[1 + p.n_ind:] = lim.style_limit * scale
        values = {"alpha": p.alpha, "b": p.bench, "xb": x.T @ p.bench, "x": x, "l": _chol(p.factor_cov),
                  "sd": np.sqrt(np.maximum(p.specific, 0.0)), "lb": lb, "ub": ub, "w0": p.w0,
                  "m": p.member.astype(float), "cost": np.maximum(p.cost, 0.0), "bound": bound,
                  "tau": lim.turnover if p.turnover is None else p.turnover}
        for name, v in values.items():
            par[name].value = v
        try:
            prob.solve(solver=lim.solver, warm_start=True)
        except cp.error.SolverError:
            return None, "solver_error"
        if prob.status not in OK_STATUS or w.value is None:
            return None, str(prob.status)
        return np.asarray(w.value, dtype=float), str(prob.status)

    def _problem(self, n: int, k: int, n_ind: int, level: int) -> tuple[Any, dict[str, Any], Any]:
        key = (n, k, level)
        if key not in self._cache:
            self._cache[key] = _build(n, k, n_ind, level, self.limits)
        return self._cache[key]


def _build(n: int, k: int, n_ind: int, level: int, lim: Limits) -> tuple[Any, dict[str, Any], Any]:
    """The parametrised cvxpy problem of one relaxation level."""
    import cvxpy as cp

    par = {"alpha": cp.Parameter(n), "b": cp.Parameter(n), "xb": cp.Parameter(k), "x": cp.Parameter((n, k)),
           "l": cp.Parameter((k, k)), "sd": cp.Parameter(n, nonneg=True), "lb": cp.Parameter(n),
           "ub": cp.Parameter(n), "w0": cp.Parameter(n), "m": cp.Parameter(n, nonneg=True),
           "cost": cp.Parameter(n, nonneg=True), "bound": cp.Parameter(k, nonneg=True),
           "tau": cp.Parameter(nonneg=True)}
    w, u, y, dw = cp.Variable(n), cp.Variable(n), cp.Variable(k), cp.Variable(n)
    trade = cp.abs(dw)  # a variable of its own: cost' |dw| stays DPP (parameter x parameter-free)
    risk = cp.sum_squares(par["l"].T @ y) + cp.sum_squares(cp.multiply(par["sd"], u))
    cons = [u == w - par["b"], dw == w - par["w0"], y == par["x"].T @ w - par["xb"], cp.sum(w) == 1,
            w >= par["lb"], w <= par["ub"]]
    step = lambda name: level <= RELAXATIONS.index(name)  # noqa: E731 - still enforced at this level
    if step("turnover"):
        cons.append(cp.sum(trade) <= par["tau"])
    if step("exposure"):
        cons.append(cp.abs(y[1:]) <= par["bound"][1:])
    if step("te"):
        cons.append(cp.norm(cp.hstack([par["l"].T @ y, cp.multiply(par["sd"], u)])) <= lim.te)
    if step("members"):
        cons.append(par["m"] @ w >= lim.member_floor)
    aversion = lim.risk_aversion if step("te") else max(lim.risk_aversion, 10.0)
    obj = cp.Maximize(par["alpha"] @ w - aversion * risk - par["cost"] @ trade)
    return cp.Problem(obj, cons), par, w


def _hold(p: Problem) -> np.ndarray:
    """Current weights (renormalised onto what can be held) when nothing solves."""
    w = np.clip(p.w0, p.lb, p.ub)
    return w / w.sum() if w.sum() > 0 else p.bench.copy()


def _clean(w: np.ndarray, p: Problem, tiny: float = 1e-7) -> np.ndarray:
    """Solver noise removed: clipped to the bounds the solver was given, dust below ``tiny``
    set to 0 (untradeable names keep theirs), renormalised to sum 1."""
    fixed = p.lb >= p.ub - 1e-15
    w = np.maximum(w, 0.0)
    w = np.where(fixed, p.lb, np.where(w < tiny, 0.0, w))
    free = ~fixed
    rest = 1.0 - w[fixed].sum()
    if w[free].sum() > 0 and rest > 0:
        w[free] *= rest / w[free].sum()
    return w
