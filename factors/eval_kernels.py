"""Numba kernels of the streaming factor evaluation (``flyer.factors.evaluation.evaluate_set``).

``evaluate_nb`` reads a group of factor columns and the forward returns, rows sorted by (date,
symbol) with date segments ``seg`` (D + 1 offsets), and walks the dates once per factor (factors
in parallel), keeping per factor only small per-symbol state. Per (factor, date), over the
date's kept rows (finite value, every forward return finite):

* the percentile rank of the value (ties averaged: rank x (1 / n)) and its quantile
  ``ceil(rank / n * Q)`` clipped to ``[1, Q]`` (1 = lowest), as ``evaluation.factor_table``;
* IC (Pearson of value and return) and RankIC (Pearson of the value's and the return's ranks
  among the kept rows) per horizon, as ``evaluation.ic_table``;
* per quantile the sum and count of the chosen horizon's return (``quantile_daily``,
  ``top_excess``);
* per quantile the share of its names that were not in it on the previous date it had names
  (``turnover``), for every quantile (the top one is only known at the end);
* the Pearson correlation of the ranks with those of the previous date of the factor's table,
  over the symbols on both (``rank_autocorr``, lag 1).

Plain arrays in and out, NaN where a statistic is undefined; no labels.
"""
from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

_NB: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}


_SIGN = np.uint64(1) << np.uint64(63)
_BYTE = np.uint64(255)


@nb.njit(**_NB)
def radix_argsort(x: np.ndarray, order: np.ndarray, tmp: np.ndarray, keys: np.ndarray, ktmp: np.ndarray) -> None:
    """``order[:n]`` = an ordering of the finite float64 ``x`` (contiguous, length n) by value:
    an LSD radix sort on the order-preserving bit pattern (8 passes of one byte, a pass skipped
    where every key has the same byte), about 3x numba's ``argsort`` on a few hundred values.
    ``tmp``, ``keys``, ``ktmp``: scratch of at least n. Equal values end up adjacent (-0.0 just
    before 0.0)."""
    n = x.shape[0]
    bits = x.view(np.uint64)
    for i in range(n):
        b = bits[i]
        keys[i] = ~b if b >> np.uint64(63) else b | _SIGN
        order[i] = i
    count = np.empty(257, dtype=np.int64)
    src_k, dst_k, src_o, dst_o = keys, ktmp, order, tmp
    for p in range(8):
        shift = np.uint64(8 * p)
        count[:] = 0
        for i in range(n):
            count[((src_k[i] >> shift) & _BYTE) + 1] += 1
        if n == 0 or count[((src_k[0] >> shift) & _BYTE) + 1] == n:
            continue
        for j in range(256):
            count[j + 1] += count[j]
        for i in range(n):
            dgt = (src_k[i] >> shift) & _BYTE
            dst_k[count[dgt]] = src_k[i]
            dst_o[count[dgt]] = src_o[i]
            count[dgt] += 1
        src_k, dst_k = dst_k, src_k
        src_o, dst_o = dst_o, src_o
    if src_o is not order:
        order[:n] = src_o[:n]


@nb.njit(**_NB)
def avg_ranks(x: np.ndarray, out: np.ndarray) -> None:
    """1-based ranks of ``x`` (finite, contiguous) into ``out``, ties averaged (polars'
    ``rank("average")``)."""
    n = x.shape[0]
    order, tmp = np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64)
    radix_argsort(x, order, tmp, np.empty(n, dtype=np.uint64), np.empty(n, dtype=np.uint64))
    s = 0
    while s < n:
        e = s + 1
        while e < n and x[order[e]] == x[order[s]]:
            e += 1
        r = (s + 1 + e) / 2.0
        for k in range(s, e):
            out[order[k]] = r
        s = e


@nb.njit(**_NB)
def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation of two equally long arrays (two-pass); NaN when undefined (fewer than
    2 values, or either array constant: exactly, not up to the rounding of its mean)."""
    n = x.shape[0]
    if n < 2:
        return np.nan
    mx, my = 0.0, 0.0
    x_const, y_const = True, True
    for i in range(n):
        mx += x[i]
        my += y[i]
        x_const &= x[i] == x[0]
        y_const &= y[i] == y[0]
    if x_const or y_const:
        return np.nan
    mx /= n
    my /= n
    sxy, sxx, syy = 0.0, 0.0, 0.0
    for i in range(n):
        dx, dy = x[i] - mx, y[i] - my
        sxy += dx * dy
        sxx += dx * dx
        syy += dy * dy
    if sxx <= 0 or syy <= 0:
        return np.nan
    return sxy / math.sqrt(sxx * syy)


@nb.njit(**_NB)
def date_ret_order(rets: np.ndarray, ok: np.ndarray, seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per date and horizon, the date's rows with every return finite (``ok``) sorted by that
    return (stable): ``order`` ``(H, N)`` holds them at ``seg[d] .. seg[d] + n_ok[d] - 1``; and
    ``n_ok`` ``(D,)``. Every factor ranks its kept rows' returns by walking this order."""
    h_n, n = rets.shape
    order = np.full((h_n, n), -1, dtype=np.int64)
    n_ok = np.zeros(seg.shape[0] - 1, dtype=np.int64)
    for d in range(seg.shape[0] - 1):
        idx = np.flatnonzero(ok[seg[d]:seg[d + 1]]) + seg[d]
        n_ok[d] = idx.size
        buf = np.empty(idx.size)
        for h in range(h_n):
            for k in range(idx.size):
                buf[k] = rets[h, idx[k]]
            srt = np.argsort(buf, kind="mergesort")
            for k in range(idx.size):
                order[h, seg[d] + k] = idx[srt[k]]
    return order, n_ok


