"""The enhanced-index optimiser on synthetic problems: every constraint holds on random problems
(hypothesis; with market impact and participation bounds too), infeasible problems relax in the
documented order and never raise, impact in the objective trades less, and a book the
participation bounds cannot fill keeps cash."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flyer.backtest.optimizer import (RELAXATIONS, Limits, Optimizer, Problem, active_risk, expected_cost,
                                      expected_impact, investable)
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


def priced(p: Problem, seed: int, scale: float, cap: float | None) -> Problem:
    """``p`` with impact coefficients (about ``scale``) and participation caps (about ``cap``)."""
    rng = np.random.default_rng(seed + 1)
    n = len(p.alpha)
    return dataclasses.replace(p, impact=rng.uniform(0.5, 2.0, n) * scale, amortise=2.0,
                               trade_cap=None if cap is None else rng.uniform(0.2, 1.8, n) * cap)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 10_000), te=st.sampled_from([0.02, 0.05, 0.08]), turnover=st.sampled_from([0.1, 0.3, 2.0]),
       fixed=st.integers(0, 5), floor=st.sampled_from([0.8, 0.95]), impact=st.sampled_from([0.0, 0.1, 2.0]),
       cap=st.sampled_from([None, 0.002, 0.01]), first=st.booleans())
def test_constraints_hold_on_random_problems(seed: int, te: float, turnover: float, fixed: int, floor: float,
                                             impact: float, cap: float | None, first: bool) -> None:
    lim = Limits(te=te, turnover=turnover, member_floor=floor)
    p = priced(problem(seed, fixed=fixed, first=first), seed, impact, cap)
    if first:  # from cash: the participation bounds may keep part of the book in cash
        p = dataclasses.replace(p, w0=np.zeros_like(p.w0), lb=np.zeros_like(p.lb),
                                ub=np.where(p.lb >= p.ub, 0.0, p.ub))
    sol = Optimizer(lim).solve(p)
    assert sol.status in ("optimal", "optimal_inaccurate", "held")
    assert list(sol.relaxed) == list(RELAXATIONS[:len(sol.relaxed)])   # taken in order, none skipped
    check(p, sol.weights, lim, sol.relaxed)
    np.testing.assert_allclose(sol.weights[:fixed], p.w0[:fixed], atol=1e-12)  # untradeable names held
    assert sol.predicted_te == pytest.approx(active_risk(p, sol.weights))
    assert sol.invested == pytest.approx(sol.weights.sum()) and sol.invested <= investable(p) + 1e-9
    assert sol.expected_impact == pytest.approx(expected_impact(p, sol.weights))
    assert sol.expected_cost == pytest.approx(expected_cost(p, sol.weights))


def test_expected_impact_is_the_three_halves_power_of_each_trade() -> None:
    p = dataclasses.replace(problem(7), impact=np.full(60, 0.5))
    w = p.w0.copy()
    w[0] += 0.01
    w[1] -= 0.01
    assert expected_impact(p, w) == pytest.approx(2 * 0.5 * 0.01 ** 1.5)
    assert expected_impact(dataclasses.replace(p, impact=None), w) == 0.0
    assert expected_cost(p, w) == pytest.approx(0.02 * 0.02)


def test_impact_in_the_objective_trades_less() -> None:
    """The same rebalance with a rising impact coefficient: less turnover each step, and the
    impact the solution expects is what its trades cost at that coefficient."""
    base = problem(8)
    turns = []
    for scale in (0.0, 0.2, 2.0, 20.0):
        p = dataclasses.replace(base, impact=np.full(60, scale) if scale else None, cost=np.full(60, 1e-4))
        sol = Optimizer(Limits(turnover=2.0)).solve(p)
        assert sol.status == "optimal" and sol.relaxed == ()
        turns.append(sol.turnover)
        assert sol.expected_impact == pytest.approx(scale * np.sum(np.abs(sol.weights - p.w0) ** 1.5), abs=1e-12)
    assert turns == sorted(turns, reverse=True) and turns[-1] < 0.5 * turns[0]


def test_participation_bounds_keep_cash_when_the_book_cannot_be_bought() -> None:
    """From cash with every trade capped at 0.5 % of NAV (60 names: 30 % at most): the book
    holds what the bounds allow and keeps the rest in cash; nothing trades beyond its bound."""
    p = problem(9, first=True)
    p = dataclasses.replace(p, w0=np.zeros(60), trade_cap=np.full(60, 0.005))
    assert investable(p) == pytest.approx(0.3)
    sol = Optimizer(Limits()).solve(p)
    assert sol.status != "held" and 0.0 < sol.invested <= 0.3 + 1e-9
    assert (sol.weights <= 0.005 + 1e-9).all()
    check(p, sol.weights, Limits(), sol.relaxed)


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
