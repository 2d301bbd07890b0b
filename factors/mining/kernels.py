"""Numba kernels of the miner on cell vectors (plain arrays in, arrays out, no labels).

A cell vector holds one value per evaluation cell (a member with a label on an evaluation
date), ordered by date; ``seg`` (D + 1,) are the offsets of each date's cells. NaN (and inf)
mark missing values. Ranks are average ranks (ties share their mean rank).
"""
from __future__ import annotations

import numba as nb
import numpy as np

RANK, ZSCORE = 0, 1


@nb.njit(cache=True)
def _avg_ranks_nb(v: np.ndarray) -> np.ndarray:
    """Average ranks (0-based) of a 1-D array without NaN."""
    n = v.size
    order = np.argsort(v)
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
def standardize_nb(x: np.ndarray, seg: np.ndarray, mode: int) -> tuple[np.ndarray, np.ndarray]:
    """Per date, the finite values standardised to mean 0 and (population) sd 1 -> (z, n_finite).

    ``mode`` RANK: the values' average ranks are standardised; ZSCORE: the values themselves.
    Missing values, and every value of a date with fewer than 2 finite or constant values,
    become 0 (the mean). ``z``: (C,) float64; ``n_finite``: (D,) int64.
    """
    z = np.zeros(x.size)
    nfin = np.zeros(seg.size - 1, dtype=np.int64)
    for d in range(seg.size - 1):
        a, b = seg[d], seg[d + 1]
        idx = np.empty(b - a, dtype=np.int64)
        m = 0
        for i in range(a, b):
            if np.isfinite(x[i]):
                idx[m] = i
                m += 1
        nfin[d] = m
        if m < 2:
            continue
        v = np.empty(m)
        for q in range(m):
            v[q] = x[idx[q]]
        if mode == RANK:
            v = _avg_ranks_nb(v)
        mu = v.mean()
        sd = np.sqrt(((v - mu) ** 2).mean())
        if not sd > 0.0:
            continue
        for q in range(m):
            z[idx[q]] = (v[q] - mu) / sd
    return z, nfin


@nb.njit(cache=True)
def segment_means_nb(z: np.ndarray, target: np.ndarray, members: np.ndarray, seg: np.ndarray) -> np.ndarray:
    """Per date, the means over its cells of ``z * target``, ``z * z`` and ``z * members[j]``
    -> (D, 2 + k) float64.

    ``z``, ``target``: (C,) float64 standardised cell vectors; ``members``: (k, C) float32.
    """
    n_seg, k = seg.size - 1, members.shape[0]
    out = np.zeros((n_seg, 2 + k))
    for d in range(n_seg):
        a, b = seg[d], seg[d + 1]
        if b <= a:
            continue
        sy = sz = 0.0
        for c in range(a, b):
            sy += z[c] * target[c]
            sz += z[c] * z[c]
        out[d, 0], out[d, 1] = sy / (b - a), sz / (b - a)
        for j in range(k):
            s = 0.0
            row = members[j]
            for c in range(a, b):
                s += z[c] * row[c]
            out[d, 2 + j] = s / (b - a)
    return out


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
def daily_ic_nb(x: np.ndarray, y: np.ndarray, seg: np.ndarray, min_n: int) -> np.ndarray:
    """Per date, Pearson IC and Spearman RankIC of ``x`` and ``y`` over the cells where both
    are finite -> (D, 2) float64 (NaN with fewer than ``min_n`` pairs or a constant side)."""
    out = np.full((seg.size - 1, 2), np.nan)
    for d in range(seg.size - 1):
        a, b = seg[d], seg[d + 1]
        xs, ys = np.empty(b - a), np.empty(b - a)
        m = 0
        for i in range(a, b):
            if np.isfinite(x[i]) and np.isfinite(y[i]):
                xs[m], ys[m] = x[i], y[i]
                m += 1
        if m < min_n:
            continue
        xs, ys = xs[:m], ys[:m]
        out[d, 0] = _pearson_nb(xs, ys)
        out[d, 1] = _pearson_nb(_avg_ranks_nb(xs), _avg_ranks_nb(ys))
    return out
