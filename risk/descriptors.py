"""Raw style descriptors: pure numba kernels over (T, N) panels (rows days, columns stocks).

Every window is *truncated exponential*: the weight of the value k days back is
``0.5 ** (k / halflife)`` for k < window and 0 beyond, kept up to date in O(1) per cell by the
recursion ``S[i] = lam * S[i-1] + x[i] - lam**window * x[i-window]``. Days a stock did not
trade (no bar, suspended) carry no weight. A descriptor is NaN until its window holds at least
``min_obs`` traded days. Returns are fractions; the descriptors (CNE5 definitions, see
``../shared/reference/risk_capacity_mining.md``):

* ``beta_hsigma_nb``: EW time-series regression of the stock's return on the market's:
  slope (BETA) and residual standard deviation (HSIGMA);
* ``ew_mean_nb``: EW mean of a series ``lag`` days back (momentum: log returns, lag 21);
* ``ew_std_nb``: EW standard deviation (DASTD);
* ``cmra_nb``: range of the cumulative log return over the last 1..M months of 21 days;
* ``rolling_sum_nb``: plain window sums (turnover for the liquidity descriptors).
"""
from __future__ import annotations

import numpy as np
from numba import njit


def decay(halflife: float) -> float:
    """Per-day weight ratio of a half-life in days (``inf`` -> 1, equal weights)."""
    return 1.0 if not np.isfinite(halflife) else 0.5 ** (1.0 / halflife)


@njit(cache=True)
def market_return_nb(ret: np.ndarray, cap: np.ndarray, estu: np.ndarray) -> np.ndarray:
    """(T,) cap-weighted mean return of the estimation universe (weights: yesterday's caps);
    NaN where no stock qualifies."""
    t, n = ret.shape
    out = np.full(t, np.nan)
    for i in range(1, t):
        sw, swr = 0.0, 0.0
        for j in range(n):
            w = cap[i - 1, j]
            if estu[i, j] and not np.isnan(ret[i, j]) and w > 0:
                sw += w
                swr += w * ret[i, j]
        if sw > 0:
            out[i] = swr / sw
    return out


@njit(cache=True)
def beta_hsigma_nb(ret: np.ndarray, mkt: np.ndarray, valid: np.ndarray, window: int, lam: float,
                   min_obs: int) -> tuple[np.ndarray, np.ndarray]:
    """(beta, hsigma), each (T, N): weighted regression of ``ret[:, j]`` on ``mkt`` with an
    intercept over the last ``window`` days (weights ``lam**k``) where ``valid``."""
    t, n = ret.shape
    beta = np.full((t, n), np.nan)
    hsig = np.full((t, n), np.nan)
    lw = lam ** window
    for j in range(n):
        s0 = sx = sy = sxx = sxy = syy = 0.0
        cnt = 0
        for i in range(t):
            s0 *= lam
            sx *= lam
            sy *= lam
            sxx *= lam
            sxy *= lam
            syy *= lam
            if valid[i, j] and not np.isnan(mkt[i]):
                x, y = mkt[i], ret[i, j]
                s0 += 1.0
                sx += x
                sy += y
                sxx += x * x
                sxy += x * y
                syy += y * y
                cnt += 1
            k = i - window
            if k >= 0 and valid[k, j] and not np.isnan(mkt[k]):
                x, y = mkt[k], ret[k, j]
                s0 -= lw
                sx -= lw * x
                sy -= lw * y
                sxx -= lw * x * x
                sxy -= lw * x * y
                syy -= lw * y * y
                cnt -= 1
            if cnt >= min_obs and s0 > 0:
                mx, my = sx / s0, sy / s0
                vx = sxx / s0 - mx * mx
                if vx > 1e-14:
                    b = (sxy / s0 - mx * my) / vx
                    vres = syy / s0 - my * my - b * b * vx
                    beta[i, j] = b
                    hsig[i, j] = np.sqrt(max(vres, 0.0))
    return beta, hsig


