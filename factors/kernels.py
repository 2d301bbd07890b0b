"""Numba rolling kernels on flat panels: float64 arrays sorted by (symbol, date).

Two layers:

* block kernels ``*_block(x, out, lo, hi, w, ...)``: one instrument's rows ``[lo, hi)`` of ``x``
  into the same rows of ``out``; every row of the block is written (NaN where there is no
  value), so ``out`` may be a reused scratch row. The fused program (``flyer.factors.fused``)
  calls them on scratch rows with ``lo = 0``; ``out`` never aliases ``x``.
* panel kernels ``rolling_*_nb(x, starts, w, ...)``: a block kernel over every block of a panel
  (``starts``: int64 row offsets of the G blocks, length G + 1, ``starts[-1] == len(x)``); the
  miner's node-by-node evaluation (``flyer.factors.engine.node_expr``) uses them.

The window at row ``i`` of a block starting at ``lo`` is ``x[max(lo, i - w + 1) : i + 1]``:
partial during warm-up (callers mask warm-up rows when they want full windows), NaNs inside are
skipped unless stated, and a window with no valid value gives NaN. Semantics follow pandas
``rolling(w, min_periods=1)`` as qlib uses it. Kernels are pure: no labels, no I/O.

Speed: O(rows) or O(rows x log w) where an O(1) update exists: running sums (Sum, Mean, Count,
Std, Var, Corr, Cov, Slope, Rsquare, Resi; rebuilt from the window every ``w`` rows of the
block so rounding cannot drift), monotonic deques (Max, Min, IdxMax, IdxMin), a sorted window
buffer (Quantile, Med, Rank). Skew, Kurt, Mad, WMA, Prod stay O(rows x w) (two-pass, exact).
Multi-output kernels (``order_multi_block``, ``reg_block``, ``ext_block`` with both outputs)
serve several operators of one input and window in one pass. Compiled once into numba's
on-disk cache (``flyer warmup`` fills it after install).
"""
from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

_NB: dict[str, Any] = {"cache": True, "nogil": True, "fastmath": False, "error_model": "numpy"}
#: rolling std at or under this is treated as zero by Corr and Rsquare (qlib's guard)
STD_GUARD = 2e-5
SUM, MEAN, COUNT = 0, 1, 2
NAN = np.nan


def _threadsafe_layer() -> bool:
    """True when numba has a thread-safe parallel layer (OpenMP or TBB): parallel kernels may
    then be launched from several threads at once; with only ``workqueue`` they must not."""
    for mod in ("numba.np.ufunc.omppool", "numba.np.ufunc.tbbpool"):
        try:
            __import__(mod)
            return True
        except ImportError:
            continue
    return False


THREADSAFE = _threadsafe_layer()


# ----------------------------------------------------------------------------- shifts, sums
@nb.njit(**_NB)
def shift_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int) -> None:
    """``Ref``: the value ``w`` rows earlier in the block (NaN before the block's start)."""
    for i in range(lo, min(lo + w, hi)):
        out[i] = NAN
    for i in range(lo + w, hi):
        out[i] = x[i - w]


@nb.njit(**_NB)
def sum_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int, kind: int) -> None:
    """Sum (``SUM``), mean (``MEAN``) or count (``COUNT``, 0 when none) of the valid values;
    the running sum is rebuilt from the window every ``w`` rows of the block."""
    n, s, phase = 0, 0.0, 0
    for i in range(lo, hi):
        if phase == 0:  # rebuild from the window
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
        phase += 1
        if phase == w:
            phase = 0
        if kind == COUNT:
            out[i] = n
        elif n > 0:
            out[i] = s if kind == SUM else s / n
        else:
            out[i] = NAN


@nb.njit(**_NB)
def var_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int, is_std: bool) -> None:
    """Sample variance or std (ddof 1) of the valid values; NaN with fewer than 2. Sums of
    deviations from a pivot (a valid value of the window), rebuilt every ``w`` rows."""
    n, s1, s2, pivot, phase = 0, 0.0, 0.0, 0.0, 0
    for i in range(lo, hi):
        if phase == 0:
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
        phase += 1
        if phase == w:
            phase = 0
        if n >= 2:
            var = max((s2 - s1 * s1 / n) / (n - 1), 0.0)
            out[i] = math.sqrt(var) if is_std else var
        else:
            out[i] = NAN


