"""The enhanced-index optimiser: one rebalance's weights from alpha, a risk model and limits.

Problem (cvxpy, solved with CLARABEL, an interior-point conic solver cvxpy ships):

    maximise   alpha'w - risk_aversion * (y'Fy + u'Du)
               - amortise * (cost'|w - w0| + impact' |w - w0|^(3/2))
    subject to sum(w) = 1, lb <= w <= ub            (long only; |w - b| <= stock_limit;
                                                     untradeable names held where they are)
               |w - w0| <= trade_cap                (participation x ADV / NAV per name)
               u = w - b,  y = X'w - X'b            (active weights, active factor exposures)
               ||(L'y, sqrt(D) u)||_2 <= te          (predicted tracking error: a second-order cone)
               |y_industry| <= industry_limit, |y_style| <= style_limit
               sum|w - w0| <= turnover               (two-sided turnover of the rebalance)
               member' w >= member_floor             (share of weight in index members)

with F = L L' the annual factor covariance and D the annual specific variances (factor form:
the problem stays small). Trading costs are convex (cvxportfolio's form): ``cost`` the linear
rate per unit of weight traded (commission, slippage, half the stamp duty) and ``impact`` the
square-root law's coefficient, ``impact_k * sigma_i * sqrt(NAV / ADV_i)``, so that the impact of a
trade z_i (fraction of NAV) is ``impact_i * |z_i|^(3/2)`` of NAV - exactly what the engine
charges a fill of value |z_i| x NAV (``flyer.backtest.rules_nb.impact_cost_nb``, same sigma,
ADV and prefactor: :func:`expected_impact`). Both are per rebalance; ``amortise`` turns them into
the objective's annual units (the alpha pays for a trade over its horizon). The book is
fully invested unless the participation bounds cannot reach a fully invested book (building
it from cash at a large size): then 0 <= sum(w) <= the most the bounds allow
(:func:`investable`), and the risk model prices the cash (an active country exposure).

Reuse: every problem is a cvxpy *parametrised* (DPP) problem over a fixed number of slots,
compiled once per (slots, relaxation level, with or without impact) and re-solved with
new parameter values (``cvxpy`` caches the canonicalisation; CLARABEL starts cold: its warm start
failed re-solves with the impact term's power cones, measured no faster on the sim).

Infeasible problems relax in this order, one step at a time, until one solves
(``RELAXATIONS``); the steps taken are returned with the solution, never raised:
  1. ``turnover``: the turnover cap is dropped;
  2. ``exposure_x2``: industry and style bounds doubled;
  3. ``exposure``: industry and style bounds dropped;
  4. ``stock``: the per-stock active bound dropped (long only remains);
  5. ``te``: the tracking-error constraint dropped (still penalised in the objective);
  6. ``members``: the member floor dropped;
  7. ``hold``: no solution at all: the current weights are kept (no trade).
Untradeable names' bounds, the participation bounds and the investment level are never relaxed.
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

IMPACT_FLOOR = 1e-6  # smallest impact coefficient of a priced problem (fraction of NAV per |dw|^1.5)
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
    impact: np.ndarray | None = None
    trade_cap: np.ndarray | None = None
    amortise: float = 1.0


@dataclass(frozen=True)
class Solution:
    """Weights (n,), solver status, relaxations taken (in order), predicted active risk
    (annual), two-sided turnover, member share, solve seconds; ``invested`` = sum(w) (below 1
    only when the participation bounds kept cash), ``expected_cost`` the linear costs and
    ``expected_impact`` the market impact the trade w - w0 will pay (fractions of NAV, this
    rebalance, before amortisation)."""

    weights: np.ndarray
    status: str
    relaxed: tuple[str, ...]
    predicted_te: float
    turnover: float
    member_share: float
    seconds: float
    invested: float = 1.0
    expected_cost: float = 0.0
    expected_impact: float = 0.0


def active_risk(p: Problem, w: np.ndarray) -> float:
    """Annual predicted tracking error of ``w`` against ``p.bench``."""
    u = w - p.bench
    y = p.exposures.T @ u
    return float(np.sqrt(max(y @ p.factor_cov @ y + np.sum(p.specific * u * u), 0.0)))


def expected_impact(p: Problem, w: np.ndarray) -> float:
    """Market impact of trading from ``p.w0`` to ``w``, fraction of NAV: sum impact_i |w_i - w0_i|^(3/2)
    (the engine's square-root charge, see the module docstring)."""
    if p.impact is None:
        return 0.0
    return float(np.sum(p.impact * np.abs(w - p.w0) ** 1.5))


def expected_cost(p: Problem, w: np.ndarray) -> float:
    """Linear trading costs of the trade w - w0, fraction of NAV (impact apart: :func:`expected_impact`)."""
    return float(np.sum(p.cost * np.abs(w - p.w0)))


def trade_bounds(p: Problem) -> tuple[np.ndarray, np.ndarray]:
    """(lb, ub) of tradeability and the participation bounds: w0 -+ trade_cap within [lb, ub]."""
    if p.trade_cap is None:
        return p.lb, p.ub
    cap = np.maximum(p.trade_cap, 0.0)
    return np.maximum(p.lb, p.w0 - cap), np.minimum(p.ub, np.maximum(p.w0 + cap, p.lb))


def investable(p: Problem) -> float:
    """The weight the book can hold after this rebalance: 1, or less when the participation
    bounds cannot buy a fully invested book (the rest stays cash)."""
    return float(min(1.0, trade_bounds(p)[1].sum()))


def _chol(cov: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    return vecs * np.sqrt(np.maximum(vals, 0.0))


class Optimizer:
    """Solves ``Problem``s under ``Limits``; keeps the compiled cvxpy problems between calls."""

    def __init__(self, limits: Limits = Limits()) -> None:
        self.limits = limits
        self._cache: dict[tuple[int, int, int, bool], tuple[Any, dict[str, Any], Any]] = {}

    def solve(self, p: Problem) -> Solution:
        """The weights of ``p``, relaxing in ``RELAXATIONS`` order until a problem solves."""
        t0 = time.perf_counter()
        tlb, tub = trade_bounds(p)
        hi = investable(p)
        lo = hi if hi >= 1 - 1e-12 else 0.0
        w: np.ndarray | None = None
        for level in range(len(RELAXATIONS) + 1):
            if level == len(RELAXATIONS):
                w, status = _hold(p, tlb, tub), "held"
                break
            bounds = self._bounds(p, level, tlb, tub, lo, hi)
            if bounds is None:
                continue
            w, status = self._attempt(p, level, *bounds, lo, hi)
            if w is not None:
                break
        assert w is not None
        if status != "held":
            w = _clean(w, tlb, tub, float(np.clip(w.sum(), lo, hi)))
        return Solution(w, status, RELAXATIONS[:level], active_risk(p, w), float(np.abs(w - p.w0).sum()),
                        float(w[p.member].sum()), time.perf_counter() - t0, float(w.sum()),
                        expected_cost(p, w), expected_impact(p, w))

    def _bounds(self, p: Problem, level: int, tlb: np.ndarray, tub: np.ndarray, least: float, most: float
                ) -> tuple[np.ndarray, np.ndarray] | None:
        """(lb, ub) at a relaxation level within the trade bounds (``tlb``, ``tub``), or None
        when they cannot hold a book of sum(w) in [least, most]."""
        a = self.limits.stock_limit
        if level < RELAXATIONS.index("stock") + 1:
            lo, hi = np.maximum(p.bench - a, 0.0), p.bench + a
        else:
            lo, hi = np.zeros_like(p.bench), np.ones_like(p.bench)
        fixed = tlb >= tub - 1e-15
        lb = np.where(fixed, tlb, np.maximum(np.minimum(lo, tub), tlb))
        ub = np.where(fixed, tub, np.minimum(np.maximum(hi, tlb), tub))
        if lb.sum() > most + 1e-9 or ub.sum() < least - 1e-9:
            return None
        return lb, ub

    def _attempt(self, p: Problem, level: int, lb: np.ndarray, ub: np.ndarray, lo: float, hi: float
                 ) -> tuple[np.ndarray | None, str]:
        import cvxpy as cp

        priced = p.impact is not None and bool(np.nan_to_num(p.impact).max(initial=0.0) > 0)
        prob, par, w = self._problem(len(p.alpha), p.exposures.shape[1], p.n_ind, level, priced)
        lim = self.limits
        x = p.exposures
        scale = 2.0 if level >= RELAXATIONS.index("exposure_x2") + 1 else 1.0
        k = x.shape[1]
        bound = np.full(k, 1e3)
        bound[1:1 + p.n_ind] = lim.industry_limit * scale
        bound[1 + p.n_ind:] = lim.style_limit * scale
        values = {"alpha": p.alpha, "b": p.bench, "xb": x.T @ p.bench, "x": x, "l": _chol(p.factor_cov),
                  "sd": np.sqrt(np.maximum(p.specific, 0.0)), "lb": lb, "ub": ub, "w0": p.w0,
                  "m": p.member.astype(float), "cost": np.maximum(p.cost, 0.0) * p.amortise,
                  "bound": bound, "invest_lo": lo, "invest_hi": hi,
                  "tau": lim.turnover if p.turnover is None else p.turnover}
        if priced:  # a floor keeps every epigraph of |dw|^(3/2) priced (an unpriced one is a free ray)
            values["imp"] = np.maximum(np.nan_to_num(np.asarray(p.impact)), IMPACT_FLOOR) * p.amortise
        for name, v in values.items():
            par[name].value = v
        try:
            with warnings.catch_warnings():  # "solution may be inaccurate": the status says so, and is recorded
                warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
                prob.solve(solver=lim.solver)  # no warm start: CLARABEL's failed on re-solves with power cones
        except cp.error.SolverError:
            return None, "solver_error"
        if prob.status not in OK_STATUS or w.value is None:
            return None, str(prob.status)
        return np.asarray(w.value, dtype=float), str(prob.status)

    def _problem(self, n: int, k: int, n_ind: int, level: int, priced: bool) -> tuple[Any, dict[str, Any], Any]:
        key = (n, k, level, priced)
        if key not in self._cache:
            self._cache[key] = _build(n, k, n_ind, level, self.limits, priced)
        return self._cache[key]


def _build(n: int, k: int, n_ind: int, level: int, lim: Limits, priced: bool
           ) -> tuple[Any, dict[str, Any], Any]:
    """The parametrised cvxpy problem of one relaxation level (``priced``: with the 3/2-power
    impact term; a problem without impact is compiled without it)."""
    import cvxpy as cp

    par = {"alpha": cp.Parameter(n), "b": cp.Parameter(n), "xb": cp.Parameter(k), "x": cp.Parameter((n, k)),
           "l": cp.Parameter((k, k)), "sd": cp.Parameter(n, nonneg=True), "lb": cp.Parameter(n),
           "ub": cp.Parameter(n), "w0": cp.Parameter(n), "m": cp.Parameter(n, nonneg=True),
           "cost": cp.Parameter(n, nonneg=True),
           "bound": cp.Parameter(k, nonneg=True), "tau": cp.Parameter(nonneg=True),
           "invest_lo": cp.Parameter(nonneg=True), "invest_hi": cp.Parameter(nonneg=True)}
    w, u, y, dw = cp.Variable(n), cp.Variable(n), cp.Variable(k), cp.Variable(n)
    trade = cp.abs(dw)  # a variable of its own: cost' |dw| stays DPP (parameter x parameter-free)
    risk = cp.sum_squares(par["l"].T @ y) + cp.sum_squares(cp.multiply(par["sd"], u))
    cons = [u == w - par["b"], dw == w - par["w0"], y == par["x"].T @ w - par["xb"],
            cp.sum(w) >= par["invest_lo"], cp.sum(w) <= par["invest_hi"],
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
    cost = par["cost"] @ trade
    if priced:
        par["imp"] = cp.Parameter(n, nonneg=True)
        t = cp.Variable(n)  # t >= |dw|^(3/2) as a 3-d power cone t^(2/3) 1^(1/3) >= |dw| (CLARABEL's own cone)
        cons.append(cp.constraints.PowCone3D(t, np.ones(n), dw, 2.0 / 3.0))
        cost = cost + par["imp"] @ t
    obj = cp.Maximize(par["alpha"] @ w - aversion * risk - cost)
    return cp.Problem(obj, cons), par, w


def _hold(p: Problem, lb: np.ndarray, ub: np.ndarray) -> np.ndarray:
    """No trade when nothing solves: the current weights within the trade bounds (scaled down
    when forced holdings exceed the book; a book in cash stays in cash)."""
    w = np.clip(p.w0, lb, ub)
    return w / w.sum() if w.sum() > 1 else w


def _clean(w: np.ndarray, lb: np.ndarray, ub: np.ndarray, invest: float, tiny: float = 1e-7) -> np.ndarray:
    """Solver noise removed: dust below ``tiny`` set to 0 where the trade bounds allow it, the
    free weights fitted into the trade bounds with the book summing to ``invest`` (1, or the
    solver's own sum when the participation bounds left cash)."""
    fixed = lb >= ub - 1e-15
    w = np.where(fixed, lb, np.where((w < tiny) & (lb <= 0), 0.0, w))
    return fit(w, lb, ub, invest, ~fixed)


def fit(w: np.ndarray, lb: np.ndarray, ub: np.ndarray, total: float, free: np.ndarray, rounds: int = 8) -> np.ndarray:
    """``w`` within [lb, ub] summing to ``total`` (as near as the bounds allow): the ``free``
    names holding weight are scaled pro rata, those at a bound drop out, a few rounds."""
    w = np.clip(w, lb, ub)
    for _ in range(rounds):
        gap = total - w.sum()
        if abs(gap) < 1e-14:
            break
        movable = free & (w > 0) & ((w < ub) if gap > 0 else (w > lb))
        if not movable.any():
            break
        w = np.where(movable, w * (1.0 + gap / w[movable].sum()), w)
        w = np.clip(w, lb, ub)
    return w
