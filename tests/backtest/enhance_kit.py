"""Helpers of the enhance / attribution tests: the sim market in a home of its own, reversal
scores, and the check of every optimiser constraint a solution claims."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from flyer.backtest.optimizer import Limits, Problem, active_risk, investable, trade_bounds
from flyer.data.store import MarketStore

TOL = 1e-6
START, END = dt.date(2020, 4, 1), dt.date(2020, 12, 31)


def sim_home_copy(frames: dict[str, pl.DataFrame], path: Path) -> Path:
    with MarketStore.open(path) as store:
        store.write("sim", frames)
    return path


def reversal_scores(store: MarketStore, start: dt.date = START, end: dt.date = END) -> pl.DataFrame:
    """[date, symbol, score] = minus the 5-day return (the sim plants a 5-day reversal)."""
    bars = store.bars(start - dt.timedelta(days=20), end, columns=["close"])
    return (bars.with_columns((1 - pl.col("close") / pl.col("close").shift(5).over("symbol")).alias("score"))
            .drop_nulls("score").filter(pl.col("date").is_between(start, end)).select("date", "symbol", "score"))


def check(p: Problem, w: np.ndarray, lim: Limits, relaxed: tuple[str, ...]) -> None:
    """Every constraint the solution claims to hold (fully invested unless the participation
    bounds keep cash; every trade within them)."""
    full = investable(p) >= 1 - 1e-12
    assert (abs(w.sum() - 1) < TOL if full else w.sum() <= investable(p) + TOL) and (w >= -TOL).all()
    lb, ub = trade_bounds(p)
    fixed = lb >= ub - 1e-15
    np.testing.assert_allclose(w[fixed], lb[fixed], atol=1e-12)          # untradeable names held
    assert (w >= lb - TOL).all() and (w <= ub + TOL).all()
    if p.trade_cap is not None:
        assert (np.abs(w - p.w0) <= p.trade_cap + TOL).all()             # participation x ADV / NAV
    if "stock" not in relaxed:  # |w - b| <= stock_limit, where the trade bounds reach that range
        lo = np.clip(p.bench - lim.stock_limit, lb, ub)
        hi = np.clip(p.bench + lim.stock_limit, lb, ub)
        assert (w[~fixed] >= lo[~fixed] - TOL).all() and (w[~fixed] <= hi[~fixed] + TOL).all()
    if "te" not in relaxed:
        assert active_risk(p, w) <= lim.te + 1e-4
    if "turnover" not in relaxed:
        cap = lim.turnover if p.turnover is None else p.turnover
        assert np.abs(w - p.w0).sum() <= cap + 1e-4
    y = p.exposures.T @ (w - p.bench)
    if "exposure" not in relaxed:
        scale = 2.0 if "exposure_x2" in relaxed else 1.0
        assert (np.abs(y[1:1 + p.n_ind]) <= lim.industry_limit * scale + 1e-4).all()
        assert (np.abs(y[1 + p.n_ind:]) <= lim.style_limit * scale + 1e-4).all()
    if "members" not in relaxed:
        assert w[p.member].sum() >= lim.member_floor - 1e-4
