"""Factor covariance and specific risk forecasts (pure numba kernels), daily units.

Row i of every output is the forecast made at the close of day i for day i+1, from data up to
and including day i (no look-ahead).

* ``factor_cov_nb``: exponentially weighted second moments of the factor returns (zero mean,
  the usual convention for daily returns) with a Newey-West correction over ``lags`` days,
  ``C = C0 + sum_l (1 - l/(L+1)) (C_l + C_l')``; volatilities from the short half-life,
  correlations from the long one (``cov = D R D``). Pairs are estimated over the days both
  factors exist (industries come and go with classification versions). A factor with fewer
  than ``min_obs`` returns takes the median variance of its group (country, industries or
  styles) and zero correlations (while no factor of the group has that many, the raw estimates
  stand: the first weeks of a model are a warm-up); a pair's correlation needs ``corr_min_obs``
  days with both factors (zero before). The result is made positive semi-definite by clipping
  eigenvalues at ``1e-12`` of the largest.
* ``specific_var_nb``: per stock, the same EWMA + Newey-West of its residuals.
* ``shrink_specific_nb``: Bayesian shrinkage of each stock's specific volatility toward the
  cap-weighted mean of its size decile, ``v = q|s - m| / (D + q|s - m|)`` (D: the decile's
  dispersion); a stock with fewer than ``min_obs`` residuals takes the decile mean.
* ``eigen_adjust_nb``: the eigenfactor risk adjustment (Menchero, Wang & Orr 2011; USE4 / CNE5):
  an optimiser loads on the directions whose estimated variance is smallest, and sampling
  error makes the smallest eigenvalues too small. Each forecast F = U D U' is rescaled to
  U diag(gamma^2 D) U' with gamma_k = scale (v_k - 1) + 1 and v_k the simulated bias of the k-th
  eigenvalue (``eigen_bias_nb``: Monte Carlo histories drawn from N(0, D), re-estimated with the
  same EWMA, realised / predicted variance of each simulated eigenfactor), refreshed every
  ``every`` rows and applied to each day's own eigen-decomposition (``eigen_scale_nb``).
  Applied before the volatility-regime adjustment, as in USE4.
* ``vra_factor_nb`` / ``vra_specific_nb``: volatility-regime adjustment (USE4): both forecasts
  are scaled by an EWMA of how far the recent returns ran beyond (or within) their forecasts.
"""
from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _ew_lag_update(cur_s: np.ndarray, cur_w: np.ndarray, f: np.ndarray, i: int, lam: float) -> None:
    """Advance the running EW sums of f_i f_{i-l}' (``cur_s`` (L+1, K, K)) and of the pairs'
    presence (``cur_w``) to day i, in place."""
    lags, k = cur_s.shape[0] - 1, f.shape[1]
    cur_s *= lam
    cur_w *= lam
    for lag in range(lags + 1):
        if i - lag < 0:
            continue
        for a in range(k):
            fa = f[i, a]
            if np.isnan(fa):
                continue
            for b in range(k):
                fb = f[i - lag, b]
                if not np.isnan(fb):
                    cur_s[lag, a, b] += fa * fb
                    cur_w[lag, a, b] += 1.0


@njit(cache=True)
def _newey_west(s: np.ndarray, w: np.ndarray, lags: int) -> np.ndarray:
    """(K, K) Newey-West second-moment matrix of one day's lagged sums (0 where never observed)."""
    k = s.shape[1]
    c = np.zeros((k, k))
    for lag in range(lags + 1):
        wt = 1.0 if lag == 0 else 1.0 - lag / (lags + 1.0)
        for a in range(k):
            for b in range(k):
                if w[lag, a, b] > 0:
                    v = s[lag, a, b] / w[lag, a, b]
                    if lag == 0:
                        c[a, b] += v
                    else:
                        c[a, b] += wt * v
                        c[b, a] += wt * v
    return c


@njit(cache=True)
def _psd(c: np.ndarray) -> np.ndarray:
    vals, vecs = np.linalg.eigh(c)
    floor = max(vals.max(), 1e-300) * 1e-12
    vals = np.maximum(vals, floor)
    out = (vecs * vals) @ vecs.T
    return 0.5 * (out + out.T)


