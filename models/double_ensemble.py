"""DoubleEnsemble: sample re-weighting by loss curve and feature selection by shuffling.

Zhang et al. 2020, "DoubleEnsemble: A New Ensemble Method Based on Sample Reweighting and
Feature Selection for Financial Data Analysis" (ICDM), as qlib implements it
(``qlib.contrib.model.double_ensemble.DEnsembleModel``). K sub-models are fitted one after
another; sub-model k sees sample weights ``w_k`` and a feature subset ``F_k`` (``w_0 = 1``,
``F_0`` = all). After sub-model k (k < K-1):
  1. ``loss_curve_ends``: each training sample's squared error after every boosting round of
     sub-model k, ranked across samples per round (fractions of N); ``l_start`` / ``l_end`` the
     means over the first / last 10 % of rounds;
  2. the ensemble so far, ``sum_j sub_weights[j] f_j / sum_j sub_weights[j]`` over j <= k, and its
     loss per sample (squared error);
  3. ``sample_weights`` (SR): ``h = alpha1 rank(-loss) + alpha2 rank(l_end / l_start)``, cut into
     ``bins_sr`` equal-width bins; a sample's weight is ``1 / (decay^(k+1) * mean h of its bin
     + 0.1)``: high-loss samples and samples whose loss fell little gain weight, more so for
     later sub-models;
  4. ``shuffle_gains`` and ``select_features`` (FS): feature f's gain ``g_f = mean(d) / (std(d) +
     1e-7)`` with d the ensemble's loss with column f permuted minus its loss; g cut into
     ``bins_fs`` equal-width bins; from the highest non-empty bin down, a fraction
     ``sample_ratios[b]`` of each bin's features (rounded up) is drawn without replacement.
The score is the sub-models' ``sub_weights``-weighted mean.

Deliberate differences from qlib's code (each recorded in the learner's info): one seeded RNG
(qlib draws from numpy's global state); features kept in column order (qlib rebuilds them as a
Python set); the shuffled ensemble in FS is weighted by ``sub_weights`` like the loss it is
compared with (qlib averages the shuffled sub-models equally); the shuffles run on a seeded
sample of at most ``fs_rows`` training rows (0: all, as qlib). This module holds the numeric
steps (plain arrays); ``flyer.models.dens_learner`` wraps them as a ``Learner``.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

#: per-kind defaults: qlib's workflow_config_doubleensemble_Alpha158.yaml (LightGBM sub-models of
#: 28 rounds at learning rate 0.2, qlib's tree shape; its ``subsample`` without a bagging
#: frequency is ignored by LightGBM, as in qlib), plus ``fs_rows`` (flyer: shuffles on a sample)
DEFAULTS: dict[str, Any] = {
    "num_models": 6, "enable_sr": True, "enable_fs": True, "alpha1": 1.0, "alpha2": 1.0, "bins_sr": 10,
    "bins_fs": 5, "decay": 0.5, "sample_ratios": [0.8, 0.7, 0.6, 0.5, 0.4],
    "sub_weights": [1.0, 0.2, 0.2, 0.2, 0.2, 0.2], "num_boost_round": 28, "fs_rows": 200_000,
    "learning_rate": 0.2, "num_leaves": 210, "max_depth": 8, "colsample_bytree": 0.8879, "subsample": 0.8789,
    "lambda_l1": 205.6999, "lambda_l2": 580.9768,
}
#: the DoubleEnsemble settings; every other parameter goes to the LightGBM sub-models
OWN = ("num_models", "enable_sr", "enable_fs", "alpha1", "alpha2", "bins_sr", "bins_fs", "decay",
       "sample_ratios", "sub_weights", "num_boost_round", "fs_rows")
CURVE_PART = 0.1   # share of the boosting rounds behind l_start and l_end
WEIGHT_FLOOR = 0.1  # the + 0.1 in 1 / (decay^k * h + 0.1)

#: one fitted sub-model as the ensemble step sees it: (feature columns, predict(x_cols) -> (n,), weight)
SubModel = tuple[np.ndarray, Callable[[np.ndarray], np.ndarray], float]


def params_problem(params: Mapping[str, Any]) -> str | None:
    """What is wrong with DoubleEnsemble ``params`` (one line), or None."""
    try:
        return _problem(params)
    except (TypeError, ValueError) as exc:
        return f"bad parameter value ({exc})"


def _problem(params: Mapping[str, Any]) -> str | None:
    k, bins_fs = params.get("num_models"), params.get("bins_fs")
    checks = [
        (isinstance(k, int) and not isinstance(k, bool) and k >= 1, f"num_models must be an integer >= 1, got {k!r}"),
        (isinstance(bins_fs, int) and bins_fs >= 1, f"bins_fs must be an integer >= 1, got {bins_fs!r}"),
        (isinstance(params.get("bins_sr"), int) and params["bins_sr"] >= 1, "bins_sr must be an integer >= 1"),
        (len(params.get("sample_ratios", ())) == bins_fs, f"sample_ratios needs bins_fs = {bins_fs} values"),
        (all(0 < float(r) <= 1 for r in params.get("sample_ratios", ())), "sample_ratios must be in (0, 1]"),
        (len(params.get("sub_weights", ())) == k, f"sub_weights needs num_models = {k} values"),
        (all(float(w) >= 0 for w in params.get("sub_weights", ())) and sum(map(float, params.get("sub_weights", ()))) > 0,
         "sub_weights must be >= 0 with a positive sum"),
        (0 < float(params.get("decay", 0)) <= 1, f"decay must be in (0, 1], got {params.get('decay')!r}"),
        (int(params.get("num_boost_round", 0)) >= 1, "num_boost_round must be >= 1"),
        (int(params.get("fs_rows", 0)) >= 0, "fs_rows must be >= 0 (0 = every training row)"),
    ]
    return next((msg for ok, msg in checks if not ok), None)


def rank_pct(values: np.ndarray) -> np.ndarray:
    """(n,) average rank / n of each value (ties share their mean rank; pandas'
    ``rank(pct=True)``), in (0, 1]."""
    v = np.asarray(values, dtype=np.float64)
    n = v.size
    order = np.argsort(v, kind="mergesort")
    s = v[order]
    starts = np.flatnonzero(np.concatenate([[True], s[1:] != s[:-1]]))
    counts = np.diff(np.append(starts, n))
    out = np.empty(n)
    out[order] = np.repeat(starts + (counts + 1) / 2.0, counts)
    return out / n


def equal_width_bins(values: np.ndarray, bins: int) -> np.ndarray:
    """(n,) int64 bin of each value among ``bins`` equal-width bins over [min, max], right-closed
    (pandas' ``cut(values, bins)``: a value on an inner edge falls in the lower bin); 0 for all
    when the values are constant."""
    v = np.asarray(values, dtype=np.float64)
    lo, hi = float(v.min()), float(v.max())
    if not hi > lo:
        return np.zeros(v.size, dtype=np.int64)
    edges = np.linspace(lo, hi, bins + 1)
    return np.searchsorted(edges[1:-1], v, side="left").astype(np.int64)


def loss_curve_ends(round_preds: Callable[[int], np.ndarray], n_rounds: int, y: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(l_start, l_end), each (N,): the mean over the first / last ``max(int(0.1 T), 1)`` of the
    T = ``n_rounds`` rounds of each sample's loss rank (``rank_pct`` across samples of the squared
    error of the prediction summed up to that round). ``round_preds(t)``: (N,) output of round t
    alone (qlib: ``booster.predict(x, start_iteration=t, num_iteration=1)``)."""
    part = max(int(n_rounds * CURVE_PART), 1)
    pred = np.zeros(y.size)
    start, end = np.zeros(y.size), np.zeros(y.size)
    for t in range(n_rounds):
        pred += round_preds(t)
        first, last = t < part, t >= n_rounds - part
        if first or last:
            r = rank_pct((y - pred) ** 2)
            start += r if first else 0.0
            end += r if last else 0.0
    return start / part, end / part


def sample_weights(l_start: np.ndarray, l_end: np.ndarray, loss: np.ndarray, k_th: int, alpha1: float,
                   alpha2: float, bins: int, decay: float) -> np.ndarray:
    """(N,) weights of the next sub-model (SR, step 3 of the module doc); ``k_th``: sub-models
    fitted so far (>= 1)."""
    h = alpha1 * rank_pct(-loss) + alpha2 * rank_pct(l_end / l_start)
    b = equal_width_bins(h, bins)
    mean_h = np.bincount(b, weights=h, minlength=bins) / np.maximum(np.bincount(b, minlength=bins), 1)
    return 1.0 / (decay ** k_th * mean_h[b] + WEIGHT_FLOOR)


def ensemble_loss(models: Sequence[SubModel], x: np.ndarray, y: np.ndarray,
                  cache: list[np.ndarray] | None = None) -> np.ndarray:
    """(n,) squared error of the ``sub_weights``-weighted mean prediction of ``models`` on ``x``
    (n, F) (all columns; each sub-model reads its own); ``cache``: the sub-models' predictions,
    when already known."""
    preds = cache if cache is not None else [fn(x[:, cols]) for cols, fn, _ in models]
    total = sum(w for _, _, w in models)
    pred = sum(w * p for (_, _, w), p in zip(models, preds)) / total
    return (y - pred) ** 2


def shuffle_gains(models: Sequence[SubModel], x: np.ndarray, y: np.ndarray, rng: np.random.Generator
                  ) -> np.ndarray:
    """(F,) gain g_f of every feature (FS, step 4 of the module doc) on ``x`` (n, F), ``y`` (n,):
    column f is permuted (``rng``), the ensemble rescored (only the sub-models that read f) and
    restored. ``x`` is modified during the call and restored; NaN gains (a constant column) -> 0."""
    base = [fn(x[:, cols]) for cols, fn, _ in models]
    loss = ensemble_loss(models, x, y, base)
    gains = np.zeros(x.shape[1])
    for f in range(x.shape[1]):
        kept = x[:, f].copy()
        x[:, f] = rng.permutation(kept)
        preds = [fn(x[:, cols]) if f in cols else b for (cols, fn, _), b in zip(models, base)]
        x[:, f] = kept
        d = ensemble_loss(models, x, y, preds) - loss
        gains[f] = d.mean() / (d.std() + 1e-7)
    return np.nan_to_num(gains, nan=0.0)


def select_features(gains: np.ndarray, bins: int, ratios: Sequence[float], rng: np.random.Generator) -> np.ndarray:
    """Sorted feature columns of the next sub-model (FS): ``gains`` cut into ``bins`` equal-width
    bins; the i-th non-empty bin from the top keeps ``ceil(ratios[i] * size)`` features drawn
    without replacement."""
    b = equal_width_bins(gains, bins)
    keep: list[int] = []
    for i, bin_id in enumerate(sorted(set(b.tolist()), reverse=True)):
        members = np.flatnonzero(b == bin_id)
        n = math.ceil(float(ratios[i]) * members.size)
        keep.extend(rng.choice(members, size=n, replace=False).tolist())
    return np.sort(np.array(keep, dtype=np.int64))
