"""Risk-model kernels against slow, obvious references: the constrained WLS per date (a KKT
system in plain numpy), the truncated-EW descriptors (explicit weighted sums), standardisation,
the EWMA + Newey-West covariances and the specific-risk shrinkage; the eigenfactor adjustment
against a hand-computed rotation and the known direction of the simulated bias."""
from __future__ import annotations

import numpy as np
import pytest

from flyer.risk import covariance as cv
from flyer.risk import descriptors as ds
from flyer.risk import exposures as ex
from flyer.risk.regression import factor_returns_nb


def random_cross_sections(seed: int, t: int = 7, n: int = 90, n_ind: int = 5, s: int = 3):
    rng = np.random.default_rng(seed)
    ind = rng.integers(0, n_ind, (t, n))
    ind[:, :3] = -1                                   # unknown industry
    ind[2][ind[2] == 4] = 3                           # industry 4 absent on day 3 (exposures of day 2)
    x = rng.normal(size=(t, n, s))
    x[:, 5:8, 1] = np.nan                             # missing style values count 0
    cap = np.exp(rng.normal(22, 1, (t, n)))
    ret = rng.normal(0, 0.02, (t, n)) + 0.01 * x[..., 0].clip(-3, 3)
    ret[:, 10:12] = np.nan
    estu = rng.random((t, n)) > 0.1
    style_on = np.ones((t, s), dtype=bool)
    style_on[4, 2] = False
    return ret, ind, x, cap, estu, style_on, n_ind


def kkt_reference(ret, ind, x, cap, estu, style_on, n_ind, i):
    """Day i by a dense KKT system: [D'WD c; c' 0] [f; mu] = [D'Wr; 0] over the present factors."""
    s = x.shape[2]
    xi = np.where(np.isnan(x[i - 1]) | ~style_on[i][None, :], 0.0, x[i - 1])
    use = estu[i] & np.isfinite(ret[i]) & (cap[i - 1] > 0)
    present_ind = sorted({int(k) for k in ind[i - 1][use] if k >= 0})
    cols = ["c"] + [f"i{k}" for k in present_ind] + [f"s{q}" for q in range(s) if style_on[i, q]]
    d = np.zeros((use.sum(), len(cols)))
    d[:, 0] = 1
    rows = np.flatnonzero(use)
    for r, j in enumerate(rows):
        if ind[i - 1, j] >= 0:
            d[r, cols.index(f"i{ind[i - 1, j]}")] = 1
        for q in range(s):
            if style_on[i, q]:
                d[r, cols.index(f"s{q}")] = xi[j, q]
    w = np.sqrt(cap[i - 1][rows])
    c = np.zeros(len(cols))
    for k in present_ind:
        c[cols.index(f"i{k}")] = cap[i - 1][rows][ind[i - 1][rows] == k].sum()
    a = np.block([[d.T @ (w[:, None] * d), c[:, None]], [c[None, :], np.zeros((1, 1))]])
    b = np.concatenate([d.T @ (w * ret[i][rows]), [0.0]])
    sol = np.linalg.solve(a, b)[:-1]
    f = np.full(1 + n_ind + s, np.nan)
    f[0] = sol[0]
    for k in present_ind:
        f[1 + k] = sol[cols.index(f"i{k}")]
    for q in range(s):
        if style_on[i, q]:
            f[1 + n_ind + q] = sol[cols.index(f"s{q}")]
    return f, xi


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_factor_returns_match_the_kkt_reference(seed: int) -> None:
    ret, ind, x, cap, estu, style_on, n_ind = random_cross_sections(seed)
    f, resid, r2, r2c, nobs = factor_returns_nb(ret, ind, x, cap, estu, style_on, n_ind)
    assert np.isnan(f[0]).all()
    for i in range(1, ret.shape[0]):
        ref, xi = kkt_reference(ret, ind, x, cap, estu, style_on, n_ind, i)
        np.testing.assert_allclose(f[i], ref, rtol=1e-9, atol=1e-12, equal_nan=True)
        # the identity the attribution relies on: r = country + industry + style + u, every stock with a return
        fz = np.nan_to_num(f[i])
        ind_part = np.where(ind[i - 1] >= 0, fz[1 + np.maximum(ind[i - 1], 0)], 0.0)
        fit = fz[0] + ind_part + xi @ fz[1 + n_ind:]
        ok = np.isfinite(ret[i])
        np.testing.assert_allclose(resid[i][ok], ret[i][ok] - fit[ok], atol=1e-14)
        assert np.isnan(resid[i][~ok]).all()
    assert np.isnan(f[3, 1 + 4])                          # absent industry: no return
    assert np.isnan(f[4, 1 + n_ind + 2])                  # style switched off that day
    caps = np.array([cap[2][estu[3] & np.isfinite(ret[3]) & (ind[2] == k)].sum() for k in range(n_ind)])
    assert abs(np.nansum(f[3, 1:1 + n_ind] * caps)) / caps.sum() < 1e-15  # the industry constraint