@nb.njit(**_NB)
def ewm_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, span: int) -> None:
    """``EMA``: pandas ``ewm(span, adjust=True, ignore_na=False).mean()``: weights
    ``(1 - a) ** age`` by row distance (missing rows still age the weights), a = 2 / (span + 1);
    the value carries over missing rows; NaN before the first valid value."""
    keep = 1.0 - 2.0 / (span + 1.0)
    num, den, last = 0.0, 0.0, NAN
    for i in range(lo, hi):
        num *= keep
        den *= keep
        if not math.isnan(x[i]):
            num += x[i]
            den += 1.0
            last = num / den
        out[i] = last  # a missing row carries the mean (its weights all age alike)


# ----------------------------------------------------------------------------- extremes
@nb.njit(**_NB)
def ext_block(x: np.ndarray, out: np.ndarray, arg_out: np.ndarray, lo: int, hi: int, w: int,
              is_max: bool, want_ext: bool, want_arg: bool, nan_wins: bool) -> None:
    """Max (or min) into ``out`` and/or the 1-based position of the first extreme (from the
    window's oldest row) into ``arg_out``, from one monotonic deque (earliest first among
    equals). ``nan_wins``: a NaN in the window counts as the extreme for the position (numpy's
    argmax, qlib's behaviour); the extreme itself always skips NaNs."""
    dq = np.empty(max(hi - lo, 1), dtype=np.int64)
    nq = np.empty(max(hi - lo, 1), dtype=np.int64)  # NaN rows, for ``nan_wins``
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
            if want_ext:
                out[i] = NAN
            if want_arg:
                arg_out[i] = NAN
            continue
        if want_ext:
            out[i] = x[dq[head]]
        if want_arg:
            if nan_wins and nhead < ntail:
                arg_out[i] = nq[nhead] - a + 1.0
            else:
                arg_out[i] = dq[head] - a + 1.0


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
def _slide(buf: np.ndarray, m: int, x: np.ndarray, i: int, lo: int, w: int) -> tuple[int, int]:
    """Move the sorted buffer of valid values from the window ending at i - 1 to the one
    ending at ``i``; returns its new length and the slot of ``x[i]`` (-1 when missing). When a
    value leaves and one enters, the new one takes the old one's slot and moves only as far as
    its rank changed."""
    gone = x[i - w] if i - w >= lo else NAN
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
        return m, j
    if not math.isnan(gone):
        j = _lower(buf, m, gone)
        for k in range(j, m - 1):
            buf[k] = buf[k + 1]
        m -= 1
    if math.isnan(v):
        return m, -1
    j = _upper(buf, m, v)
    for k in range(m, j, -1):
        buf[k] = buf[k - 1]
    buf[j] = v
    return m + 1, j


@nb.njit(**_NB)
def _rank_in(buf: np.ndarray, m: int, j: int) -> float:
    """Percentile rank (ties averaged) of ``buf[j]`` among the sorted ``buf[:m]``: its run of
    equal values is found from its slot ``j``."""
    v = buf[j]
    a, b = j, j + 1
    while a > 0 and buf[a - 1] == v:
        a -= 1
    while b < m and buf[b] == v:
        b += 1
    return (a + (b - a + 1) / 2.0) / m


@nb.njit(**_NB)
def _rank_at(x: np.ndarray, a: int, i: int) -> float:
    """Percentile rank (ties averaged, in (0, 1]) of ``x[i]`` among the valid ``x[a : i + 1]``
    (one vectorisable scan: counts below, equal and valid)."""
    v = x[i]
    less, eq, cnt = 0, 0, 0
    for k in range(a, i + 1):
        u = x[k]
        less += u < v
        eq += u == v
        cnt += not math.isnan(u)
    return (less + (eq + 1) / 2.0) / cnt