@nb.njit(**_NB)
def _ret_ranks(ret: np.ndarray, order: np.ndarray, slot: np.ndarray, a: int, out: np.ndarray) -> None:
    """Average ranks of the kept rows' returns among the kept rows, into ``out[slot]``: the
    date's sorted rows ``order`` walked once, skipping rows not kept (``slot[i - a] < 0``)."""
    pos, k, m = 0, 0, order.shape[0]
    while k < m:
        e, c = k, 0
        v = ret[order[k]]
        while e < m and ret[order[e]] == v:
            c += slot[order[e] - a] >= 0
            e += 1
        r = pos + (c + 1) / 2.0
        for j in range(k, e):
            s = slot[order[j] - a]
            if s >= 0:
                out[s] = r
        pos += c
        k = e


@nb.njit(parallel=True, **_NB)
def gather_nb(src: np.ndarray, rows: np.ndarray, dst: np.ndarray) -> None:
    """``dst[k] = src[rows[k]]`` as float64 (a factor column in (date, symbol) order)."""
    for k in nb.prange(rows.shape[0]):
        dst[k] = src[rows[k]]


#: ``si`` (int64 scalars of one factor's walk): kept rows today, non-finite values, values without
#: every return, the previous date of the factor's table
N, MISS_VALUE, MISS_RETURN, PREV_DATE = 0, 1, 2, 3


@nb.njit(parallel=True, **_NB)
def evaluate_nb(values: np.ndarray, rets: np.ndarray, ok: np.ndarray, order: np.ndarray, n_ok: np.ndarray,
                seg: np.ndarray, sym: np.ndarray, n_sym: int, pick: int, n_q: int) -> tuple[np.ndarray, ...]:
    """The per-date statistics of each factor row of ``values`` ``(F, N)`` (see the module doc).

    ``rets`` ``(H, N)``; ``ok`` ``(N,)`` every return finite; ``order``, ``n_ok`` from
    ``date_ret_order``;
    ``sym`` ``(N,)`` symbol codes < ``n_sym``; ``pick`` the horizon row of the quantile tables;
    ``n_q`` quantiles. Returns ``n`` (F, D) kept rows, ``ic`` and ``ric`` (F, H, D) (NaN with
    fewer than 3 rows), ``qsum`` and ``qcnt`` (F, D, Q), ``turn`` (F, Q, D) (NaN where
    undefined), ``auto`` (F, D) and ``has_auto`` (F, D) (dates with symbols on both dates), and
    ``counts`` (F, 2): non-finite values, finite values without every return.
    """
    f_n = values.shape[0]
    h_n, d_n = rets.shape[0], seg.shape[0] - 1
    big = 1
    for d in range(d_n):
        big = max(big, seg[d + 1] - seg[d])
    n_kept = np.zeros((f_n, d_n), dtype=np.int64)
    ic = np.full((f_n, h_n, d_n), np.nan)
    ric = np.full((f_n, h_n, d_n), np.nan)
    qsum = np.zeros((f_n, d_n, n_q))
    qcnt = np.zeros((f_n, d_n, n_q), dtype=np.int64)
    turn = np.full((f_n, n_q, d_n), np.nan)
    auto = np.full((f_n, d_n), np.nan)
    has_auto = np.zeros((f_n, d_n), dtype=np.bool_)
    counts = np.zeros((f_n, 2), dtype=np.int64)
    for f in nb.prange(f_n):
        si = np.zeros(4, dtype=np.int64)
        si[PREV_DATE] = -1
        work = np.empty((5, big))                     # values, ranks / n, ranks, scratch x2
        kept = np.empty((2, big), dtype=np.int64)     # row numbers, quantile - 1
        slot = np.full(big, -1, dtype=np.int64)       # per row of the date: its kept index, or -1
        last_in = np.full((n_q, n_sym), -1, dtype=np.int64)   # last date each symbol was in quantile q
        prev_q = np.full(n_q, -1, dtype=np.int64)              # last date quantile q had names
        seen = np.full(n_sym, -1, dtype=np.int64)              # last table date of each symbol
        seen_pct = np.zeros(n_sym)
        for d in range(d_n):
            a, b = seg[d], seg[d + 1]
            _keep(values[f], ok, a, b, work, kept, slot, si)
            n = si[N]
            n_kept[f, d] = n
            if n == 0:
                continue
            pct = _rank(work, kept, n, n_q)
            for h in range(h_n):
                _ret_ranks(rets[h], order[h, a:a + n_ok[d]], slot, a, work[4])
                ic[f, h, d], ric[f, h, d] = _ic(work, kept[0, :n], pct, rets[h], n)
                if n < 3:
                    ic[f, h, d], ric[f, h, d] = np.nan, np.nan
            _quantiles(rets[pick], kept, n, sym, d, qsum[f, d], qcnt[f, d], turn[f, :, d], last_in, prev_q)
            has_auto[f, d], auto[f, d] = _autocorr(pct, kept[0, :n], sym, d, work, seen, seen_pct, si)
        counts[f, 0] = si[MISS_VALUE]
        counts[f, 1] = si[MISS_RETURN]
    return n_kept, ic, ric, qsum, qcnt, turn, auto, has_auto, counts


