"""The enhanced-index optimiser on synthetic problems: every constraint holds on random problems
(hypothesis), infeasible problems relax in the documented order and never raise."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flyer.backtest.optimizer import RELAXATIONS, Limits, Optimizer, Problem, active_risk
from tests.backtest.enhance_kit import check


def problem(seed: int, n: int = 60, n_members: int = 45, n_ind: int = 5, n_sty: int = 3, fixed: int = 0,
            first: bool = False) -> Problem:
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 1 + n_ind + n_sty))
    x[:, 0] = 1.0
    x[np.arange(n), 1 + rng.integers(0, n_ind, n)] = 1.0
    x[:, 1 + n_ind:] = rng.normal(size=(n, n_sty))
    a = rng.normal(size=(x.shape[1], x.shape[1])) * 0.05
    bench = np.zeros(n)
    bench[:n_members] = rng.uniform(0.5, 1.5, n_members)
    bench /= bench.sum()
    w0 = bench * rng.uniform(0.7, 1.3, n)
    w0[n_members:n_members + 3] = 0.01
    w0 /= w0.sum()
    lb, ub = np.zeros(n), np.ones(n)
    lb[:fixed], ub[:fixed] = w0[:fixed], w0[:fixed]
    return Problem(alpha=rng.normal(size=n) * 0.05, bench=bench, w0=w0, exposures=x, factor_cov=a @ a.T + 1e-4 * np.eye(len(a)),
                   specific=rng.uniform(0.2, 0.5, n) ** 2, lb=lb, ub=ub, member=bench > 0,
                   cost=np.full(n, 0.02), n_ind=n_ind, turnover=2.0 if first else None)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), te=st.sampled_from([0.02, 0.05, 0.08]), turnover=st.sampled_from([0.1, 0.3, 2.0]),
       fixed=st.integers(0, 5), floor=st.sampled_from([0.8, 0.95]))
def test_constraints_hold_on_random_problems(seed: int, te: float, turnover: float, fixed: int, floor: float) -> None:
    lim = Limits(te=te, turnover=turnover, member_floor=floor)
    p = problem(seed, fixed=fixed)
    sol = Optimizer(lim).solve(p)
    assert sol.status in ("optimal", "optimal_inaccurate", "held")
    assert list(sol.relaxed) == list(RELAXATIONS[:len(sol.relaxed)])   # taken in order, none skipped
    check(p, sol.weights, lim, sol.relaxed)
    np.testing.assert_allclose(sol.weights[:fixed], p.w0[:fixed], atol=1e-12)  # untradeable names held
    assert sol.predicted_te == pytest.approx(active_risk(p, sol.weights))


def test_feasible_problem_takes_no_relaxation_and_uses_alpha() -> None:
    p = problem(1, first=True)
    sol = Optimizer(Limits(te=0.05)).solve(p)
    assert sol.relaxed == () and sol.status == "optimal"
    assert p.alpha @ sol.weights > p.alpha @ p.bench  # the tilt earns alpha


def test_warm_start_reuses_the_compiled_problem() -> None:
    opt = Optimizer(Limits())
    opt.solve(problem(2))
    compiled = dict(opt._cache)
    opt.solve(problem(3))
    assert opt._cache.keys() == compiled.keys() and all(opt._cache[k] is compiled[k] for k in compiled)


def test_tight_turnover_relaxes_turnover_first() -> None:
    p = problem(4)
    w0 = p.w0.copy()
    w0[0] += 0.05  # 5 % over its benchmark weight: the 1 % stock bound needs 8 % turnover, the cap is 1 %
    p = Problem(**{**p.__dict__, "w0": w0 / w0.sum()})
    sol = Optimizer(Limits(turnover=0.01)).solve(p)
    assert sol.relaxed[:1] == ("turnover",)
    check(p, sol.weights, Limits(turnover=0.01), sol.relaxed)


def test_impossible_member_floor_relaxes_down_to_members() -> None:
    """Half the book stuck in untradeable non-members: the 80 % member floor cannot hold."""
    p = problem(5)
    w0 = p.w0.copy()
    w0[45:50] = 0.1
    w0[:45] *= 0.5 / w0[:45].sum()
    w0 /= w0.sum()
    lb, ub = p.lb.copy(), p.ub.copy()
    lb[45:50] = ub[45:50] = w0[45:50]
    q = Problem(**{**p.__dict__, "w0": w0, "lb": lb, "ub": ub})
    sol = Optimizer(Limits()).solve(q)
    assert "members" in sol.relaxed and sol.status != "held"
    np.testing.assert_allclose(sol.weights[45:50], w0[45:50])
    assert sol.relaxed == RELAXATIONS[:RELAXATIONS.index("members") + 1]


def test_nothing_possible_holds_current_weights() -> None:
    """Fixed names worth more than the whole book: no level can hold, the weights stay put."""
    p = problem(6)
    lb = p.lb.copy()
    lb[:10] = 0.2
    q = Problem(**{**p.__dict__, "lb": lb, "ub": np.maximum(p.ub, lb)})
    sol = Optimizer(Limits()).solve(q)
    assert sol.status == "held" and sol.relaxed == RELAXATIONS
    assert abs(sol.weights.sum() - 1) < 1e-9