@nb.njit(**_NB)
def order_multi_block(x: np.ndarray, out: np.ndarray, rows: np.ndarray, qs: np.ndarray,
                      lo: int, hi: int, w: int) -> None:
    """Order statistics of one window in one pass, into rows ``rows[r]`` of the 2-D ``out``:
    the linear-interpolated quantile ``qs[r]`` (pandas' ``linear``; 0.5 is the median) of the
    window's valid values from a sorted window buffer, or where ``qs[r] < 0`` the percentile
    rank (ties averaged, in (0, 1]) of the latest value among them (NaN where the latest value
    is missing)."""
    need_buf = False
    for r in range(qs.shape[0]):
        need_buf |= qs[r] >= 0
    buf = np.empty(w)
    m, j = 0, -1
    for i in range(lo, hi):
        if need_buf:
            m, j = _slide(buf, m, x, i, lo, w)
        v = x[i]
        for r in range(qs.shape[0]):
            q = qs[r]
            if q < 0:
                if math.isnan(v):
                    out[rows[r], i] = NAN
                elif need_buf:  # the sorted window is there: the run of x[i]'s value around its slot
                    out[rows[r], i] = _rank_in(buf, m, j)
                else:
                    out[rows[r], i] = _rank_at(x, max(lo, i - w + 1), i)
            elif m == 0:
                out[rows[r], i] = NAN
            else:
                pos = q * (m - 1)
                k = int(pos)  # pos >= 0: truncation is the floor
                out[rows[r], i] = buf[k] if k + 1 >= m else buf[k] + (buf[k + 1] - buf[k]) * (pos - k)


# ----------------------------------------------------------------------------- moments, windows
@nb.njit(**_NB)
def _moment_at(x: np.ndarray, a: int, b: int, kind: int) -> float:
    n, s, first, same = 0, 0.0, NAN, True
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
        return NAN
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
        return NAN
    if kind == 3:
        return math.sqrt(n * (n - 1.0)) * m3 / ((n - 2.0) * m2 ** 1.5)
    k_ = (n * n - 1.0) * m4 / (m2 * m2) - 3.0 * (n - 1.0) ** 2
    return k_ / ((n - 2.0) * (n - 3.0))


@nb.njit(**_NB)
def moment_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int, kind: int) -> None:
    """Unbiased skewness (kind 3, >= 3 values) or excess kurtosis (kind 4, >= 4 values), as
    pandas; a constant window gives 0 (skew) / -3 (kurt); a variance under 1e-14 otherwise NaN."""
    for i in range(lo, hi):
        out[i] = _moment_at(x, max(lo, i - w + 1), i + 1, kind)


@nb.njit(**_NB)
def mad_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int) -> None:
    """Mean absolute deviation from the window mean (valid values only)."""
    for i in range(lo, hi):
        a = max(lo, i - w + 1)
        n, s = 0, 0.0
        for k in range(a, i + 1):
            if not math.isnan(x[k]):
                n += 1
                s += x[k]
        if n == 0:
            out[i] = NAN
            continue
        m, d = s / n, 0.0
        for k in range(a, i + 1):
            if not math.isnan(x[k]):
                d += abs(x[k] - m)
        out[i] = d / n


@nb.njit(**_NB)
def wma_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int, quirk: bool) -> None:
    """Linearly weighted mean, weights 1 (oldest) .. L (latest) over the window's L rows.

    Default: sum(w x) / sum(w) over valid values. ``quirk`` (qlib's WMA): weights normalised to
    sum 1 over all L rows, then the plain mean of the valid ``w x`` terms.
    """
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
            out[i] = NAN
        elif quirk:
            length = i - a + 1.0
            out[i] = swx / (length * (length + 1.0) / 2.0) / n
        else:
            out[i] = swx / sw


@nb.njit(**_NB)
def prod_block(x: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int) -> None:
    """Product of the window's valid values."""
    for i in range(lo, hi):
        n, p = 0, 1.0
        for k in range(max(lo, i - w + 1), i + 1):
            if not math.isnan(x[k]):
                n += 1
                p *= x[k]
        out[i] = p if n else NAN


