"""Numba rolling kernels on flat panels: one float64 array sorted by (symbol, date).

Every kernel takes ``x`` (float64, NaN = missing) and ``starts`` (int64, length G + 1: row
offsets of the G instruments' blocks, ``starts[-1] == len(x)``) and a window ``w`` in rows. The
window at row ``i`` of a block starting at ``lo`` is ``x[max(lo, i - w + 1) : i + 1]``: partial
during warm-up (callers mask warm-up rows when they want full windows), NaNs inside are skipped
unless stated, and a window with no valid value gives NaN. Semantics follow pandas
``rolling(w, min_periods=1)`` as qlib uses it. Kernels are pure: no labels, no I/O.

Speed: kernels release the GIL, so the engine runs many at once on polars' thread pool (see
``_PAR``); each is O(rows) or O(rows x log w) where an O(1) update exists: running sums (Sum, Mean,
Count, Std, Var, Corr, Cov, Slope, Rsquare, Resi; rebuilt from the window every ``w`` rows so
rounding cannot drift), monotonic deques (Max, Min, IdxMax, IdxMin), a sorted window buffer
(Quantile, Med, Rank). Skew, Kurt, Mad, WMA, Prod stay O(rows x w) (two-pass, exact).
Compiled once into numba's on-disk cache (``flyer warmup`` fills it after install).
"""
from __future__ import annotations

import math

import numba as nb
import numpy as np

_NB = dict(cache=True, nogil=True, fastmath=False)
#: kernels over all blocks: ``prange`` marks the blocks independent, but ``parallel`` stays off.
#: Measured on the 2-core box under load: a parallel launch costs 5-8 ms of thread wake-ups
#: per call (a 0.2 ms shift took 6.7 ms), while polars already runs the kernels of one plan
#: level side by side on its thread pool (they release the GIL), which keeps both cores busy.
_PAR = _NB
#: rolling std at or under this is treated as zero by Corr and Rsquare (qlib's guard)
STD_GUARD = 2e-5
SUM, MEAN, COUNT = 0, 1, 2


def _threadsafe_layer() -> bool:
    """True when numba has a thread-safe parallel layer (OpenMP or TBB): kernels may then be
    launched from several polars threads at once; with only ``workqueue`` they must not."""
    for mod in ("numba.np.ufunc.omppool", "numba.np.ufunc.tbbpool"):
        try:
            __import__(mod)
            return True
        except ImportError:
            continue
    return False


THREADSAFE = _threadsafe_layer()


# ----------------------------------------------------------------------------- shifts, sums
@nb.njit(**_PAR)
def rolling_shift_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """``Ref``: the value ``w`` rows earlier in the same block (NaN before the block's start)."""
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        for i in range(starts[g] + w, starts[g + 1]):
            out[i] = x[i - w]
    return out


@nb.njit(**_NB)
def _sum_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int, kind: int) -> None:
    n, s = 0, 0.0
    for i in range(lo, hi):
        if (i - lo) % w == 0:  # rebuild from the window
            n, s = 0, 0.0
            for k in range(max(lo, i - w + 1), i + 1):
                if not math.isnan(x[k]):
                    n += 1
                    s += x[k]
        else:
            if not math.isnan(x[i]):
                n += 1
                s += x[i]
            if i - w >= lo and not math.isnan(x[i - w]):
                n -= 1
                s -= x[i - w]
        if kind == COUNT:
            out[i] = n
        elif n > 0:
            out[i] = s if kind == SUM else s / n


@nb.njit(**_PAR)
def rolling_sum_nb(x: np.ndarray, starts: np.ndarray, w: int, kind: int) -> np.ndarray:
    """Sum (``SUM``), mean (``MEAN``) or count (``COUNT``, 0 when none) of the valid values."""
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        _sum_block(x, out, starts[g], starts[g + 1], w, kind)
    return out


@nb.njit(**_NB)
def _var_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int, is_std: bool) -> None:
    n, s1, s2, pivot = 0, 0.0, 0.0, 0.0
    for i in range(lo, hi):
        if (i - lo) % w == 0:
            a = max(lo, i - w + 1)
            n, s1, s2 = 0, 0.0, 0.0
            for k in range(a, i + 1):  # pivot: a valid value of the window (limits cancellation)
                if not math.isnan(x[k]):
                    pivot = x[k]
            for k in range(a, i + 1):
                if not math.isnan(x[k]):
                    d = x[k] - pivot
                    n += 1
                    s1 += d
                    s2 += d * d
        else:
            if not math.isnan(x[i]):
                d = x[i] - pivot
                n += 1
                s1 += d
                s2 += d * d
            if i - w >= lo and not math.isnan(x[i - w]):
                d = x[i - w] - pivot
                n -= 1
                s1 -= d
                s2 -= d * d
        if n >= 2:
            var = max((s2 - s1 * s1 / n) / (n - 1), 0.0)
            out[i] = math.sqrt(var) if is_std else var