@nb.njit(**_NB)
def _keep(x: np.ndarray, ok: np.ndarray, a: int, b: int, work: np.ndarray, kept: np.ndarray,
          slot: np.ndarray, si: np.ndarray) -> None:
    """The date's kept rows (finite value, every return finite) into ``kept[0]`` / ``work[0]``
    and their slots; counts the dropped ones."""
    n = 0
    for i in range(a, b):
        v = x[i]
        slot[i - a] = -1
        if not math.isfinite(v):
            si[MISS_VALUE] += 1
        elif not ok[i]:
            si[MISS_RETURN] += 1
        else:
            kept[0, n] = i
            work[0, n] = v
            slot[i - a] = n
            n += 1
    si[N] = n


@nb.njit(**_NB)
def _rank(work: np.ndarray, kept: np.ndarray, n: int, n_q: int) -> np.ndarray:
    """Percentile ranks (``work[1]``) and quantiles - 1 (``kept[1]``) of the kept values."""
    avg_ranks(work[0, :n], work[2, :n])
    inv = 1.0 / n  # rank x (1 / n), as polars divides by a scalar: the quantile edges match it
    for k in range(n):
        work[1, k] = work[2, k] * inv
        kept[1, k] = min(max(math.ceil(work[1, k] * n_q), 1), n_q) - 1
    return work[1, :n]


@nb.njit(**_NB)
def _ic(work: np.ndarray, idx: np.ndarray, pct: np.ndarray, ret: np.ndarray, n: int) -> tuple[float, float]:
    """IC and RankIC of one horizon (the returns' ranks are in ``work[4]``)."""
    y = work[3, :n]
    for k in range(n):
        y[k] = ret[idx[k]]
    return pearson(work[0, :n], y), pearson(pct, work[4, :n])


@nb.njit(**_NB)
def _quantiles(ret: np.ndarray, kept: np.ndarray, n: int, sym: np.ndarray, d: int, qsum: np.ndarray,
               qcnt: np.ndarray, turn: np.ndarray, last_in: np.ndarray, prev_q: np.ndarray) -> None:
    """Quantile sums and counts, then each quantile's turnover against its previous date."""
    was = np.zeros(qsum.shape[0], dtype=np.int64)
    for k in range(n):
        i, q = kept[0, k], kept[1, k]
        qsum[q] += ret[i]
        qcnt[q] += 1
        if prev_q[q] >= 0 and last_in[q, sym[i]] == prev_q[q]:
            was[q] += 1
    for q in range(qsum.shape[0]):
        if qcnt[q] > 0:
            if prev_q[q] >= 0:
                turn[q] = 1.0 - was[q] / qcnt[q]
            prev_q[q] = d
    for k in range(n):
        last_in[kept[1, k], sym[kept[0, k]]] = d


@nb.njit(**_NB)
def _autocorr(pct: np.ndarray, idx: np.ndarray, sym: np.ndarray, d: int, work: np.ndarray, seen: np.ndarray,
              seen_pct: np.ndarray, si: np.ndarray) -> tuple[bool, float]:
    """Correlation of today's ranks with the previous table date's over symbols on both; then
    today becomes the previous date."""
    n, m = pct.shape[0], 0
    a, b = work[3], work[4]
    if si[PREV_DATE] >= 0:
        for k in range(n):
            s = sym[idx[k]]
            if seen[s] == si[PREV_DATE]:
                a[m] = pct[k]
                b[m] = seen_pct[s]
                m += 1
    out = pearson(a[:m], b[:m]) if m > 0 else np.nan
    for k in range(n):
        seen[sym[idx[k]]] = d
        seen_pct[sym[idx[k]]] = pct[k]
    si[PREV_DATE] = d
    return m > 0, out
