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


@nb.njit(**_NB)
def avg_ranks(x: np.ndarray, out: np.ndarray) -> None:
    """1-based ranks of ``x`` (finite) into ``out``, ties averaged (polars' ``rank("average")``)."""
    n = x.shape[0]
    order = np.argsort(x, kind="mergesort")
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
def date_ret_ranks(rets: np.ndarray, ok: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """``(H, N)``: each row's return rank among its date's rows where every return is finite
    (``ok``); NaN elsewhere. Reused by every factor whose kept rows are all of them."""
    h_n, n = rets.shape
    out = np.full((h_n, n), np.nan)
    for d in range(seg.shape[0] - 1):
        idx = np.flatnonzero(ok[seg[d]:seg[d + 1]]) + seg[d]
        if idx.size == 0:
            continue
        buf, rk = np.empty(idx.size), np.empty(idx.size)
        for h in range(h_n):
            for k in range(idx.size):
                buf[k] = rets[h, idx[k]]
            avg_ranks(buf, rk)
            for k in range(idx.size):
                out[h, idx[k]] = rk[k]
    return out


#: ``si`` (int64 scalars of one factor's walk): kept rows today, non-finite values, values without
#: every return, the previous date of the factor's table
N, MISS_VALUE, MISS_RETURN, PREV_DATE = 0, 1, 2, 3


@nb.njit(parallel=True, **_NB)
def evaluate_nb(values: np.ndarray, rets: np.ndarray, ok: np.ndarray, rret: np.ndarray, seg: np.ndarray,
                sym: np.ndarray, n_sym: int, pick: int, n_q: int) -> tuple[np.ndarray, ...]:
    """The per-date statistics of each factor row of ``values`` ``(F, N)`` (see the module doc).

    ``rets`` ``(H, N)``; ``ok`` ``(N,)`` every return finite; ``rret`` from ``date_ret_ranks``;
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
        last_in = np.full((n_q, n_sym), -1, dtype=np.int64)   # last date each symbol was in quantile q
        prev_q = np.full(n_q, -1, dtype=np.int64)              # last date quantile q had names
        seen = np.full(n_sym, -1, dtype=np.int64)              # last table date of each symbol
        seen_pct = np.zeros(n_sym)
        for d in range(d_n):
            _keep(values[f], ok, seg[d], seg[d + 1], work, kept, si)
            n = si[N]
            n_kept[f, d] = n
            if n == 0:
                continue
            pct = _rank(work, kept, n, n_q)
            all_ok = n == np.sum(ok[seg[d]:seg[d + 1]])
            for h in range(h_n):
                ic[f, h, d], ric[f, h, d] = _ic(work, kept[0, :n], pct, rets[h], rret[h], n, all_ok)
                if n < 3:
                    ic[f, h, d], ric[f, h, d] = np.nan, np.nan
            _quantiles(rets[pick], kept, n, sym, d, qsum[f, d], qcnt[f, d], turn[f, :, d], last_in, prev_q)
            has_auto[f, d], auto[f, d] = _autocorr(pct, kept[0, :n], sym, d, work, seen, seen_pct, si)
        counts[f, 0] = si[MISS_VALUE]
        counts[f, 1] = si[MISS_RETURN]
    return n_kept, ic, ric, qsum, qcnt, turn, auto, has_auto, counts


@nb.njit(**_NB)
def _keep(x: np.ndarray, ok: np.ndarray, a: int, b: int, work: np.ndarray, kept: np.ndarray,
          si: np.ndarray) -> None:
    """The date's kept rows (finite value, every return finite) into ``kept[0]`` / ``work[0]``;
    counts the dropped ones."""
    n = 0
    for i in range(a, b):
        v = x[i]
        if not math.isfinite(v):
            si[MISS_VALUE] += 1
        elif not ok[i]:
            si[MISS_RETURN] += 1
        else:
            kept[0, n] = i
            work[0, n] = v
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
def _ic(work: np.ndarray, idx: np.ndarray, pct: np.ndarray, ret: np.ndarray, rret: np.ndarray, n: int,
        all_ok: bool) -> tuple[float, float]:
    """IC and RankIC of one horizon; the returns' ranks are precomputed when the kept rows are
    all the date's rows with returns."""
    y, r = work[3, :n], work[4, :n]
    for k in range(n):
        y[k] = ret[idx[k]]
    if all_ok:
        for k in range(n):
            r[k] = rret[idx[k]]
    else:
        avg_ranks(y, r)
    return pearson(work[0, :n], y), pearson(pct, r)


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