@nb.njit(**_PAR)
def rolling_var_nb(x: np.ndarray, starts: np.ndarray, w: int, is_std: bool) -> np.ndarray:
    """Sample variance or std (ddof 1) of the valid values; NaN with fewer than 2."""
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        _var_block(x, out, starts[g], starts[g + 1], w, is_std)
    return out


@nb.njit(**_PAR)
def ewm_nb(x: np.ndarray, starts: np.ndarray, span: int) -> np.ndarray:
    """``EMA``: pandas ``ewm(span, adjust=True, ignore_na=False).mean()`` per block: weights
    ``(1 - a) ** age`` by row distance (missing rows still age the weights), a = 2 / (span + 1);
    the value carries over missing rows; NaN before the first valid value."""
    out = np.full(x.shape[0], np.nan)
    keep = 1.0 - 2.0 / (span + 1.0)
    for g in nb.prange(starts.shape[0] - 1):
        num, den, last = 0.0, 0.0, np.nan
        for i in range(starts[g], starts[g + 1]):
            num *= keep
            den *= keep
            if not math.isnan(x[i]):
                num += x[i]
                den += 1.0
                last = num / den
            out[i] = last  # a missing row carries the mean (its weights all age alike)
    return out


# ----------------------------------------------------------------------------- extremes
@nb.njit(**_NB)
def _ext_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int, is_max: bool,
               arg: bool, nan_wins: bool) -> None:
    """Monotonic deque of the window's candidate extremes (earliest first among equals)."""
    dq = np.empty(hi - lo, dtype=np.int64)
    nq = np.empty(hi - lo, dtype=np.int64)  # NaN rows, for ``nan_wins``
    head, tail, nhead, ntail = 0, 0, 0, 0
    for i in range(lo, hi):
        a = max(lo, i - w + 1)
        v = x[i]
        if math.isnan(v):
            nq[ntail] = i
            ntail += 1
        else:
            while tail > head and (x[dq[tail - 1]] < v if is_max else x[dq[tail - 1]] > v):
                tail -= 1
            dq[tail] = i
            tail += 1
        while head < tail and dq[head] < a:
            head += 1
        while nhead < ntail and nq[nhead] < a:
            nhead += 1
        if head == tail:
            continue
        if not arg:
            out[i] = x[dq[head]]
        elif nan_wins and nhead < ntail:
            out[i] = nq[nhead] - a + 1.0
        else:
            out[i] = dq[head] - a + 1.0


@nb.njit(**_PAR)
def rolling_ext_nb(x: np.ndarray, starts: np.ndarray, w: int, is_max: bool) -> np.ndarray:
    """Max (or min) of the valid values."""
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        _ext_block(x, out, starts[g], starts[g + 1], w, is_max, False, False)
    return out


@nb.njit(**_PAR)
def rolling_argext_nb(x: np.ndarray, starts: np.ndarray, w: int, is_max: bool,
                      nan_wins: bool) -> np.ndarray:
    """1-based position (from the window's oldest row) of the first max (or min).

    ``nan_wins``: a NaN in the window counts as the extreme (numpy argmax, qlib's behaviour);
    otherwise NaNs are skipped. A window without valid values gives NaN.
    """
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        _ext_block(x, out, starts[g], starts[g + 1], w, is_max, True, nan_wins)
    return out


# ----------------------------------------------------------------------------- order statistics
@nb.njit(**_NB)
def _lower(buf: np.ndarray, m: int, v: float) -> int:
    """First index of ``buf[:m]`` (sorted) whose value is >= v."""
    a, b = 0, m
    while a < b:
        c = (a + b) >> 1
        if buf[c] < v:
            a = c + 1
        else:
            b = c
    return a


@nb.njit(**_NB)
def _upper(buf: np.ndarray, m: int, v: float) -> int:
    """First index of ``buf[:m]`` (sorted) whose value is > v."""
    a, b = 0, m
    while a < b:
        c = (a + b) >> 1
        if buf[c] <= v:
            a = c + 1
        else:
            b = c
    return a


