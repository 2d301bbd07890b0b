"""Style exposures from raw descriptors: cross-sectional kernels run over every date at once.

Per date (row i), over the estimation universe ``estu[i]`` (CNE5 conventions):
  1. ``standardize_nb``: cap-weighted mean 0, equal-weighted standard deviation 1, clipped at
     +-``winsor`` standard deviations, then standardised again; stocks outside the estimation
     universe get the same transform;
  2. ``combine_nb``: a weighted mix of standardised descriptors (weights renormalised over the
     descriptors a stock has);
  3. ``orthogonalize_nb``: the residual of a weighted regression (intercept + regressors) over
     the estimation universe (non-linear size on size, residual volatility on beta and size,
     liquidity on size);
  4. ``fill_missing_nb``: a stock that lacks the descriptor gets the value a weighted
     regression on industry dummies and size predicts (so a style known for part of the
     universe, such as value on the real data, still gives every stock an exposure).
Weights: ``capw`` = market cap (means), ``regw`` = sqrt(cap) (regressions). Shapes (T, N);
NaN = missing.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _moments(x: np.ndarray, capw: np.ndarray, estu: np.ndarray) -> tuple[float, float]:
    sw = swx = 0.0
    cnt = 0
    for j in range(x.shape[0]):
        if estu[j] and not np.isnan(x[j]) and capw[j] > 0:
            sw += capw[j]
            swx += capw[j] * x[j]
            cnt += 1
    if cnt < 2:
        return np.nan, np.nan
    mu = swx / sw
    s1 = 0.0
    for j in range(x.shape[0]):
        if estu[j] and not np.isnan(x[j]) and capw[j] > 0:
            s1 += x[j]
    m = s1 / cnt
    ss = 0.0
    for j in range(x.shape[0]):
        if estu[j] and not np.isnan(x[j]) and capw[j] > 0:
            ss += (x[j] - m) ** 2
    return mu, np.sqrt(ss / (cnt - 1))


@njit(cache=True)
def standardize_row_nb(x: np.ndarray, capw: np.ndarray, estu: np.ndarray, winsor: float) -> np.ndarray:
    """One date: (x - cap-weighted mean) / equal-weighted sd over ``estu``, clipped, twice."""
    out = x.copy()
    for _ in range(2):
        mu, sd = _moments(out, capw, estu)
        if not (sd > 0):
            return np.full(x.shape[0], np.nan)
        for j in range(out.shape[0]):
            if not np.isnan(out[j]):
                out[j] = min(max((out[j] - mu) / sd, -winsor), winsor)
    return out


@njit(cache=True)
def standardize_nb(x: np.ndarray, capw: np.ndarray, estu: np.ndarray, winsor: float) -> np.ndarray:
    """:func:`standardize_row_nb` on every row of a (T, N) panel."""
    out = np.full(x.shape, np.nan)
    for i in range(x.shape[0]):
        out[i] = standardize_row_nb(x[i], capw[i], estu[i], winsor)
    return out


@njit(cache=True)
def combine_nb(parts: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """(T, N) weighted mix of ``parts`` (P, T, N), weights renormalised over the parts present."""
    p, t, n = parts.shape
    out = np.full((t, n), np.nan)
    for i in range(t):
        for j in range(n):
            s = w = 0.0
            for k in range(p):
                if not np.isnan(parts[k, i, j]):
                    s += weights[k] * parts[k, i, j]
                    w += weights[k]
            if w > 0:
                out[i, j] = s / w
    return out


@njit(cache=True)
def wls_nb(y: np.ndarray, z: np.ndarray, w: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Coefficients (P,) of the weighted least squares of y (N,) on z (N, P) over ``mask`` rows
    with finite values (minimum-norm solution when the design is rank deficient)."""
    p = z.shape[1]
    a = np.zeros((p, p))
    b = np.zeros(p)
    for j in range(y.shape[0]):
        if not mask[j] or np.isnan(y[j]) or not (w[j] > 0):
            continue
        ok = True
        for k in range(p):
            if np.isnan(z[j, k]):
                ok = False
        if not ok:
            continue
        for k in range(p):
            b[k] += w[j] * z[j, k] * y[j]
            for m in range(p):
                a[k, m] += w[j] * z[j, k] * z[j, m]
    return np.linalg.lstsq(a, b, rcond=1e-12)[0]


@njit(cache=True)
def orthogonalize_nb(y: np.ndarray, regs: np.ndarray, regw: np.ndarray, estu: np.ndarray) -> np.ndarray:
    """(T, N) residual of y on [1, regs] (regs (R, T, N)) fitted per date over ``estu``."""
    r, t, n = regs.shape
    out = np.full((t, n), np.nan)
    for i in range(t):
        z = np.ones((n, r + 1))
        for k in range(r):
            z[:, k + 1] = regs[k, i]
        coef = wls_nb(y[i], z, regw[i], estu[i])
        for j in range(n):
            if np.isnan(y[i, j]):
                continue
            fit = 0.0
            for k in range(r + 1):
                fit += coef[k] * z[j, k]
            out[i, j] = y[i, j] - fit
    return out


@njit(cache=True)
def fill_missing_nb(x: np.ndarray, ind: np.ndarray, n_ind: int, size: np.ndarray, regw: np.ndarray,
                    estu: np.ndarray) -> np.ndarray:
    """(T, N) ``x`` with missing entries (where ``size`` is known) set to the prediction of a
    per-date weighted regression of x on industry dummies and size over ``estu``; a stock with
    an unknown industry gets the mean industry coefficient. Rows with no observed x stay NaN."""
    t, n = x.shape
    out = x.copy()
    for i in range(t):
        z = np.zeros((n, n_ind + 1))
        have = 0
        for j in range(n):
            if ind[i, j] >= 0:
                z[j, ind[i, j]] = 1.0
            z[j, n_ind] = size[i, j]
            if estu[i, j] and not np.isnan(x[i, j]):
                have += 1
        if have < 2:
            continue
        coef = wls_nb(x[i], z, regw[i], estu[i] & (ind[i] >= 0))
        used = np.zeros(n_ind, dtype=np.bool_)
        for j in range(n):
            if estu[i, j] and not np.isnan(x[i, j]) and ind[i, j] >= 0:
                used[ind[i, j]] = True
        mean_ind = 0.0
        n_used = 0
        for k in range(n_ind):
            if used[k]:
                mean_ind += coef[k]
                n_used += 1
        mean_ind = mean_ind / n_used if n_used else 0.0
        for j in range(n):
            if np.isnan(x[i, j]) and not np.isnan(size[i, j]):
                k = ind[i, j]
                base = coef[k] if k >= 0 and used[k] else mean_ind
                out[i, j] = base + coef[n_ind] * size[i, j]
    return out


@njit(cache=True)
def coverage_nb(x: np.ndarray, estu: np.ndarray) -> np.ndarray:
    """(T,) share of the estimation universe with a finite ``x``."""
    t, n = x.shape
    out = np.zeros(t)
    for i in range(t):
        tot = have = 0
        for j in range(n):
            if estu[i, j]:
                tot += 1
                if not np.isnan(x[i, j]):
                    have += 1
        out[i] = have / tot if tot else 0.0
    return out
