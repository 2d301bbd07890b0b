"""Strategy kernels: turn scores (and current holdings) into target weights. No execution, no I/O.

The backtest engine (``flyer.backtest.engine.plan_nb``) and tomorrow's orders
(``flyer.backtest.orders.targets``) both call :func:`target_weights_nb`; the strategies
themselves are objects in ``flyer.backtest.strategy`` (a protocol and a registry), each naming
the kernel mode it trades with (``MODE_TOPK``: names chosen here; ``MODE_WEIGHTS``: towards
per-date weights the strategy planned).

* :func:`topk_dropout_nb` - qlib's TopkDropout choice of names to sell and to buy.
* :func:`topk_weights_nb` - weights of the names held after a dropout step (equal or by score).
* :func:`benchmark_tilt` - benchmark (CSI 500) weights tilted by score within an active limit.

Weights are fractions of NAV; arrays are one cross-section (length N symbols), NaN score = no score.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Sequence

import numpy as np
import polars as pl
from numba import njit

EQUAL, SCORE = 0, 1                  # topk weighting codes
MODE_TOPK, MODE_WEIGHTS = 0, 1       # kernel modes: top-k dropout, trade towards given weights


#: seed of the tie-breaking keys (fixed: the same scores always give the same picks)
TIE_SEED = 17


def hash_keys(labels: Sequence[object]) -> np.ndarray:
    """(len,) uint64 keys of ``labels`` (symbols, or dates): a seeded hash of each label's text,
    the same in every process and independent of the labels' order."""
    return np.array([int.from_bytes(hashlib.blake2b(f"{TIE_SEED}:{x}".encode(), digest_size=8).digest(), "little")
                     for x in labels], dtype=np.uint64)


@njit(cache=True)
def tie_keys_nb(sym_keys: np.ndarray, day_key: np.uint64) -> np.ndarray:
    """(N,) uint64 tie-breaking keys of one day: splitmix64 of ``sym_keys ^ day_key``, so a
    tie between two names is decided afresh (at random, reproducibly) every day."""
    out = np.empty(sym_keys.shape[0], dtype=np.uint64)
    for j in range(sym_keys.shape[0]):
        z = (sym_keys[j] ^ day_key) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        out[j] = z ^ (z >> np.uint64(31))
    return out


def tie_keys(symbols: Sequence[str], date: dt.date) -> dict[str, int]:
    """``{symbol: tie key}`` of one date (``tie_keys_nb``): the order the engine gives equal scores."""
    keys = tie_keys_nb(hash_keys(symbols), hash_keys([date])[0])
    return {s: int(k) for s, k in zip(symbols, keys)}


