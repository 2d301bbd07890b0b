"""Numba kernels of the miner: per-date rank IC and rank signatures on (T, N) matrices.

Inputs are float64 matrices with NaN for missing values (inf is treated as missing). Ranks are
average ranks over the entries valid on that date (ties share their mean rank).
"""
from __future__ import annotations

import numba as nb
import numpy as np


@nb.njit(cache=True)
def _avg_ranks_nb(v: np.ndarray) -> np.ndarray:
    """Average ranks (0-based) of a 1-D array without NaN."""
    return _ranks_in_order_nb(v, np.argsort(v))


@nb.njit(cache=True)
def _ranks_in_order_nb(v: np.ndarray, order: np.ndarray) -> np.ndarray:
    """Average ranks of ``v`` given ``order``, the permutation that sorts it."""
    n = v.size
    r = np.empty(n)
    i = 0
    while i < n:
        j = i
        while j + 1 < n and v[order[j + 1]] == v[order[i]]:
            j += 1
        mean = 0.5 * (i + j)
        for k in range(i, j + 1):
            r[order[k]] = mean
        i = j + 1
    return r


@nb.njit(cache=True)
def _pearson_nb(a: np.ndarray, b: np.ndarray) -> float:
    ma, mb = a.mean(), b.mean()
    sab = saa = sbb = 0.0
    for k in range(a.size):
        da, db = a[k] - ma, b[k] - mb
        sab += da * db
        saa += da * da
        sbb += db * db
    if saa <= 0.0 or sbb <= 0.0:
        return np.nan
    return sab / np.sqrt(saa * sbb)


@nb.njit(cache=True)
def label_order_nb(y: np.ndarray) -> np.ndarray:
    """Per date, the symbols with a finite ``y`` sorted by ``y`` (padded with -1) -> (T, N) int32.

    Computed once per panel so that ``rank_ic_nb`` sorts only the factor.
    """
    out = np.full(y.shape, -1, dtype=np.int32)
    for t in range(y.shape[0]):
        keep = np.flatnonzero(np.isfinite(y[t]))
        o = keep[np.argsort(y[t, keep])]
        out[t, :o.size] = o
    return out


@nb.njit(cache=True)
def rank_ic_nb(f: np.ndarray, y: np.ndarray, idx: np.ndarray, min_n: int,
               y_order: np.ndarray) -> np.ndarray:
    """Spearman correlation of ``f[t]`` and ``y[t]`` for each date ``t`` in ``idx`` -> (len(idx),).

    ``y_order``: ``label_order_nb(y)``. NaN where fewer than ``min_n`` symbols have both values
    or either side is constant.
    """
    out = np.full(idx.size, np.nan)
    n_sym = f.shape[1]
    for k in range(idx.size):
        t = idx[k]
        # symbols with both values, in label order
        m = 0
        keep = np.empty(n_sym, dtype=np.int64)
        for q in range(n_sym):
            j = y_order[t, q]
            if j < 0:
                break
            if np.isfinite(f[t, j]):
                keep[m] = j
                m += 1
        if m < min_n:
            continue
        a, b = np.empty(m), np.empty(m)
        for q in range(m):
            a[q], b[q] = f[t, keep[q]], y[t, keep[q]]
        rb = _ranks_in_order_nb(b, np.arange(m))
        out[k] = _pearson_nb(_avg_ranks_nb(a), rb)
    return out


@nb.njit(cache=True)
def rank_signature_nb(f: np.ndarray, y: np.ndarray, idx: np.ndarray, min_n: int) -> np.ndarray:
    """Centred ranks of ``f`` scaled to unit norm per date, on the dates ``idx`` -> (len(idx), N) float32.

    Entries without a value (or without a label) are 0; a date with fewer than ``min_n``
    values, or a constant one, is all 0. The mean over dates of the row dot products of two
    signatures approximates the mean cross-sectional rank correlation of the two factors.
    """
    n_sym = f.shape[1]
    out = np.zeros((idx.size, n_sym), dtype=np.float32)
    for k in range(idx.size):
        t = idx[k]
        keep = np.empty(n_sym, dtype=np.int64)
        m = 0
        for j in range(n_sym):
            if np.isfinite(f[t, j]) and np.isfinite(y[t, j]):
                keep[m] = j
                m += 1
        if m < min_n:
            continue
        a = np.empty(m)
        for q in range(m):
            a[q] = f[t, keep[q]]
        r = _avg_ranks_nb(a)
        r = r - r.mean()
        norm = np.sqrt((r * r).sum())
        if norm <= 0.0:
            continue
        for q in range(m):
            out[k, keep[q]] = r[q] / norm
    return out