def _ew_reference(y, x, valid, i, window, lam):
    """Explicit weighted regression of y on x over the last ``window`` rows ending at i."""
    ks = [k for k in range(max(0, i - window + 1), i + 1) if valid[k]]
    wt = np.array([lam ** (i - k) for k in ks])
    xx, yy = x[ks], y[ks]
    mx, my = np.average(xx, weights=wt), np.average(yy, weights=wt)
    vx = np.average((xx - mx) ** 2, weights=wt)
    beta = np.average((xx - mx) * (yy - my), weights=wt) / vx
    res = yy - my - beta * (xx - mx)
    return beta, np.sqrt(np.average(res ** 2, weights=wt)), len(ks)


def test_beta_and_hsigma_match_explicit_weighted_regressions() -> None:
    rng = np.random.default_rng(3)
    t, n, window, lam = 200, 4, 60, ds.decay(15)
    mkt = rng.normal(0, 0.01, t)
    ret = 1.2 * mkt[:, None] + rng.normal(0, 0.01, (t, n))
    valid = rng.random((t, n)) > 0.15
    beta, hsig = ds.beta_hsigma_nb(ret, mkt, valid, window, lam, 20)
    for i in (30, 59, 60, 131, 199):
        for j in range(n):
            b, h, cnt = _ew_reference(ret[:, j], mkt, valid[:, j], i, window, lam)
            if cnt >= 20:
                assert beta[i, j] == pytest.approx(b, rel=1e-9)
                assert hsig[i, j] == pytest.approx(h, rel=1e-7)
            else:
                assert np.isnan(beta[i, j])


def test_ew_mean_std_cmra_and_sums_match_explicit_windows() -> None:
    rng = np.random.default_rng(4)
    t, n = 300, 3
    x = rng.normal(0, 0.02, (t, n))
    valid = rng.random((t, n)) > 0.1
    lam, window, lag = ds.decay(40), 100, 21
    mean = ds.ew_mean_nb(x, valid, window, lam, lag, 10)
    std = ds.ew_std_nb(x, valid, window, lam, 10)
    sums = ds.rolling_sum_nb(x, valid, 50, 5)
    cmra = ds.cmra_nb(x, valid, 3, 10)
    full = sum(lam ** k for k in range(window))
    for i in (40, 130, 250, 299):
        for j in range(n):
            ks = [k for k in range(i - lag - window + 1, i - lag + 1) if k >= 0 and valid[k, j]]
            assert mean[i, j] == pytest.approx(sum(lam ** (i - lag - k) * x[k, j] for k in ks) / full, rel=1e-9)
            ks = [k for k in range(i - window + 1, i + 1) if k >= 0 and valid[k, j]]
            wt = np.array([lam ** (i - k) for k in ks])
            m = np.average(x[ks, j], weights=wt)
            assert std[i, j] == pytest.approx(np.sqrt(np.average((x[ks, j] - m) ** 2, weights=wt)), rel=1e-7)
            assert sums[i, j] == pytest.approx(sum(x[k, j] for k in range(max(0, i - 49), i + 1) if valid[k, j]), abs=1e-12)
            if i >= 62:
                z = [sum(x[k, j] for k in range(i - 21 * mth + 1, i + 1) if valid[k, j]) for mth in (1, 2, 3)]
                assert cmra[i, j] == pytest.approx(max(z) - min(z), abs=1e-12)
    assert np.isnan(cmra[61, 0]) and np.isfinite(cmra[62, 0])  # 63 days of history needed