@njit(cache=True)
def factor_cov_nb(f: np.ndarray, lam_vol: float, lam_corr: float, lags: int, min_obs: int,
                  group: np.ndarray, corr_min_obs: int) -> np.ndarray:
    """(T, K, K) daily factor covariance forecasts (see module docstring). ``f`` (T, K) factor
    returns, NaN where a factor does not exist; ``group`` (K,) int group of each factor; a
    pair's correlation is estimated once both have ``min_obs`` returns and the pair
    ``corr_min_obs`` days with both (zero before: after a reclassification dozens of new
    industries would otherwise get a correlation matrix from a few weeks of returns, nearly
    singular, whose smallest eigenvalues an optimiser would take for riskless directions)."""
    t, k = f.shape
    sv, wv = np.zeros((lags + 1, k, k)), np.zeros((lags + 1, k, k))
    sc, wc = np.zeros((lags + 1, k, k)), np.zeros((lags + 1, k, k))
    out = np.zeros((t, k, k))
    count = np.zeros(k, dtype=np.int64)
    joint = np.zeros((k, k), dtype=np.int64)
    for i in range(t):
        for a in range(k):
            if not np.isnan(f[i, a]):
                count[a] += 1
                for b in range(k):
                    if not np.isnan(f[i, b]):
                        joint[a, b] += 1
        _ew_lag_update(sv, wv, f, i, lam_vol)
        _ew_lag_update(sc, wc, f, i, lam_corr)
        cv = _newey_west(sv, wv, lags)
        cc = _newey_west(sc, wc, lags)
        var = np.empty(k)
        ok = np.zeros(k, dtype=np.bool_)
        for a in range(k):
            ok[a] = count[a] >= min_obs and cv[a, a] > 0 and cc[a, a] > 0
            var[a] = cv[a, a]
        for g in range(group.max() + 1):
            vals = np.array([var[a] for a in range(k) if ok[a] and group[a] == g])
            if vals.shape[0] == 0:  # warm-up: no factor of the group has enough history yet
                continue
            med = np.median(vals)
            for a in range(k):
                if group[a] == g and not ok[a]:
                    var[a] = med
        c = np.zeros((k, k))
        for a in range(k):
            for b in range(k):
                if a == b:
                    c[a, a] = var[a]
                elif ok[a] and ok[b] and joint[a, b] >= corr_min_obs:
                    rho = cc[a, b] / np.sqrt(cc[a, a] * cc[b, b])
                    c[a, b] = max(min(rho, 1.0), -1.0) * np.sqrt(var[a] * var[b])
        out[i] = _psd(c) if var.max() > 0 else c
    return out


@njit(cache=True)
def specific_var_nb(u: np.ndarray, lam: float, lags: int) -> tuple[np.ndarray, np.ndarray]:
    """(var (T, N), nobs (T, N)): EWMA + Newey-West variance of each stock's residuals up to
    day i, and how many residuals it has seen. The Newey-West terms may not pull the variance
    below half the plain EWMA."""
    t, n = u.shape
    var = np.full((t, n), np.nan)
    nobs = np.zeros((t, n), dtype=np.int64)
    s = np.zeros(lags + 1)
    w = np.zeros(lags + 1)
    for j in range(n):
        s[:] = 0.0
        w[:] = 0.0
        cnt = 0
        for i in range(t):
            s *= lam
            w *= lam
            if not np.isnan(u[i, j]):
                cnt += 1
                for lag in range(lags + 1):
                    if i - lag >= 0 and not np.isnan(u[i - lag, j]):
                        s[lag] += u[i, j] * u[i - lag, j]
                        w[lag] += 1.0
            nobs[i, j] = cnt
            if w[0] > 0:
                v0 = s[0] / w[0]
                v = v0
                for lag in range(1, lags + 1):
                    if w[lag] > 0:
                        v += 2.0 * (1.0 - lag / (lags + 1.0)) * s[lag] / w[lag]
                var[i, j] = max(v, 0.5 * v0)
    return var, nobs


