"""Learners: one per model kind, each fitted on a ``FoldData`` and saved as one file.

* ``LGBMLearner``: LightGBM regression (MSE on the normalized target) or LambdaRank grouped by
  date with integer relevance grades from per-date label quantiles; early stopping on the
  validation daily IC (``FloorStop``: a floor on trees, patience after the best round).
* ``RidgeLearner``: closed-form ridge regression with intercept (the linear baseline).
* Torch learners (MLP, GRU, LSTM, Transformer) live in ``flyer.models.torch_learner``.
All implement ``flyer.models.learner.Learner``; ``flyer.models.registry`` maps kinds to classes.

LightGBM's OpenMP threads wait for each other at every barrier; by default they spin while they
wait, so on a machine where another process holds a core the spinning thread steals it and a
2-thread fit ran 4-5x slower than a 1-thread one (measured: 59 s against 13.5 s, 31 s of CPU
against 6). ``OMP_WAIT_POLICY=PASSIVE`` (set here, before LightGBM loads OpenMP, unless the
environment says otherwise) makes them sleep instead: the same fit took 9.7 s with 2 threads on
the same busy machine, and the predictions are identical (the policy changes no arithmetic).
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from flyer.core import progress
from flyer.core.errors import FlyerError
from flyer.models.dataset import FoldData, Panel, Split
from flyer.models.learner import Learner

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before lightgbm's first import (see the module doc)


def quantile_grades(target: np.ndarray, offsets: np.ndarray, grades: int) -> np.ndarray:
    """Per-date integer relevance 0..grades-1 from the rank of ``target`` within each date."""
    out = np.zeros(target.size, dtype=np.int32)
    for a, b in zip(offsets[:-1], offsets[1:]):
        t = target[a:b]
        if b - a < 2:
            continue
        r = np.argsort(np.argsort(t, kind="stable"), kind="stable")
        out[a:b] = np.minimum((r * grades) // (b - a), grades - 1)
    return out


def daily_ic(pred: np.ndarray, target: np.ndarray, offsets: np.ndarray) -> float:
    """Mean over dates of the Pearson correlation of ``pred`` and ``target`` (both (n,), rows
    grouped by date at ``offsets``); NaN targets and dates with < 2 rows or a constant side skipped."""
    ok = np.isfinite(target) & np.isfinite(pred)
    seg = np.repeat(np.arange(offsets.size - 1), np.diff(offsets))[ok]
    x, y = pred[ok].astype(np.float64), target[ok].astype(np.float64)
    k = offsets.size - 1
    n = np.bincount(seg, minlength=k).astype(np.float64)
    sx, sy = np.bincount(seg, x, k), np.bincount(seg, y, k)
    sxx, syy, sxy = np.bincount(seg, x * x, k), np.bincount(seg, y * y, k), np.bincount(seg, x * y, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sy / n
        vx, vy = sxx - sx * sx / n, syy - sy * sy / n
        ic = cov / np.sqrt(vx * vy)
    good = (n >= 2) & (vx > 1e-18 * np.maximum(n, 1)) & (vy > 0) & np.isfinite(ic)
    return float(ic[good].mean()) if good.any() else 0.0


def _round_progress(bar: progress.Task) -> Any:
    """A LightGBM callback advancing ``bar`` each boosting round with the validation metric."""
    def callback(env: Any) -> None:
        info = ", ".join(f"{name} {metric} {value:.5f}" for name, metric, value, *_ in env.evaluation_result_list)
        bar.update(env.iteration + 1, info=info)
    callback.order = 25  # type: ignore[attr-defined]  # after record_evaluation (20), before early stopping (30)
    return callback


class FloorStop:
    """LightGBM callback: early stopping that never keeps fewer than ``floor`` trees.

    Watches ``metric`` on the validation set; the best iteration is searched among iterations
    ``>= floor`` only, and training stops ``patience`` rounds after it. ``raw_best`` remembers
    the best iteration over all rounds (a validation peak below the floor is reported)."""

    order = 30

    def __init__(self, metric: str, patience: int, floor: int) -> None:
        self.metric, self.patience, self.floor = metric, patience, max(1, floor)
        self.best, self.best_iter, self.raw, self.raw_best = -np.inf, 0, -np.inf, 0
        self.best_value = float("nan")  # the metric itself at ``best_iter`` (l2 stays positive)

    def __call__(self, env) -> None:  # noqa: ANN001 - lightgbm.callback.CallbackEnv
        import lightgbm as lgb
        found = [r for r in env.evaluation_result_list if r[1] == self.metric]
        if not found:
            raise ValueError(f"early-stopping metric {self.metric!r} not evaluated")
        _, _, value, higher = found[0][:4]
        score = value if higher else -value
        it = env.iteration + 1  # trees so far
        if score > self.raw:
            self.raw, self.raw_best = score, it
        if it >= self.floor and score > self.best:
            self.best, self.best_iter, self.best_value = score, it, float(value)
        if it >= self.floor and it - self.best_iter >= self.patience:
            raise lgb.callback.EarlyStopException(self.best_iter - 1, [(*found[0][:3], higher)])


class LGBMLearner(Learner):
    """LightGBM with a floor on trees (``min_trees``) and early stopping on the validation
    metric ``stop_metric`` (``ic``: mean daily Pearson IC of score vs target; ``l2``; ``ndcg``
    for lambdarank) with ``early_stopping`` rounds of patience. Bagging is explicit:
    ``bagging_freq`` (flyer's default 1: a new row sample of ``subsample`` every tree; qlib's
    configuration sets no frequency, so LightGBM ignores its ``subsample``)."""

    suffix = ".txt"
    _OWN = ("num_boost_round", "early_stopping", "grades", "min_trees", "stop_metric")

    def _params(self) -> dict[str, Any]:
        p = {k: v for k, v in self.params.items() if k not in self._OWN}
        p.update(seed=self.cfg.seed, deterministic=True, force_row_wise=True, verbosity=-1,
                 num_threads=self.threads or 0)
        p.setdefault("bagging_freq", 0)
        if self.cfg.model.objective == "lambdarank":
            p.update(objective="lambdarank", metric="ndcg", eval_at=[50])
        else:
            p.update(objective="regression", metric="l2")
        if self._metric() == "ic":
            p["metric"] = "None"
        return p

    def _metric(self) -> str:
        rank = self.cfg.model.objective == "lambdarank"
        m = str(self.params.get("stop_metric", "ndcg" if rank else "l2"))
        if m == "l2" and rank:
            raise FlyerError("stop_metric l2 does not fit lambdarank: use ic or ndcg")
        return "ndcg@50" if m == "ndcg" else m

    def _dataset(self, fd: FoldData, split: Split, ref: Any = None):
        import lightgbm as lgb
        x = fd.x[split.rows]
        if self.cfg.model.objective == "lambdarank":
            y = quantile_grades(split.target, split.offsets, int(self.params.get("grades", 5)))
            return lgb.Dataset(x, y, group=np.diff(split.offsets), reference=ref, free_raw_data=True)
        return lgb.Dataset(x, split.target, reference=ref, free_raw_data=True)

    def fit(self, fd: FoldData, panel: Panel) -> None:
        import lightgbm as lgb
        train = self._dataset(fd, fd.train)
        valid = self._dataset(fd, fd.valid, ref=train)
        target, offsets = fd.valid.target, fd.valid.offsets
        feval = (lambda pred, _data: ("ic", daily_ic(pred, target, offsets), True)) if self._metric() == "ic" else None
        rounds = int(self.params.get("num_boost_round", 1000))
        stop = FloorStop(self._metric(), int(self.params.get("early_stopping", 50)),
                         min(int(self.params.get("min_trees", 1)), rounds))
        with progress.task(self.progress_label, total=rounds, unit="rounds") as bar:
            self.booster = lgb.train(self._params(), train, num_boost_round=rounds, valid_sets=[valid],
                                     valid_names=["valid"], feval=feval, callbacks=[_round_progress(bar), stop])
            best = int(stop.best_iter or self.booster.current_iteration())
            bar.close(info=self._kept_info(stop, best))
        self.info = {"best_iteration": best, "trees_fitted": int(self.booster.current_iteration()),
                     "valid_peak_iteration": stop.raw_best, "stop_metric": self._metric(),
                     "valid_best": stop.best_value}

    def _kept_info(self, stop: FloorStop, best: int) -> str:
        """The fold's closing line: trees kept and why; the floor on trees is explained on the
        first fold only (it holds for every fold)."""
        metric = f"valid {stop.metric} {stop.best_value:.5f}"
        floor = stop.floor if stop.floor > 1 else 0
        if floor and best == floor and stop.raw_best < floor:
            if self.fold_index == 0:
                return (f"kept {best} trees: the floor (min_trees: every fold keeps at least {floor}, whatever the "
                        f"validation says); validation peaked at round {stop.raw_best}; {metric} at the floor")
            return f"kept {best} trees: the floor (validation peak at round {stop.raw_best}); {metric}"
        rule = f", at least {floor} kept by every fold" if floor and self.fold_index == 0 else ""
        return f"kept {best} trees: the best validation round{rule}; {metric}"

    def predict_rows(self, x, panel, rows, state):
        return self.booster.predict(x[rows], num_iteration=self.info.get("best_iteration") or None,
                                    num_threads=self.threads or 0).astype(np.float32)

    def save(self, path: Path) -> None:
        self.booster.save_model(str(path), num_iteration=self.info.get("best_iteration") or None)

    def load(self, path: Path, n_features: int) -> None:
        import lightgbm as lgb
        self.booster = lgb.Booster(model_file=str(path))
        self.info = {"best_iteration": 0}


class RidgeLearner(Learner):
    """Ridge: ``w = (X'X + alpha I)^-1 X'y`` on centred data, intercept from the means."""

    suffix = ".json"

    def fit(self, fd: FoldData, panel: Panel) -> None:
        x = np.nan_to_num(fd.x[fd.train.rows].astype(np.float64))
        y = fd.train.target.astype(np.float64)
        keep = ~np.isnan(y)
        x, y = x[keep], y[keep]
        mx, my = x.mean(axis=0), y.mean()
        xc = x - mx
        a = xc.T @ xc + float(self.params.get("alpha", 1.0)) * np.eye(x.shape[1])
        self.coef = np.linalg.solve(a, xc.T @ (y - my)).astype(np.float32)
        self.intercept = np.float32(my - mx @ self.coef)

    def predict_rows(self, x, panel, rows, state):
        xr = np.nan_to_num(x[rows])
        return (np.einsum("ij,j->i", xr, self.coef) + self.intercept).astype(np.float32)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps({"coef": self.coef.tolist(), "intercept": float(self.intercept)}))

    def load(self, path: Path, n_features: int) -> None:
        d = json.loads(path.read_text())
        self.coef = np.asarray(d["coef"], dtype=np.float32)
        self.intercept = np.float32(d["intercept"])