def test_standardize_has_cap_weighted_mean_zero_and_unit_sd() -> None:
    rng = np.random.default_rng(5)
    x = rng.uniform(-1, 1, size=(3, 400))                    # no value beyond 3 sd ...
    x[0, :5] = 40.0                                           # outliers on day 0
    x[1, 7] = np.nan
    cap = np.exp(rng.normal(size=(3, 400)))
    estu = rng.random((3, 400)) > 0.2
    z = ex.standardize_nb(x, cap, estu, 3.0)
    assert np.nanmax(np.abs(z)) <= 3.0
    for i in (1, 2):                                         # no clipping: exact moments
        m = estu[i] & np.isfinite(z[i])
        assert np.average(z[i][m], weights=cap[i][m]) == pytest.approx(0.0, abs=1e-12)
        assert np.std(z[i][m], ddof=1) == pytest.approx(1.0, rel=1e-12)
    assert np.isnan(z[1, 7])


def test_fill_missing_predicts_from_industry_and_size() -> None:
    rng = np.random.default_rng(6)
    n = 300
    ind = rng.integers(0, 4, (1, n))
    size = rng.normal(size=(1, n))
    truth = np.array([0.5, -0.2, 0.1, 0.8])[ind] + 0.3 * size
    x = truth.copy()
    x[0, :40] = np.nan
    out = ex.fill_missing_nb(x, ind, 4, size, np.ones((1, n)), np.ones((1, n), dtype=bool))
    np.testing.assert_allclose(out, truth, atol=1e-10)       # an exact linear relation is recovered


def _nw_reference(f, i, lam, lags):
    k = f.shape[1]
    c = np.zeros((k, k))
    for lag in range(lags + 1):
        s = np.zeros((k, k))
        w = np.zeros((k, k))
        for t in range(lag, i + 1):
            pa, pb = np.isfinite(f[t]), np.isfinite(f[t - lag])
            s += lam ** (i - t) * np.outer(np.nan_to_num(f[t]), np.nan_to_num(f[t - lag]))
            w += lam ** (i - t) * np.outer(pa, pb)
        cl = np.divide(s, w, out=np.zeros_like(s), where=w > 0)
        c += cl if lag == 0 else (1 - lag / (lags + 1)) * (cl + cl.T)
    return c


def test_factor_covariance_matches_explicit_ewma_newey_west() -> None:
    rng = np.random.default_rng(7)
    t, k = 150, 4
    f = rng.normal(0, 0.01, (t, k)) @ np.array([[1, .3, 0, 0], [0, 1, .2, 0], [0, 0, 1, 0], [0, 0, 0, 1.]])
    f[:30, 3] = np.nan                                       # a factor that starts later
    lv, lc = ds.decay(20), ds.decay(60)
    cov = cv.factor_cov_nb(f, lv, lc, 2, 10, np.array([0, 1, 1, 1]), 10)
    for i in (80, 149):
        a, b = _nw_reference(f, i, lv, 2), _nw_reference(f, i, lc, 2)
        dv = np.sqrt(np.diag(a))
        corr = b / np.sqrt(np.outer(np.diag(b), np.diag(b)))
        ref = corr * np.outer(dv, dv)
        vals, vecs = np.linalg.eigh(ref)
        ref = (vecs * np.maximum(vals, vals.max() * 1e-12)) @ vecs.T
        np.testing.assert_allclose(cov[i], ref, rtol=1e-8, atol=1e-14)
    late = cv.factor_cov_nb(f, lv, lc, 2, 10, np.array([0, 1, 1, 1]), 60)     # the late factor's pairs need 60 days
    assert np.all(late[80, 3, :3] == 0) and np.all(late[80, :3, 3] == 0) and late[80, 3, 3] == pytest.approx(cov[80, 3, 3])
    np.testing.assert_allclose(late[80, :3, :3], cov[80, :3, :3], rtol=1e-12)
    np.testing.assert_allclose(late[149], cov[149], rtol=1e-12)


