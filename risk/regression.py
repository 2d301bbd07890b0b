"""Daily cross-sectional regression of stock returns on factor exposures (pure numba kernel).

For each day i >= 1 (returns of day i on exposures known at the close of day i-1):

    r_ij = f_country + f_{ind(j)} + sum_s X_ijs f_s + u_ij

weighted least squares over the estimation universe with regression weights sqrt(cap), under
the constraint ``sum_k w_k f_k = 0`` (w_k: the industry's share of the universe's cap), which
makes country + industries identified. The constraint is applied by substitution: the largest
present industry's return is the negative cap-weighted sum of the others, i.e. ``f = R theta``
and ``theta`` solves the reduced normal equations ``R' X'WX R theta = R' X'W r``.

Factor columns: 0 = country, 1..n_ind = industries, then the styles. A factor without exposure
that day (an industry with no stock in the regression, a style switched off) has return NaN.
Residuals are computed for every stock with a return (missing exposures count 0, an unknown
industry contributes nothing), so ``r = f_country + industry + style + u`` holds exactly for
every stock - the identity the attribution relies on.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _normal_equations(ret: np.ndarray, ind: np.ndarray, x: np.ndarray, w: np.ndarray, use: np.ndarray,
                      n_ind: int) -> tuple[np.ndarray, np.ndarray]:
    """(X'WX (K, K), X'Wr (K,)) of one day over the ``use`` rows, built from the sparse rows."""
    n, s = x.shape
    k = 1 + n_ind + s
    a = np.zeros((k, k))
    b = np.zeros(k)
    cols = np.empty(2 + s, dtype=np.int64)
    vals = np.empty(2 + s)
    for j in range(n):
        if not use[j]:
            continue
        m = 0
        cols[m], vals[m] = 0, 1.0
        m += 1
        if ind[j] >= 0:
            cols[m], vals[m] = 1 + ind[j], 1.0
            m += 1
        for q in range(s):
            cols[m], vals[m] = 1 + n_ind + q, x[j, q]
            m += 1
        for p in range(m):
            b[cols[p]] += w[j] * vals[p] * ret[j]
            for r in range(m):
                a[cols[p], cols[r]] += w[j] * vals[p] * vals[r]
    return a, b


@njit(cache=True)
def _constraint_map(ind_cap: np.ndarray, style_on: np.ndarray, n_ind: int) -> tuple[np.ndarray, np.ndarray]:
    """(R (K, P), present (K,) bool): f = R theta for the present factors under the constraint."""
    s = style_on.shape[0]
    k = 1 + n_ind + s
    present = np.zeros(k, dtype=np.bool_)
    present[0] = True
    anchor, best = -1, -1.0
    for q in range(n_ind):
        if ind_cap[q] > 0:
            present[1 + q] = True
            if ind_cap[q] > best:
                anchor, best = q, ind_cap[q]
    for q in range(s):
        present[1 + n_ind + q] = style_on[q]
    p = 0
    col = np.full(k, -1, dtype=np.int64)
    for c in range(k):
        if present[c] and c != 1 + anchor:
            col[c] = p
            p += 1
    r = np.zeros((k, p))
    for c in range(k):
        if col[c] >= 0:
            r[c, col[c]] = 1.0
    if anchor >= 0:
        for q in range(n_ind):
            if present[1 + q] and q != anchor:
                r[1 + anchor, col[1 + q]] = -ind_cap[q] / best
    return r, present


@njit(cache=True)
def factor_returns_nb(ret: np.ndarray, ind: np.ndarray, x: np.ndarray, cap: np.ndarray, estu: np.ndarray,
                      style_on: np.ndarray, n_ind: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Daily constrained WLS (see module docstring).

    ``ret`` (T, N) returns of day i; ``ind`` (T, N) industry index at the close (-1 unknown);
    ``x`` (T, N, S) style exposures at the close (NaN = 0); ``cap`` (T, N) CNY at the close;
    ``estu`` (T, N) bool, stock j's return of day i enters day i's regression; ``style_on``
    (T, S) bool, style estimable from day i-1's exposures. Row i uses exposures of row i-1.
    Returns (f (T, K), resid (T, N), r2 (T,) uncentred, r2c (T,) centred, nobs (T,)); row 0 NaN.
    """
    t, n, s = x.shape
    k = 1 + n_ind + s
    f = np.full((t, k), np.nan)
    resid = np.full((t, n), np.nan)
    r2 = np.full(t, np.nan)
    r2c = np.full(t, np.nan)
    nobs = np.zeros(t, dtype=np.int64)
    for i in range(1, t):
        xi = x[i - 1].copy()
        for j in range(n):
            for q in range(s):
                if np.isnan(xi[j, q]) or not style_on[i, q]:
                    xi[j, q] = 0.0
        w = np.sqrt(np.maximum(np.nan_to_num(cap[i - 1]), 0.0))
        use = estu[i] & (w > 0)
        for j in range(n):
            if np.isnan(ret[i, j]):
                use[j] = False
        m = int(use.sum())
        nobs[i] = m
        if m <= k:
            continue
        ind_cap = np.zeros(n_ind)
        for j in range(n):
            if use[j] and ind[i - 1, j] >= 0:
                ind_cap[ind[i - 1, j]] += cap[i - 1, j]
        a, b = _normal_equations(ret[i], ind[i - 1], xi, w, use, n_ind)
        rm, present = _constraint_map(ind_cap, style_on[i], n_ind)
        theta = np.linalg.lstsq(rm.T @ a @ rm, rm.T @ b, rcond=1e-12)[0]
        fi = rm @ theta
        for c in range(k):
            f[i, c] = fi[c] if present[c] else np.nan
        ssr = sst = ssw = sw = swr = 0.0
        for j in range(n):
            if np.isnan(ret[i, j]):
                continue
            fit = fi[0]
            if ind[i - 1, j] >= 0:
                fit += fi[1 + ind[i - 1, j]]
            for q in range(s):
                fit += xi[j, q] * fi[1 + n_ind + q]
            resid[i, j] = ret[i, j] - fit
            if use[j]:
                ssr += w[j] * resid[i, j] ** 2
                sst += w[j] * ret[i, j] ** 2
                sw += w[j]
                swr += w[j] * ret[i, j]
        mean = swr / sw
        for j in range(n):
            if use[j]:
                ssw += w[j] * (ret[i, j] - mean) ** 2
        r2[i] = 1.0 - ssr / sst if sst > 0 else np.nan
        r2c[i] = 1.0 - ssr / ssw if ssw > 0 else np.nan
    return f, resid, r2, r2c, nobs