@njit(cache=True)
def ew_mean_nb(x: np.ndarray, valid: np.ndarray, window: int, lam: float, lag: int, min_obs: int
               ) -> np.ndarray:
    """(T, N) weighted mean of ``x`` over days ``i-lag-window+1 .. i-lag`` (weights ``lam**k``
    counted from day ``i-lag``), normalised by the weight the full window would have, so missing
    days count as 0 (momentum convention)."""
    t, n = x.shape
    out = np.full((t, n), np.nan)
    lw = lam ** window
    full = (1.0 - lw) / (1.0 - lam) if lam < 1.0 else float(window)
    for j in range(n):
        s = 0.0
        cnt = 0
        for i in range(t):
            s *= lam
            a = i - lag
            if a >= 0 and valid[a, j] and not np.isnan(x[a, j]):
                s += x[a, j]
                cnt += 1
            k = a - window
            if k >= 0 and valid[k, j] and not np.isnan(x[k, j]):
                s -= lw * x[k, j]
                cnt -= 1
            if cnt >= min_obs:
                out[i, j] = s / full
    return out


@njit(cache=True)
def ew_std_nb(x: np.ndarray, valid: np.ndarray, window: int, lam: float, min_obs: int) -> np.ndarray:
    """(T, N) weighted standard deviation of ``x`` over the last ``window`` valid days."""
    t, n = x.shape
    out = np.full((t, n), np.nan)
    lw = lam ** window
    for j in range(n):
        s0 = s1 = s2 = 0.0
        cnt = 0
        for i in range(t):
            s0 *= lam
            s1 *= lam
            s2 *= lam
            if valid[i, j] and not np.isnan(x[i, j]):
                s0 += 1.0
                s1 += x[i, j]
                s2 += x[i, j] * x[i, j]
                cnt += 1
            k = i - window
            if k >= 0 and valid[k, j] and not np.isnan(x[k, j]):
                s0 -= lw
                s1 -= lw * x[k, j]
                s2 -= lw * x[k, j] * x[k, j]
                cnt -= 1
            if cnt >= min_obs and s0 > 0:
                m = s1 / s0
                out[i, j] = np.sqrt(max(s2 / s0 - m * m, 0.0))
    return out


@njit(cache=True)
def cmra_nb(logret: np.ndarray, valid: np.ndarray, months: int, min_obs: int) -> np.ndarray:
    """(T, N) max - min over T = 1..months of the log return cumulated over the last 21*T days
    (missing days count 0); NaN until the stock has ``21 * months`` days of history with at
    least ``min_obs`` traded."""
    t, n = logret.shape
    out = np.full((t, n), np.nan)
    span = 21 * months
    for j in range(n):
        cum = np.zeros(t + 1)
        cnt = np.zeros(t + 1, dtype=np.int64)
        for i in range(t):
            ok = valid[i, j] and not np.isnan(logret[i, j])
            cum[i + 1] = cum[i] + (logret[i, j] if ok else 0.0)
            cnt[i + 1] = cnt[i] + (1 if ok else 0)
        for i in range(span - 1, t):
            if cnt[i + 1] - cnt[i + 1 - span] < min_obs:
                continue
            hi, lo = -np.inf, np.inf
            for m in range(1, months + 1):
                z = cum[i + 1] - cum[i + 1 - 21 * m]
                hi = max(hi, z)
                lo = min(lo, z)
            out[i, j] = hi - lo
    return out


@njit(cache=True)
def rolling_sum_nb(x: np.ndarray, valid: np.ndarray, window: int, min_obs: int) -> np.ndarray:
    """(T, N) plain sum of ``x`` over the last ``window`` days (missing days count 0); NaN until
    the window holds ``min_obs`` valid days."""
    t, n = x.shape
    out = np.full((t, n), np.nan)
    for j in range(n):
        s = 0.0
        cnt = 0
        for i in range(t):
            if valid[i, j] and not np.isnan(x[i, j]):
                s += x[i, j]
                cnt += 1
            k = i - window
            if k >= 0 and valid[k, j] and not np.isnan(x[k, j]):
                s -= x[k, j]
                cnt -= 1
            if cnt >= min_obs:
                out[i, j] = s
    return out