def test_specific_variance_and_shrinkage() -> None:
    rng = np.random.default_rng(8)
    t, n = 120, 30
    u = rng.normal(0, 1, (t, n)) * rng.uniform(0.01, 0.03, n)
    u[:100, 0] = np.nan                                        # a stock with a short history
    lam = ds.decay(30)
    var, nobs = cv.specific_var_nb(u, lam, 1)
    i, j = 119, 5
    ref = _nw_reference(u[:, [j]], i, lam, 1)[0, 0]
    plain = _nw_reference(u[:, [j]], i, lam, 0)[0, 0]
    assert var[i, j] == pytest.approx(max(ref, 0.5 * plain), rel=1e-9)
    assert nobs[i, 0] == 20
    cap = np.tile(np.exp(rng.normal(size=n)), (t, 1))
    shrunk = cv.shrink_specific_nb(var, nobs, cap, 0.1, 21)
    order = np.argsort(cap[i])
    deciles = [order[(d * n) // 10:((d + 1) * n) // 10] for d in range(10)]
    grp = next(g for g in deciles if 0 in g)
    mature = [g for g in grp if nobs[i, g] >= 21]
    mean = np.average(np.sqrt(var[i, mature]), weights=cap[i, mature])
    assert shrunk[i, 0] == pytest.approx(mean ** 2)            # too few residuals: the decile mean
    grp = next(g for g in deciles if j in g)
    mature = [g for g in grp if nobs[i, g] >= 21]
    sig = np.sqrt(var[i, mature])
    mean = np.average(sig, weights=cap[i, mature])
    disp = np.sqrt(np.mean((sig - mean) ** 2))
    s = np.sqrt(var[i, j])
    v = 0.1 * abs(s - mean) / (disp + 0.1 * abs(s - mean))
    assert shrunk[i, j] == pytest.approx((v * mean + (1 - v) * s) ** 2, rel=1e-12)


def test_eigen_scale_matches_a_hand_computed_rotation() -> None:
    """F = U diag(1, 4) U' with U a 30-degree rotation; biases (1.5, 0.9) at a = 1.2 give
    gamma = (1.6, 0.88): F~ = U diag(1.6^2 x 1, 0.88^2 x 4) U' = U diag(2.56, 3.0976) U'."""
    c, s = np.cos(np.pi / 6), np.sin(np.pi / 6)
    u = np.array([[c, -s], [s, c]])
    f = u @ np.diag([1.0, 4.0]) @ u.T
    got = cv.eigen_scale_nb(f, np.array([1.5, 0.9]), 1.2)
    want = np.array([[2.56 * c * c + 3.0976 * s * s, (2.56 - 3.0976) * c * s],
                     [(2.56 - 3.0976) * c * s, 2.56 * s * s + 3.0976 * c * c]])
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(cv.eigen_scale_nb(f, np.ones(2), 1.2), f, rtol=1e-12)   # no bias, no change


def test_simulated_eigenvalue_bias_is_above_one_for_the_smallest_and_fades_with_history() -> None:
    """Few observations per factor: the smallest eigenvalues are under-estimated (v > 1), the
    largest over-estimated (v < 1); with long histories v -> 1. Deterministic by seed."""
    vals = np.linspace(1.0, 10.0, 10)
    short = cv.eigen_bias_nb(vals, 30, 1.0, 200, 7)
    assert short[0] > 1.3 and short[-1] < 0.9 and np.all(np.diff(short) < 0.05)
    np.testing.assert_array_equal(short, cv.eigen_bias_nb(vals, 30, 1.0, 200, 7))
    long = cv.eigen_bias_nb(vals, 5000, 1.0, 50, 7)
    np.testing.assert_allclose(long, 1.0, atol=0.02)
    ewma = cv.eigen_bias_nb(vals, 360, 0.5 ** (1 / 90), 100, 7)       # fewer effective days: more bias
    mid = cv.eigen_bias_nb(vals, 360, 1.0, 100, 7)
    assert ewma[0] > mid[0] > 1.0


def test_eigen_adjust_refreshes_the_bias_on_schedule() -> None:
    """The bias is simulated on the first row with a forecast and every ``every`` rows after;
    rows without a forecast are left alone; each row's own eigenvectors are rescaled."""
    rng = np.random.default_rng(3)
    a = rng.normal(size=(4, 4))
    base = a @ a.T + 0.1 * np.eye(4)
    cov = np.stack([np.zeros((4, 4))] * 2 + [base + np.diag([0.5 * i, 0.0, 0.0, 0.0]) for i in range(7)])
    out, used = cv.eigen_adjust_nb(cov, 3, 20, 1.0, 50, 1.2, 11)
    np.testing.assert_array_equal(out[:2], 0.0)
    np.testing.assert_array_equal(used[:2], 1.0)
    for i in range(2, 9):
        refresh = 2 + 3 * ((i - 2) // 3)
        np.testing.assert_array_equal(used[i], used[refresh])
        np.testing.assert_allclose(out[i], cv.eigen_scale_nb(cov[i], used[i], 1.2), rtol=1e-12)
    assert not np.array_equal(used[2], used[5])      # each refresh simulates from its own row