@njit(cache=True)
def shrink_specific_nb(var: np.ndarray, nobs: np.ndarray, cap: np.ndarray, q: float, min_obs: int
                       ) -> np.ndarray:
    """(T, N) shrunk specific variances (see module docstring); NaN where the cap is unknown."""
    t, n = var.shape
    out = np.full((t, n), np.nan)
    for i in range(t):
        idx = np.array([j for j in range(n) if cap[i, j] > 0])
        if idx.shape[0] == 0:
            continue
        order = idx[np.argsort(cap[i, idx])]
        m = order.shape[0]
        for d in range(10):
            grp = order[(d * m) // 10:((d + 1) * m) // 10]
            if grp.shape[0] == 0:
                continue
            sw = sws = 0.0
            have = 0
            for j in grp:
                if nobs[i, j] >= min_obs and var[i, j] > 0:
                    sw += cap[i, j]
                    sws += cap[i, j] * np.sqrt(var[i, j])
                    have += 1
            if have == 0:
                continue
            mean = sws / sw
            disp = 0.0
            for j in grp:
                if nobs[i, j] >= min_obs and var[i, j] > 0:
                    disp += (np.sqrt(var[i, j]) - mean) ** 2
            disp = np.sqrt(disp / have)
            for j in grp:
                if nobs[i, j] >= min_obs and var[i, j] > 0:
                    sig = np.sqrt(var[i, j])
                    dev = q * abs(sig - mean)
                    v = dev / (disp + dev) if disp + dev > 0 else 0.0
                    out[i, j] = (v * mean + (1.0 - v) * sig) ** 2
                else:
                    out[i, j] = mean ** 2
    return out


@njit(cache=True)
def eigen_bias_nb(vals: np.ndarray, n_obs: int, lam: float, sims: int, seed: int) -> np.ndarray:
    """(K,) simulated eigenvalue bias v_k of a covariance with eigenvalues ``vals`` (K,),
    ascending: for ``sims`` draws, an ``n_obs``-day history of eigenfactor returns from
    N(0, diag(vals)) is re-estimated with EWMA weights ``lam`` (newest weighted most, zero mean);
    its eigenvectors u_k have predicted variance d_k and true variance u_k' diag(vals) u_k;
    v_k = sqrt(mean over draws of true / predicted), k in ascending order of d_k. Working in
    the true eigenbasis is the same as in the factor basis (the estimate rotates with it).
    Deterministic: numba's generator seeded with ``seed``."""
    np.random.seed(seed)
    k = vals.shape[0]
    sd = np.sqrt(np.maximum(vals, 0.0))
    w = lam ** np.arange(n_obs - 1, -1, -1).astype(np.float64)
    w /= w.sum()
    acc = np.zeros(k)
    for _ in range(sims):
        b = np.random.standard_normal((n_obs, k)) * sd
        c = (b * w.reshape(n_obs, 1)).T @ b
        pred, vecs = np.linalg.eigh(0.5 * (c + c.T))
        for j in range(k):
            true = 0.0
            for a in range(k):
                true += vecs[a, j] * vecs[a, j] * vals[a]
            acc[j] += true / max(pred[j], 1e-300)
    return np.sqrt(acc / sims)


@njit(cache=True)
def eigen_scale_nb(cov: np.ndarray, bias: np.ndarray, scale: float) -> np.ndarray:
    """(K, K) U diag(gamma^2 D) U' for cov = U D U' (eigenvalues ascending), gamma_k =
    ``scale`` (bias_k - 1) + 1 (floored at 0)."""
    vals, vecs = np.linalg.eigh(0.5 * (cov + cov.T))
    g = np.maximum(scale * (bias - 1.0) + 1.0, 0.0)
    out = (vecs * (g * g * np.maximum(vals, 0.0))) @ vecs.T
    return 0.5 * (out + out.T)


@njit(cache=True)
def eigen_adjust_nb(cov: np.ndarray, every: int, n_obs: int, lam: float, sims: int, scale: float,
                    seed: int) -> tuple[np.ndarray, np.ndarray]:
    """((T, K, K) eigen-adjusted forecasts, (T, K) the bias v used on each row): the bias is
    simulated (``eigen_bias_nb``) on the first row with a forecast and every ``every`` rows
    after it, from that row's eigenvalues; rows without a forecast (all zero) stay as they are."""
    t, k = cov.shape[0], cov.shape[1]
    out = cov.copy()
    used = np.ones((t, k))
    bias = np.ones(k)
    last = -every
    for i in range(t):
        c = cov[i]
        if not np.max(np.diag(c)) > 0:
            continue
        if i - last >= every:
            vals = np.linalg.eigvalsh(0.5 * (c + c.T))
            bias = eigen_bias_nb(vals, n_obs, lam, sims, seed)
            last = i
        out[i] = eigen_scale_nb(c, bias, scale)
        used[i] = bias
    return out, used


@njit(cache=True)
def vra_factor_nb(f: np.ndarray, cov: np.ndarray, lam: float, warm: int) -> np.ndarray:
    """(T,) volatility-regime multipliers of the factor covariance (USE4): lambda_t^2 = EWMA of
    the cross-sectional bias B_s^2 = mean_k (f_k,s / sigma_k,s-1)^2 over days s <= t, so a
    regime where factor returns run hotter (colder) than forecast scales the forecast up (down).
    The first ``warm`` days (forecasts still forming) neither count nor get scaled."""
    t, k = f.shape
    out = np.ones(t)
    s = w = 0.0
    for i in range(warm + 1, t):
        b2 = 0.0
        m = 0
        for a in range(k):
            v = cov[i - 1, a, a]
            if not np.isnan(f[i, a]) and v > 0:
                b2 += f[i, a] ** 2 / v
                m += 1
        s *= lam
        w *= lam
        if m:
            s += b2 / m
            w += 1.0
        if w > 0:
            out[i] = s / w
    return out


@njit(cache=True)
def vra_specific_nb(u: np.ndarray, var: np.ndarray, cap: np.ndarray, estu: np.ndarray, lam: float,
                    warm: int) -> np.ndarray:
    """(T,) volatility-regime multipliers of the specific variances: EWMA of the cap-weighted
    mean of (u_n,s / sigma_n,s-1)^2 over the estimation universe, after ``warm`` days."""
    t, n = u.shape
    out = np.ones(t)
    s = w = 0.0
    for i in range(warm + 1, t):
        num = den = 0.0
        for j in range(n):
            if estu[i, j] and not np.isnan(u[i, j]) and var[i - 1, j] > 0 and cap[i - 1, j] > 0:
                num += cap[i - 1, j] * u[i, j] ** 2 / var[i - 1, j]
                den += cap[i - 1, j]
        s *= lam
        w *= lam
        if den > 0:
            s += num / den
            w += 1.0
        if w > 0:
            out[i] = s / w
    return out
