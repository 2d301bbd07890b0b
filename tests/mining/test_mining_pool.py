"""The pool's weight refit and combined IC against a slow numpy reference, and the exact report figures."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from flyer.factors.mining import MiningData, PoolStats, Scorer, fit_weights, pool_figures
from flyer.factors.mining.pool import max_corr, trial
from flyer.factors.parser import parse

FORMULAS = ("0 - ($close / Ref($close, 5) - 1)", "Std($close, 20) / $close", "Corr($close, $volume, 10)",
            "Mean($turnover, 5)")


def _slow_z(x: np.ndarray, seg: np.ndarray, rank: bool = True) -> np.ndarray:
    """Per date: (ranks of) the finite values standardised (population sd), missing -> 0."""
    z = np.zeros(x.size)
    for a, b in zip(seg[:-1], seg[1:]):
        v = x[a:b].copy()
        ok = np.isfinite(v)
        if ok.sum() < 2:
            continue
        w = pl.Series(v[ok]).rank("average").to_numpy() if rank else v[ok]
        if w.std() > 0:
            z[a:b][ok] = (w - w.mean()) / w.std()
    return z


def _reference(data: MiningData, formulas: tuple[str, ...], ridge: float, period: int = 0):
    """Stacked weighted least squares over the period's cells (every date weighing the same)."""
    sc = Scorer(data)
    idx = data.period_dates(period)
    seg = data.segments
    y = _slow_z(data.label, seg)
    Z = np.stack([_slow_z(sc.values(parse(f)), seg) for f in formulas], axis=1)   # (C, k)
    rows, wts = [], []
    for d in idx:
        a, b = seg[d], seg[d + 1]
        rows.append(np.arange(a, b))
        wts.append(np.full(b - a, 1.0 / ((b - a) * idx.size)))
    r, w = np.concatenate(rows), np.sqrt(np.concatenate(wts))
    A = np.vstack([Z[r] * w[:, None], np.sqrt(ridge) * np.eye(len(formulas))])
    rhs = np.concatenate([y[r] * w, np.zeros(len(formulas))])
    return np.linalg.lstsq(A, rhs, rcond=None)[0], Z, y, r, w


def _pool(sc: Scorer, formulas: tuple[str, ...]) -> PoolStats:
    """The pool as the search builds it: each member evaluated against the ones before it."""
    stats = PoolStats()
    for f in formulas:
        res = sc.evaluate([f], stats.keys)[0]
        assert res.ok, res.error
        stats = stats.with_member(f, res.train, res.valid)
    return stats


@pytest.mark.parametrize("ridge", [0.0, 1e-3, 0.05])
def test_weights_refit_matches_a_slow_least_squares_reference(mining_data: MiningData, ridge: float) -> None:
    sc = Scorer(mining_data)
    stats = _pool(sc, FORMULAS)
    w = stats.weights(ridge)
    want, Z, y, r, rw = _reference(mining_data, FORMULAS, ridge)
    np.testing.assert_allclose(w, want, rtol=2e-4, atol=1e-6)
    # the closed-form combined IC is the pooled correlation of c = Z w with the target
    c = Z @ w
    pooled = float((rw**2 * c[r] * y[r]).sum() / np.sqrt((rw**2 * c[r] ** 2).sum()))
    assert stats.ic(w, 0) == pytest.approx(pooled, rel=1e-5)
    assert np.allclose(stats.S[0], stats.S[0].T) and np.all(np.diag(stats.corr()) == pytest.approx(1.0))
    assert fit_weights(stats.g[0], stats.S[0], ridge) == pytest.approx(w)


def test_a_full_pool_drops_its_smallest_weight_and_refits(mining_data: MiningData) -> None:
    sc = Scorer(mining_data)
    stats = _pool(sc, FORMULAS[:3])
    res = sc.evaluate([FORMULAS[3]], stats.keys)[0]
    full = stats.with_member(FORMULAS[3], res.train, res.valid)
    weakest = FORMULAS[int(np.argmin(np.abs(full.weights())))]
    t = trial(stats, res, max_size=3)
    assert t.dropped == weakest and len(t.stats) == 3 and weakest not in t.stats.keys
    kept = tuple(k for k in FORMULAS if k != weakest)
    want = _reference(mining_data, kept, 1e-3)[0]
    np.testing.assert_allclose(t.weights, want, rtol=2e-4, atol=1e-6)
    assert t.train_ic == pytest.approx(t.stats.ic(t.weights, 0))
    with pytest.raises(ValueError):
        trial(PoolStats(), res, 3)                      # stats against another pool
    again = PoolStats.from_json(t.stats.to_json())
    assert again.keys == t.stats.keys and np.array_equal(again.S, t.stats.S)
    assert 0 < max_corr(res, stats) < 1


def test_report_figures_match_a_direct_computation(mining_data: MiningData) -> None:
    sc = Scorer(mining_data)
    w = tuple(_pool(sc, FORMULAS).weights())
    figs = pool_figures(sc, "t", ("a", "b", "c", "d"), FORMULAS, w)
    seg = mining_data.segments
    c = sum(wj * _slow_z(sc.values(parse(f)), seg) for wj, f in zip(w, FORMULAS))
    for p, name in enumerate(("train", "valid", "test")):
        ics, rics = [], []
        for d in mining_data.period_dates(p):
            a, b = seg[d], seg[d + 1]
            if np.std(c[a:b]) == 0:         # no member has a value yet (warm-up): no IC that day
                continue
            ics.append(np.corrcoef(c[a:b], mining_data.label[a:b])[0, 1])
            rc, ry = (pl.Series(v).rank("average").to_numpy() for v in (c[a:b], mining_data.label[a:b]))
            rics.append(np.corrcoef(rc, ry)[0, 1])
        f = figs.periods[p]
        assert f.label == name and f.days == len(ics)
        assert f.ic == pytest.approx(np.mean(ics), abs=1e-9) and f.rank_ic == pytest.approx(np.mean(rics), abs=1e-9)
        assert f.icir == pytest.approx(np.mean(ics) / np.std(ics, ddof=1), rel=1e-6)
    assert sum(y.days for y in figs.years) == sum(p.days for p in figs.periods)
    assert figs.corr.shape == (4, 4) and np.allclose(np.diag(figs.corr), 1.0)
    assert [m[0].label for m in figs.members] == ["train"] * 4