@njit(cache=True)
def rank_desc_nb(values: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """Column indices sorted by value descending, NaN last; equal values ordered by ``tie``
    ((N,) uint64 keys, ``tie_keys_nb``), never by column (i.e. ticker) order (equal tie keys,
    a hash collision: by column).

    Sorted in two blocks with a stable radix sort (``radix_order_nb``): the names with a finite
    sort key (-value) by key, runs of equal keys by tie; then the rest (NaN, or a -inf value:
    key +inf, all tied) by tie. The same order as a stable sort by (key, tie, column)."""
    n = values.shape[0]
    key = np.empty(n)
    n_fin = 0
    for j in range(n):
        k = np.inf if np.isnan(values[j]) else -values[j]
        key[j] = 0.0 if k == 0 else k      # -0.0 and 0.0 are one key
        if k < np.inf:
            n_fin += 1
    fin, rest = np.empty(n_fin, dtype=np.int64), np.empty(n - n_fin, dtype=np.int64)
    a = b = 0
    for j in range(n):
        if key[j] < np.inf:
            fin[a] = j
            a += 1
        else:
            rest[b] = j
            b += 1
    bits = key.view(np.uint64)
    sortable = np.where(bits >> np.uint64(63) == 1, ~bits, bits | np.uint64(1 << 63))
    order = np.empty(n, dtype=np.int64)
    order[:n_fin] = radix_order_nb(sortable, fin)
    order[n_fin:] = radix_order_nb(tie, rest)
    a = 0
    while a < n_fin:
        b = a + 1
        while b < n_fin and key[order[b]] == key[order[a]]:
            b += 1
        if b - a > 1:  # a run of equal scores: order it by the day's tie keys
            order[a:b] = radix_order_nb(tie, order[a:b].copy())
        a = b
    return order


@njit(cache=True)
def radix_order_nb(keys: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """``idx`` stably sorted by ``keys[idx]`` (uint64): LSD radix sort, 8 bits a pass, a pass
    skipped when every key has the same byte there."""
    n = idx.shape[0]
    src, dst = idx.copy(), np.empty(n, dtype=np.int64)
    count = np.empty(257, dtype=np.int64)
    for p in range(8):
        shift = np.uint64(8 * p)
        count[:] = 0
        for r in range(n):
            count[((keys[src[r]] >> shift) & np.uint64(255)) + 1] += 1
        if n == 0 or count.max() == n:
            continue
        for d in range(256):
            count[d + 1] += count[d]
        for r in range(n):
            d = (keys[src[r]] >> shift) & np.uint64(255)
            dst[count[d]] = src[r]
            count[d] += 1
        src, dst = dst, src
    return src


@njit(cache=True)
def topk_dropout_nb(scores: np.ndarray, order: np.ndarray, held: np.ndarray, k: int, n_drop: int
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(sell mask, buy columns best first) for one rebalance, qlib TopkDropout semantics.

    ``scores``: (N,) float, NaN = not scored (never bought; a held name without score ranks
    last); ``order``: ``rank_desc_nb(scores, tie)`` (the caller has it already). ``held``: (N,) bool. Candidates are the best ``n_drop + k - |held|`` names not held;
    the held names among the ``n_drop`` worst of (held + candidates) are sold; the best
    ``|sold| + k - |held|`` candidates are bought. ``n_drop = 0`` sells nothing.
    """
    n = scores.shape[0]
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


@njit(cache=True)
def target_weights_nb(scores: np.ndarray, order: np.ndarray, held: np.ndarray, weights: np.ndarray,
                      mode: int, k: int, n_drop: int, weighting: int, rebalance_kept: bool
                      ) -> tuple[np.ndarray, np.ndarray]:
    """One rebalance of one portfolio: (weight (N,), trade (N,) bool).

    ``scores``: (N,) signal (NaN = none); ``order``: ``rank_desc_nb(scores, tie)``; ``held``: (N,)
    bool names held (and still listed);
    ``weights``: (N,) given target weights of a ``MODE_WEIGHTS`` strategy (NaN = 0; ignored by
    top-k); ``mode`` ``MODE_TOPK`` / ``MODE_WEIGHTS``, ``k``, ``n_drop``, ``weighting`` (``EQUAL`` /
    ``SCORE``), ``rebalance_kept``: one portfolio's settings (``flyer.backtest.params.Params``
    row). ``weight`` is each name's target
    fraction of NAV (0 = sell out); ``trade[j]`` says whether name j moves to its weight
    (False: leave the holding as it is, e.g. a kept top-k name without ``rebalance_kept``).
    """
    n = scores.shape[0]
    trade = np.empty(n, dtype=np.bool_)
    if mode == MODE_TOPK:
        sell, buy = topk_dropout_nb(scores, order, held, k, n_drop)
        final = held & ~sell
        for j in buy:
            final[j] = True
        w = topk_weights_nb(scores, final, k, weighting)
        kept = rebalance_kept
        for j in range(n):
            trade[j] = sell[j] or (final[j] and (kept or not held[j]))
        return w, trade
    w = np.zeros(n)
    for j in range(n):
        if weights[j] > 0:
            w[j] = weights[j]
        trade[j] = held[j] or weights[j] > 0
    return w, trade