# ----------------------------------------------------------------------------- regressions
@nb.njit(**_NB)
def _reg_values(out: np.ndarray, rows: np.ndarray, kinds: np.ndarray, i: int, n: float, sj: float,
                sjj_: float, sd: float, sjd: float, sdd: float, j_last: float, v_last: float,
                pivot: float) -> None:
    """Slope (kind 0), R^2 (1) and/or residual (2) at row ``i`` from the sums of the window's
    points (j, d = v - pivot), into ``out[rows[r], i]``; shared terms computed once."""
    slope, r2, resi = NAN, NAN, NAN
    if n >= 2:
        sjj = sjj_ - sj * sj / n
        sjy = sjd - sj * sd / n
        syy = sdd - sd * sd / n
        if sjj > 0:
            slope = sjy / sjj
            if not (syy <= 0 or math.sqrt(syy / (n - 1)) <= STD_GUARD):
                r2 = sjy * sjy / (sjj * syy)
            if not math.isnan(v_last):
                resi = (v_last - pivot) - (sd / n + slope * (j_last - sj / n))
    for r in range(kinds.shape[0]):
        k = kinds[r]
        out[rows[r], i] = slope if k == 0 else (r2 if k == 1 else resi)


@nb.njit(**_NB)
def reg_block(x: np.ndarray, out: np.ndarray, rows: np.ndarray, kinds: np.ndarray,
              lo: int, hi: int, w: int) -> None:
    """OLS of the window's valid values on their positions, into rows ``rows[r]`` of the 2-D
    ``out``: slope (kind 0), R^2 (1) or residual (2) per ``kinds[r]``.

    The residual is the latest value minus its fitted value (NaN when the latest is NaN).
    R^2 is NaN where the window's sample std is <= ``STD_GUARD`` (qlib). Fewer than 2 valid
    values give NaN. Running sums of (1, j, j^2, d, j d, d^2) with d = v - pivot (O(1) per row),
    rebuilt from the window every ``w`` rows.
    """
    n, sj, sjj, sd, sjd, sdd = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    base, pivot, phase = lo, 0.0, 0
    for i in range(lo, hi):
        a = max(lo, i - w + 1)
        if phase == 0:
            n, sj, sjj, sd, sjd, sdd = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            base = a
            pivot = x[i] if not math.isnan(x[i]) else pivot
            for k in range(a, i + 1):
                if not math.isnan(x[k]):
                    j, d = float(k - base), x[k] - pivot
                    n += 1.0
                    sj += j
                    sjj += j * j
                    sd += d
                    sjd += j * d
                    sdd += d * d
        else:
            if not math.isnan(x[i]):
                j, d = float(i - base), x[i] - pivot
                n += 1.0
                sj += j
                sjj += j * j
                sd += d
                sjd += j * d
                sdd += d * d
            if i - w >= lo and not math.isnan(x[i - w]):
                j, d = float(i - w - base), x[i - w] - pivot
                n -= 1.0
                sj -= j
                sjj -= j * j
                sd -= d
                sjd -= j * d
                sdd -= d * d
        phase += 1
        if phase == w:
            phase = 0
        _reg_values(out, rows, kinds, i, n, sj, sjj, sd, sjd, sdd, float(i - base), x[i], pivot)


@nb.njit(**_NB)
def _guarded(m: float, s1: float, s2: float) -> bool:
    """True where an input's own sample std (from its count, sum, sum of squares) is under the guard."""
    if m < 2:
        return False
    var = (s2 - s1 * s1 / m) / (m - 1)
    return math.sqrt(max(var, 0.0)) <= STD_GUARD


