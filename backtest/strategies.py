"""Strategies: turn scores (and current holdings) into target weights. No execution here.

* :func:`topk_dropout_nb` - qlib's TopkDropout choice of names to sell and to buy.
* :func:`topk_weights_nb` - weights of the names held after a dropout step (equal or by score).
* :func:`benchmark_tilt` - benchmark (CSI 500) weights tilted by score within an active limit.

Weights are fractions of NAV; arrays are one cross-section (length N symbols), NaN score = no score.
"""
from __future__ import annotations

import numpy as np
import polars as pl
from numba import njit

EQUAL, SCORE = 0, 1


@njit(cache=True)
def rank_desc_nb(values: np.ndarray) -> np.ndarray:
    """Column indices sorted by value descending, ties by index ascending, NaN last."""
    key = np.empty(values.shape[0])
    for j in range(values.shape[0]):
        key[j] = np.inf if np.isnan(values[j]) else -values[j]
    return np.argsort(key, kind="mergesort")


@njit(cache=True)
def topk_dropout_nb(scores: np.ndarray, held: np.ndarray, k: int, n_drop: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(sell mask, buy columns best first) for one rebalance, qlib TopkDropout semantics.

    ``scores``: (N,) float, NaN = not scored (never bought; a held name without score ranks
    last). ``held``: (N,) bool. Candidates are the best ``n_drop + k - |held|`` names not held;
    the held names among the ``n_drop`` worst of (held + candidates) are sold; the best
    ``|sold| + k - |held|`` candidates are bought. ``n_drop = 0`` sells nothing.
    """
    n = scores.shape[0]
    order = rank_desc_nb(scores)
    n_held = 0
    for j in range(n):
        if held[j]:
            n_held += 1
    n_today = max(n_drop + k - n_held, 0)
    today = np.empty(n, dtype=np.int64)
    in_comb = held.copy()
    m = 0
    for j in order:
        if m >= n_today:
            break
        if not held[j] and not np.isnan(scores[j]):
            today[m] = j
            in_comb[j] = True
            m += 1
    sell = np.zeros(n, dtype=np.bool_)
    n_sell = 0
    if n_drop > 0:
        # the n_drop worst of the combined list, walking the ranking from the bottom
        left = n_drop
        for r in range(n - 1, -1, -1):
            if left == 0:
                break
            j = order[r]
            if in_comb[j]:
                left -= 1
                if held[j]:
                    sell[j] = True
                    n_sell += 1
    n_buy = min(max(n_sell + k - n_held, 0), m)
    return sell, today[:n_buy].copy()


@njit(cache=True)
def topk_weights_nb(scores: np.ndarray, final: np.ndarray, k: int, weighting: int) -> np.ndarray:
    """Target weights (N,) of the names in ``final``: 1/k each (``EQUAL``), or (``SCORE``)
    proportional to score minus the cross-section's lowest score, summing to |final|/k.

    Names without a score get the smallest weight (0 above the minimum); an all-zero sum falls
    back to equal weights.
    """
    n = scores.shape[0]
    w = np.zeros(n)
    n_final = 0
    for j in range(n):
        if final[j]:
            n_final += 1
    if n_final == 0:
        return w
    if weighting == EQUAL:
        for j in range(n):
            if final[j]:
                w[j] = 1.0 / k
        return w
    lo = np.inf
    for j in range(n):
        if not np.isnan(scores[j]) and scores[j] < lo:
            lo = scores[j]
    total = 0.0
    for j in range(n):
        if final[j] and not np.isnan(scores[j]):
            w[j] = scores[j] - lo
            total += w[j]
    scale = n_final / k
    for j in range(n):
        if final[j]:
            w[j] = w[j] / total * scale if total > 0 else 1.0 / k
    return w


@njit(cache=True)
def tilt_nb(bench: np.ndarray, z: np.ndarray, limit: float) -> np.ndarray:
    """One date's tilted weights: ``clip(b + limit*tanh(z) - c, max(b - limit, 0), b + limit)``
    with the shift ``c`` found by bisection so the weights sum to 1 (``bench`` sums to 1).

    Every stock's active weight |w - b| stays within ``limit``; no shorting.
    """
    lo = np.maximum(bench - limit, 0.0)
    hi = bench + limit
    raw = bench + limit * np.tanh(z)
    a, b = -1.0 - limit, 1.0 + limit
    for _ in range(100):
        c = 0.5 * (a + b)
        if np.minimum(np.maximum(raw - c, lo), hi).sum() > 1.0:
            a = c
        else:
            b = c
    return np.minimum(np.maximum(raw - 0.5 * (a + b), lo), hi)


@njit(cache=True)
def tilt_segments_nb(starts: np.ndarray, bench: np.ndarray, z: np.ndarray, limit: float) -> np.ndarray:
    """:func:`tilt_nb` over consecutive date segments ``[starts[d], starts[d+1])`` of flat arrays."""
    out = np.empty_like(bench)
    for d in range(starts.shape[0] - 1):
        a, b = starts[d], starts[d + 1]
        out[a:b] = tilt_nb(bench[a:b], z[a:b], limit)
    return out


def benchmark_tilt(membership: pl.DataFrame, scores: pl.DataFrame, active_limit: float) -> pl.DataFrame:
    """Benchmark-relative targets: [date, symbol, weight] from [date, symbol, weight] members
    and [date, symbol, score] scores.

    Per date: member weights are normalised to sum 1 (null weights -> equal), scores are
    z-scored across members (a member without a score gets z = 0, i.e. its benchmark weight),
    and :func:`tilt_nb` moves each weight by at most ``active_limit`` while keeping the sum 1.
    Only dates that have scores are returned.
    """
    score_dates = scores.select(pl.col("date").unique())
    df = (
        membership.join(score_dates, on="date", how="semi")
        .join(scores.select("date", "symbol", "score"), on=["date", "symbol"], how="left")
        .sort("date", "symbol")
        .with_columns(pl.col("weight").fill_null(1.0))
        .with_columns(
            (pl.col("weight") / pl.col("weight").sum().over("date")).alias("bench"),
            ((pl.col("score") - pl.col("score").mean().over("date"))
             / pl.col("score").std().over("date")).fill_nan(0.0).fill_null(0.0).alias("z"),
        )
    )
    if df.height == 0:
        return pl.DataFrame(schema={"date": pl.Date, "symbol": pl.Utf8, "weight": pl.Float64})
    counts = df.group_by("date", maintain_order=True).len()["len"].to_numpy()
    starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    w = tilt_segments_nb(starts, df["bench"].to_numpy().astype(np.float64),
                         df["z"].to_numpy().astype(np.float64), float(active_limit))
    return df.select("date", "symbol", pl.Series("weight", w))