@nb.njit(**_NB)
def _slide(buf: np.ndarray, m: int, x: np.ndarray, i: int, lo: int, w: int) -> int:
    """Move the sorted buffer of valid values from the window ending at i - 1 to the one
    ending at ``i``; returns its new length. When a value leaves and one enters, the new one
    takes the old one's slot and moves only as far as its rank changed."""
    gone = x[i - w] if i - w >= lo else np.nan
    v = x[i]
    if not math.isnan(gone) and not math.isnan(v):
        j = _lower(buf, m, gone)
        while j + 1 < m and buf[j + 1] < v:
            buf[j] = buf[j + 1]
            j += 1
        while j > 0 and buf[j - 1] > v:
            buf[j] = buf[j - 1]
            j -= 1
        buf[j] = v
        return m
    if not math.isnan(gone):
        j = _lower(buf, m, gone)
        for k in range(j, m - 1):
            buf[k] = buf[k + 1]
        m -= 1
    if not math.isnan(v):
        j = _upper(buf, m, v)
        for k in range(m, j, -1):
            buf[k] = buf[k - 1]
        buf[j] = v
        m += 1
    return m


@nb.njit(**_PAR)
def rolling_rank_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """Percentile rank (ties averaged, in (0, 1]) of the latest value among the window's values;
    NaN where the latest value is missing."""
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        buf = np.empty(w)
        m = 0
        for i in range(lo, hi):
            m = _slide(buf, m, x, i, lo, w)
            v = x[i]
            if math.isnan(v):
                continue
            less = _lower(buf, m, v)
            eq = _upper(buf, m, v) - less
            out[i] = (less + (eq + 1) / 2.0) / m
    return out


@nb.njit(**_PAR)
def rolling_quantile_nb(x: np.ndarray, starts: np.ndarray, w: int, q: float) -> np.ndarray:
    """Linear-interpolated quantile ``q`` of the window's valid values (pandas' ``linear``);
    ``q = 0.5`` is the median."""
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        buf = np.empty(w)
        m = 0
        for i in range(lo, hi):
            m = _slide(buf, m, x, i, lo, w)
            if m == 0:
                continue
            pos = q * (m - 1)
            k = int(math.floor(pos))
            out[i] = buf[k] if k + 1 >= m else buf[k] + (buf[k + 1] - buf[k]) * (pos - k)
    return out