@nb.njit(**_NB)
def pair_block(x: np.ndarray, y: np.ndarray, out: np.ndarray, lo: int, hi: int, w: int,
               is_corr: bool) -> None:
    """Sample covariance (ddof 1) or Pearson correlation over rows where both are valid.

    Corr is NaN where either input's own window std is <= ``STD_GUARD`` (qlib's guard).
    Running sums (O(1) per row) of values centred at pivots: over rows where both are valid
    (n, sx, sy, sxx, syy, sxy) and each input's own (mx, ax, bx; my, ay, by); rebuilt from the
    window every ``w`` rows.
    """
    n, sx, sy, sxx, syy, sxy = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    mx, ax, bx, my, ay, by = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
    px, py, phase = 0.0, 0.0, 0
    for i in range(lo, hi):
        a = max(lo, i - w + 1)
        first = i
        if phase == 0:
            n, sx, sy, sxx, syy, sxy = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            mx, ax, bx, my, ay, by = 0.0, 0.0, 0.0, 0.0, 0.0, 0.0
            px = x[i] if not math.isnan(x[i]) else px
            py = y[i] if not math.isnan(y[i]) else py
            first = a
        for k in range(first, i + 1):
            xv, yv = x[k], y[k]
            xn, yn = math.isnan(xv), math.isnan(yv)
            dx, dy = xv - px, yv - py
            if not xn:
                mx += 1.0
                ax += dx
                bx += dx * dx
            if not yn:
                my += 1.0
                ay += dy
                by += dy * dy
            if not (xn or yn):
                n += 1.0
                sx += dx
                sy += dy
                sxx += dx * dx
                syy += dy * dy
                sxy += dx * dy
        if phase != 0 and i - w >= lo:
            xv, yv = x[i - w], y[i - w]
            xn, yn = math.isnan(xv), math.isnan(yv)
            dx, dy = xv - px, yv - py
            if not xn:
                mx -= 1.0
                ax -= dx
                bx -= dx * dx
            if not yn:
                my -= 1.0
                ay -= dy
                by -= dy * dy
            if not (xn or yn):
                n -= 1.0
                sx -= dx
                sy -= dy
                sxx -= dx * dx
                syy -= dy * dy
                sxy -= dx * dy
        phase += 1
        if phase == w:
            phase = 0
        if n < 2:
            out[i] = NAN
            continue
        cxy = sxy - sx * sy / n
        if not is_corr:
            out[i] = cxy / (n - 1)
        elif _guarded(mx, ax, bx) or _guarded(my, ay, by):
            out[i] = NAN
        else:
            cxx = sxx - sx * sx / n
            cyy = syy - sy * sy / n
            out[i] = NAN if cxx <= 0 or cyy <= 0 else cxy / math.sqrt(cxx * cyy)


