"""Numba rolling kernels on flat panels: one float64 array sorted by (symbol, date).

Every kernel takes ``x`` (float64, NaN = missing) and ``starts`` (int64, length G + 1: row
offsets of the G instruments' blocks, ``starts[-1] == len(x)``) and a window ``w`` in rows. The
window at row ``i`` of a block starting at ``lo`` is ``x[max(lo, i - w + 1) : i + 1]``: partial
during warm-up (callers mask warm-up rows when they want full windows), NaNs inside are skipped
unless stated, and a window with no valid value gives NaN. Semantics follow pandas
``rolling(w, min_periods=1)`` as qlib uses it. Kernels are pure: no labels, no I/O.
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

_NB = dict(cache=True, nogil=True, fastmath=False)
#: rolling std at or under this is treated as zero by Corr and Rsquare (qlib's guard)
STD_GUARD = 2e-5


@nb.njit(**_NB)
def _std1(x: np.ndarray, a: int, b: int) -> float:
    """Sample std (ddof 1) of the non-NaN values of x[a:b]; NaN with fewer than 2."""
    n, s = 0, 0.0
    for k in range(a, b):
        if not math.isnan(x[k]):
            n += 1
            s += x[k]
    if n < 2:
        return np.nan
    m, ss = s / n, 0.0
    for k in range(a, b):
        if not math.isnan(x[k]):
            ss += (x[k] - m) ** 2
    return math.sqrt(ss / (n - 1))


@nb.njit(**_NB)
def rolling_moment_nb(x: np.ndarray, starts: np.ndarray, w: int, kind: int) -> np.ndarray:
    """Unbiased skewness (kind 3, >= 3 values) or excess kurtosis (kind 4, >= 4 values), as pandas.

    A constant window gives 0 (skew) / -3 (kurt); a variance under 1e-14 otherwise gives NaN.
    """
    out = np.full(x.shape[0], np.nan)
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        for i in range(lo, hi):
            a = max(lo, i - w + 1)
            n, s, first, same = 0, 0.0, np.nan, True
            for k in range(a, i + 1):
                v = x[k]
                if not math.isnan(v):
                    if n == 0:
                        first = v
                    elif v != first:
                        same = False
                    n += 1
                    s += v
            if n < kind:
                continue
            if same:
                out[i] = 0.0 if kind == 3 else -3.0
                continue
            m = s / n
            m2, m3, m4 = 0.0, 0.0, 0.0
            for k in range(a, i + 1):
                v = x[k]
                if not math.isnan(v):
                    d = v - m
                    m2 += d * d
                    m3 += d * d * d
                    m4 += d * d * d * d
            m2, m3, m4 = m2 / n, m3 / n, m4 / n
            if m2 <= 1e-14:
                continue
            if kind == 3:
                out[i] = math.sqrt(n * (n - 1.0)) * m3 / ((n - 2.0) * m2 ** 1.5)
            else:
                k_ = (n * n - 1.0) * m4 / (m2 * m2) - 3.0 * (n - 1.0) ** 2
                out[i] = k_ / ((n - 2.0) * (n - 3.0))
    return out


@nb.njit(**_NB)
def _sorted_remove(buf: np.ndarray, m: int, v: float) -> int:
    """Remove one ``v`` from the sorted ``buf[:m]``; returns the new length."""
    j = np.searchsorted(buf[:m], v)
    for k in range(j, m - 1):
        buf[k] = buf[k + 1]
    return m - 1


@nb.njit(**_NB)
def _sorted_insert(buf: np.ndarray, m: int, v: float) -> int:
    """Insert ``v`` into the sorted ``buf[:m]``; returns the new length."""
    j = np.searchsorted(buf[:m], v)
    for k in range(m, j, -1):
        buf[k] = buf[k - 1]
    buf[j] = v
    return m + 1


@nb.njit(**_NB)
def rolling_rank_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """Percentile rank (ties averaged, in (0, 1]) of the latest value among the window's values.

    Keeps the window's valid values sorted (binary-search insert/remove), as the quantile.
    """
    out = np.full(x.shape[0], np.nan)
    buf = np.empty(w)
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        m = 0
        for i in range(lo, hi):
            if i - w >= lo and not math.isnan(x[i - w]):
                m = _sorted_remove(buf, m, x[i - w])
            v = x[i]
            if math.isnan(v):
                continue
            m = _sorted_insert(buf, m, v)
            less = np.searchsorted(buf[:m], v, side="left")
            eq = np.searchsorted(buf[:m], v, side="right") - less
            out[i] = (less + (eq + 1) / 2.0) / m
    return out


@nb.njit(**_NB)
def rolling_argext_nb(x: np.ndarray, starts: np.ndarray, w: int, is_max: bool,
                      nan_wins: bool) -> np.ndarray:
    """1-based position (from the window's oldest row) of the first max (or min).

    ``nan_wins``: a NaN in the window counts as the extreme (numpy argmax, qlib's behaviour);
    otherwise NaNs are skipped. A window without valid values gives NaN.
    """
    out = np.full(x.shape[0], np.nan)
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        for i in range(lo, hi):
            a = max(lo, i - w + 1)
            best, pos, n, nan_pos = 0.0, -1, 0, -1
            for k in range(a, i + 1):
                u = x[k]
                if math.isnan(u):
                    if nan_pos < 0:
                        nan_pos = k
                    continue
                n += 1
                if pos < 0 or (u > best if is_max else u < best):
                    best, pos = u, k
            if n == 0:
                continue
            if nan_wins and nan_pos >= 0:
                pos = nan_pos
            out[i] = pos - a + 1.0
    return out


@nb.njit(**_NB)
def _reg_add(st: np.ndarray, j: float, v: float, sign: float, pivot: float) -> None:
    """Add (sign 1) or remove (-1) the point (j, v) from the regression sums (v - pivot)."""
    if math.isnan(v):
        return
    d = v - pivot
    st[0] += sign
    st[1] += sign * j
    st[2] += sign * j * j
    st[3] += sign * d
    st[4] += sign * j * d
    st[5] += sign * d * d


@nb.njit(**_NB)
def _reg_value(st: np.ndarray, kind: int, j_last: float, v_last: float, pivot: float) -> float:
    n = st[0]
    if n < 2 or (kind == 2 and math.isnan(v_last)):
        return np.nan
    sjj = st[2] - st[1] * st[1] / n
    sjy = st[4] - st[1] * st[3] / n
    syy = st[5] - st[3] * st[3] / n
    if sjj <= 0:
        return np.nan
    slope = sjy / sjj
    if kind == 0:
        return slope
    if kind == 1:
        if syy <= 0 or math.sqrt(syy / (n - 1)) <= STD_GUARD:
            return np.nan
        return sjy * sjy / (sjj * syy)
    return (v_last - pivot) - (st[3] / n + slope * (j_last - st[1] / n))


@nb.njit(**_NB)
def rolling_reg_nb(x: np.ndarray, starts: np.ndarray, w: int, kind: int) -> np.ndarray:
    """OLS of the window's valid values on their positions: slope (0), R^2 (1), residual (2).

    The residual is the latest value minus its fitted value (NaN when the latest is NaN).
    R^2 is NaN where the window's sample std is <= ``STD_GUARD`` (qlib). Fewer than 2 valid
    values give NaN. Running sums (O(1) per row), rebuilt from the window every ``w`` rows.
    """
    out = np.full(x.shape[0], np.nan)
    st = np.zeros(6)
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        base, pivot = lo, 0.0
        for i in range(lo, hi):
            a = max(lo, i - w + 1)
            if (i - lo) % w == 0:
                st[:] = 0.0
                base = a
                pivot = x[i] if not math.isnan(x[i]) else pivot
                for k in range(a, i + 1):
                    _reg_add(st, float(k - base), x[k], 1.0, pivot)
            else:
                _reg_add(st, float(i - base), x[i], 1.0, pivot)
                if i - w >= lo:
                    _reg_add(st, float(i - w - base), x[i - w], -1.0, pivot)
            out[i] = _reg_value(st, kind, float(i - base), x[i], pivot)
    return out


@nb.njit(**_NB)
def rolling_mad_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """Mean absolute deviation from the window mean (valid values only)."""
    out = np.full(x.shape[0], np.nan)
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        for i in range(lo, hi):
            a = max(lo, i - w + 1)
            n, s = 0, 0.0
            for k in range(a, i + 1):
                if not math.isnan(x[k]):
                    n += 1
                    s += x[k]
            if n == 0:
                continue
            m, d = s / n, 0.0
            for k in range(a, i + 1):
                if not math.isnan(x[k]):
                    d += abs(x[k] - m)
            out[i] = d / n
    return out


@nb.njit(**_NB)
def rolling_wma_nb(x: np.ndarray, starts: np.ndarray, w: int, quirk: bool) -> np.ndarray:
    """Linearly weighted mean, weights 1 (oldest) .. L (latest) over the window's L rows.

    Default: sum(w x) / sum(w) over valid values. ``quirk`` (qlib's WMA): weights normalised to
    sum 1 over all L rows, then the plain mean of the valid ``w x`` terms.
    """
    out = np.full(x.shape[0], np.nan)
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        for i in range(lo, hi):
            a = max(lo, i - w + 1)
            n, swx, sw = 0, 0.0, 0.0
            for k in range(a, i + 1):
                if not math.isnan(x[k]):
                    wk = k - a + 1.0
                    n += 1
                    swx += wk * x[k]
                    sw += wk
            if n == 0:
                continue
            if quirk:
                length = i - a + 1.0
                out[i] = swx / (length * (length + 1.0) / 2.0) / n
            else:
                out[i] = swx / sw
    return out


@nb.njit(**_NB)
def rolling_prod_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """Product of the window's valid values."""
    out = np.full(x.shape[0], np.nan)
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        for i in range(lo, hi):
            n, p = 0, 1.0
            for k in range(max(lo, i - w + 1), i + 1):
                if not math.isnan(x[k]):
                    n += 1
                    p *= x[k]
            if n:
                out[i] = p
    return out


@nb.njit(**_NB)
def _pair_add(st: np.ndarray, xv: float, yv: float, sign: float, px: float, py: float) -> None:
    """Add (sign 1) or remove (sign -1) one row's terms; values are taken relative to pivots."""
    xn, yn = math.isnan(xv), math.isnan(yv)
    if not xn:
        d = xv - px
        st[6] += sign
        st[7] += sign * d
        st[8] += sign * d * d
    if not yn:
        d = yv - py
        st[9] += sign
        st[10] += sign * d
        st[11] += sign * d * d
    if not (xn or yn):
        dx, dy = xv - px, yv - py
        st[0] += sign
        st[1] += sign * dx
        st[2] += sign * dy
        st[3] += sign * dx * dx
        st[4] += sign * dy * dy
        st[5] += sign * dx * dy


@nb.njit(**_NB)
def _pair_value(st: np.ndarray, is_corr: bool) -> float:
    n = st[0]
    if n < 2:
        return np.nan
    cxy = st[5] - st[1] * st[2] / n
    if not is_corr:
        return cxy / (n - 1)
    for k in (6, 9):  # each input's own sample std against the guard
        m = st[k]
        if m >= 2:
            var = (st[k + 2] - st[k + 1] * st[k + 1] / m) / (m - 1)
            if math.sqrt(max(var, 0.0)) <= STD_GUARD:
                return np.nan
    cxx = st[3] - st[1] * st[1] / n
    cyy = st[4] - st[2] * st[2] / n
    if cxx <= 0 or cyy <= 0:
        return np.nan
    return cxy / math.sqrt(cxx * cyy)


@nb.njit(**_NB)
def rolling_pair_nb(x: np.ndarray, y: np.ndarray, starts: np.ndarray, w: int,
                    is_corr: bool) -> np.ndarray:
    """Sample covariance (ddof 1) or Pearson correlation over rows where both are valid.

    Corr is NaN where either input's own window std is <= ``STD_GUARD`` (qlib's guard).
    Running sums (O(1) per row) on values centred at a pivot; the sums are rebuilt from the
    window every ``w`` rows so rounding cannot drift.
    """
    out = np.full(x.shape[0], np.nan)
    st = np.zeros(12)
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        px, py = 0.0, 0.0
        for i in range(lo, hi):
            a = max(lo, i - w + 1)
            if (i - lo) % w == 0:
                st[:] = 0.0
                px = x[i] if not math.isnan(x[i]) else px
                py = y[i] if not math.isnan(y[i]) else py
                for k in range(a, i + 1):
                    _pair_add(st, x[k], y[k], 1.0, px, py)
            else:
                _pair_add(st, x[i], y[i], 1.0, px, py)
                if i - w >= lo:
                    _pair_add(st, x[i - w], y[i - w], -1.0, px, py)
            out[i] = _pair_value(st, is_corr)
    return out


@nb.njit(**_NB)
def rolling_quantile_nb(x: np.ndarray, starts: np.ndarray, w: int, q: float) -> np.ndarray:
    """Linear-interpolated quantile ``q`` of the window's valid values (pandas' ``linear``).

    Keeps the window's valid values sorted in a buffer (insert/remove by binary search).
    """
    out = np.full(x.shape[0], np.nan)
    buf = np.empty(w)
    for g in range(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        m = 0
        for i in range(lo, hi):
            if i - w >= lo and not math.isnan(x[i - w]):
                m = _sorted_remove(buf, m, x[i - w])
            v = x[i]
            if not math.isnan(v):
                m = _sorted_insert(buf, m, v)
            if m == 0:
                continue
            pos = q * (m - 1)
            k = int(math.floor(pos))
            frac = pos - k
            out[i] = buf[k] if k + 1 >= m else buf[k] + (buf[k + 1] - buf[k]) * frac
    return out