@nb.njit(**_PAR)
def rolling_order_multi_nb(x: np.ndarray, starts: np.ndarray, w: int, qs: np.ndarray) -> np.ndarray:
    """Several order statistics of one window in one pass: row k of the ``(len(qs), n)``
    output is ``rolling_quantile_nb(x, starts, w, qs[k])``, or ``rolling_rank_nb`` where
    ``qs[k] < 0``. (Alpha158 reads Quantile 0.8, Quantile 0.2 and Rank of the same close.)"""
    out = np.full((qs.shape[0], x.shape[0]), np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        buf = np.empty(w)
        m = 0
        for i in range(lo, hi):
            m = _slide(buf, m, x, i, lo, w)
            if m == 0:
                continue
            v = x[i]
            for r in range(qs.shape[0]):
                q = qs[r]
                if q < 0:
                    if not math.isnan(v):
                        less = _lower(buf, m, v)
                        out[r, i] = (less + (_upper(buf, m, v) - less + 1) / 2.0) / m
                    continue
                pos = q * (m - 1)
                k = int(math.floor(pos))
                out[r, i] = buf[k] if k + 1 >= m else buf[k] + (buf[k + 1] - buf[k]) * (pos - k)
    return out


# ----------------------------------------------------------------------------- moments, windows
@nb.njit(**_NB)
def _moment_at(x: np.ndarray, a: int, b: int, kind: int) -> float:
    n, s, first, same = 0, 0.0, np.nan, True
    for k in range(a, b):
        v = x[k]
        if not math.isnan(v):
            if n == 0:
                first = v
            elif v != first:
                same = False
            n += 1
            s += v
    if n < kind:
        return np.nan
    if same:
        return 0.0 if kind == 3 else -3.0
    m = s / n
    m2, m3, m4 = 0.0, 0.0, 0.0
    for k in range(a, b):
        v = x[k]
        if not math.isnan(v):
            d = v - m
            m2 += d * d
            m3 += d * d * d
            m4 += d * d * d * d
    m2, m3, m4 = m2 / n, m3 / n, m4 / n
    if m2 <= 1e-14:
        return np.nan
    if kind == 3:
        return math.sqrt(n * (n - 1.0)) * m3 / ((n - 2.0) * m2 ** 1.5)
    k_ = (n * n - 1.0) * m4 / (m2 * m2) - 3.0 * (n - 1.0) ** 2
    return k_ / ((n - 2.0) * (n - 3.0))


@nb.njit(**_PAR)
def rolling_moment_nb(x: np.ndarray, starts: np.ndarray, w: int, kind: int) -> np.ndarray:
    """Unbiased skewness (kind 3, >= 3 values) or excess kurtosis (kind 4, >= 4 values), as pandas.

    A constant window gives 0 (skew) / -3 (kurt); a variance under 1e-14 otherwise gives NaN.
    """
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        lo, hi = starts[g], starts[g + 1]
        for i in range(lo, hi):
            out[i] = _moment_at(x, max(lo, i - w + 1), i + 1, kind)
    return out


@nb.njit(**_PAR)
def rolling_mad_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """Mean absolute deviation from the window mean (valid values only)."""
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
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


@nb.njit(**_PAR)
def rolling_wma_nb(x: np.ndarray, starts: np.ndarray, w: int, quirk: bool) -> np.ndarray:
    """Linearly weighted mean, weights 1 (oldest) .. L (latest) over the window's L rows.

    Default: sum(w x) / sum(w) over valid values. ``quirk`` (qlib's WMA): weights normalised to
    sum 1 over all L rows, then the plain mean of the valid ``w x`` terms.
    """
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
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


@nb.njit(**_PAR)
def rolling_prod_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """Product of the window's valid values."""
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
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


# ----------------------------------------------------------------------------- regressions
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


@nb.njit(**_PAR)
def rolling_reg_nb(x: np.ndarray, starts: np.ndarray, w: int, kind: int) -> np.ndarray:
    """OLS of the window's valid values on their positions: slope (0), R^2 (1), residual (2).

    The residual is the latest value minus its fitted value (NaN when the latest is NaN).
    R^2 is NaN where the window's sample std is <= ``STD_GUARD`` (qlib). Fewer than 2 valid
    values give NaN. Running sums (O(1) per row), rebuilt from the window every ``w`` rows.
    """
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        st = np.zeros(6)
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


@nb.njit(**_PAR)
def rolling_reg_multi_nb(x: np.ndarray, starts: np.ndarray, w: int, kinds: np.ndarray) -> np.ndarray:
    """Several regression outputs of one window in one pass: row r of the ``(len(kinds), n)``
    output is ``rolling_reg_nb(x, starts, w, kinds[r])`` (Slope, Rsquare, Resi share the sums)."""
    out = np.full((kinds.shape[0], x.shape[0]), np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        st = np.zeros(6)
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
            for r in range(kinds.shape[0]):
                out[r, i] = _reg_value(st, kinds[r], float(i - base), x[i], pivot)
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


@nb.njit(**_PAR)
def rolling_pair_nb(x: np.ndarray, y: np.ndarray, starts: np.ndarray, w: int,
                    is_corr: bool) -> np.ndarray:
    """Sample covariance (ddof 1) or Pearson correlation over rows where both are valid.

    Corr is NaN where either input's own window std is <= ``STD_GUARD`` (qlib's guard).
    Running sums (O(1) per row) on values centred at a pivot; the sums are rebuilt from the
    window every ``w`` rows so rounding cannot drift.
    """
    out = np.full(x.shape[0], np.nan)
    for g in nb.prange(starts.shape[0] - 1):
        st = np.zeros(12)
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


def warm() -> int:
    """Compile (or load from numba's disk cache) every kernel on a tiny panel; returns the
    number of kernels (``flyer warmup`` calls this once after install)."""
    x = np.array([1.0, np.nan, 2.0, 3.0, 2.0, 5.0])
    s = np.array([0, 2, 6], dtype=np.int64)
    calls = [
        lambda: rolling_shift_nb(x, s, 1), lambda: rolling_sum_nb(x, s, 3, MEAN),
        lambda: rolling_var_nb(x, s, 3, True), lambda: ewm_nb(x, s, 3),
        lambda: rolling_ext_nb(x, s, 3, True), lambda: rolling_argext_nb(x, s, 3, True, False),
        lambda: rolling_rank_nb(x, s, 3), lambda: rolling_quantile_nb(x, s, 3, 0.5),
        lambda: rolling_moment_nb(x, s, 3, 3), lambda: rolling_mad_nb(x, s, 3),
        lambda: rolling_wma_nb(x, s, 3, False), lambda: rolling_prod_nb(x, s, 3),
        lambda: rolling_reg_nb(x, s, 3, 0), lambda: rolling_pair_nb(x, x, s, 3, True),
        lambda: rolling_order_multi_nb(x, s, 3, np.array([0.8, -1.0])),
        lambda: rolling_reg_multi_nb(x, s, 3, np.array([0, 2], dtype=np.int64)),
    ]
    for call in calls:
        call()
    return len(calls)