# ----------------------------------------------------------------------------- panel kernels
@nb.njit(**_NB)
def rolling_shift_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """``Ref`` over a panel (see ``shift_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        shift_block(x, out, starts[g], starts[g + 1], w)
    return out


@nb.njit(**_NB)
def rolling_sum_nb(x: np.ndarray, starts: np.ndarray, w: int, kind: int) -> np.ndarray:
    """Sum, mean or count over a panel (see ``sum_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        sum_block(x, out, starts[g], starts[g + 1], w, kind)
    return out


@nb.njit(**_NB)
def rolling_var_nb(x: np.ndarray, starts: np.ndarray, w: int, is_std: bool) -> np.ndarray:
    """Sample variance or std over a panel (see ``var_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        var_block(x, out, starts[g], starts[g + 1], w, is_std)
    return out


@nb.njit(**_NB)
def ewm_nb(x: np.ndarray, starts: np.ndarray, span: int) -> np.ndarray:
    """``EMA`` over a panel (see ``ewm_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        ewm_block(x, out, starts[g], starts[g + 1], span)
    return out


@nb.njit(**_NB)
def rolling_ext_nb(x: np.ndarray, starts: np.ndarray, w: int, is_max: bool) -> np.ndarray:
    """Max (or min) of the valid values over a panel (see ``ext_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        ext_block(x, out, out, starts[g], starts[g + 1], w, is_max, True, False, False)
    return out


@nb.njit(**_NB)
def rolling_argext_nb(x: np.ndarray, starts: np.ndarray, w: int, is_max: bool,
                      nan_wins: bool) -> np.ndarray:
    """1-based position of the first max (or min) over a panel (see ``ext_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        ext_block(x, out, out, starts[g], starts[g + 1], w, is_max, False, True, nan_wins)
    return out


@nb.njit(**_NB)
def rolling_order_multi_nb(x: np.ndarray, starts: np.ndarray, w: int, qs: np.ndarray) -> np.ndarray:
    """Row k of the ``(len(qs), n)`` output: quantile ``qs[k]``, or the rank where ``qs[k] < 0``
    (see ``order_multi_block``). (Alpha158 reads Quantile 0.8, Quantile 0.2 and Rank of one close.)"""
    out = np.empty((qs.shape[0], x.shape[0]))
    rows = np.arange(qs.shape[0])
    for g in range(starts.shape[0] - 1):
        order_multi_block(x, out, rows, qs, starts[g], starts[g + 1], w)
    return out


def rolling_quantile_nb(x: np.ndarray, starts: np.ndarray, w: int, q: float) -> np.ndarray:
    """Linear-interpolated quantile ``q`` of the window's valid values (0.5: the median)."""
    return rolling_order_multi_nb(x, starts, w, np.array([q]))[0]


def rolling_rank_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """Percentile rank (ties averaged) of the latest value among the window's values."""
    return rolling_order_multi_nb(x, starts, w, np.array([-1.0]))[0]


@nb.njit(**_NB)
def rolling_moment_nb(x: np.ndarray, starts: np.ndarray, w: int, kind: int) -> np.ndarray:
    """Skewness (kind 3) or excess kurtosis (kind 4) over a panel (see ``moment_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        moment_block(x, out, starts[g], starts[g + 1], w, kind)
    return out


@nb.njit(**_NB)
def rolling_mad_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """Mean absolute deviation over a panel (see ``mad_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        mad_block(x, out, starts[g], starts[g + 1], w)
    return out


@nb.njit(**_NB)
def rolling_wma_nb(x: np.ndarray, starts: np.ndarray, w: int, quirk: bool) -> np.ndarray:
    """Linearly weighted mean over a panel (see ``wma_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        wma_block(x, out, starts[g], starts[g + 1], w, quirk)
    return out


@nb.njit(**_NB)
def rolling_prod_nb(x: np.ndarray, starts: np.ndarray, w: int) -> np.ndarray:
    """Product of the valid values over a panel (see ``prod_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        prod_block(x, out, starts[g], starts[g + 1], w)
    return out


@nb.njit(**_NB)
def rolling_reg_multi_nb(x: np.ndarray, starts: np.ndarray, w: int, kinds: np.ndarray) -> np.ndarray:
    """Row r of the ``(len(kinds), n)`` output: regression output ``kinds[r]`` (0 slope, 1 R^2,
    2 residual) over a panel (see ``reg_block``)."""
    out = np.empty((kinds.shape[0], x.shape[0]))
    rows = np.arange(kinds.shape[0])
    for g in range(starts.shape[0] - 1):
        reg_block(x, out, rows, kinds, starts[g], starts[g + 1], w)
    return out


def rolling_reg_nb(x: np.ndarray, starts: np.ndarray, w: int, kind: int) -> np.ndarray:
    """One regression output (0 slope, 1 R^2, 2 residual) over a panel."""
    return rolling_reg_multi_nb(x, starts, w, np.array([kind], dtype=np.int64))[0]


@nb.njit(**_NB)
def rolling_pair_nb(x: np.ndarray, y: np.ndarray, starts: np.ndarray, w: int,
                    is_corr: bool) -> np.ndarray:
    """Covariance or correlation over a panel (see ``pair_block``)."""
    out = np.empty(x.shape[0])
    for g in range(starts.shape[0] - 1):
        pair_block(x, y, out, starts[g], starts[g + 1], w, is_corr)
    return out


def warm() -> int:
    """Compile (or load from numba's disk cache) every panel kernel on a tiny panel; returns
    the number of kernels (``flyer warmup`` calls this once after install)."""
    x = np.array([1.0, np.nan, 2.0, 3.0, 2.0, 5.0])
    s = np.array([0, 2, 6], dtype=np.int64)
    calls = [
        lambda: rolling_shift_nb(x, s, 1), lambda: rolling_sum_nb(x, s, 3, MEAN),
        lambda: rolling_var_nb(x, s, 3, True), lambda: ewm_nb(x, s, 3),
        lambda: rolling_ext_nb(x, s, 3, True), lambda: rolling_argext_nb(x, s, 3, True, False),
        lambda: rolling_moment_nb(x, s, 3, 3), lambda: rolling_mad_nb(x, s, 3),
        lambda: rolling_wma_nb(x, s, 3, False), lambda: rolling_prod_nb(x, s, 3),
        lambda: rolling_pair_nb(x, x, s, 3, True),
        lambda: rolling_order_multi_nb(x, s, 3, np.array([0.8, -1.0])),
        lambda: rolling_reg_multi_nb(x, s, 3, np.array([0, 2], dtype=np.int64)),
    ]
    for call in calls:
        call()
    return len(calls)
