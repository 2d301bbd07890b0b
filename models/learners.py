"""Learners: one per model kind, each fitted on a ``FoldData`` and saved as one file.

* ``LGBMLearner``: LightGBM regression (MSE on the normalized target) or LambdaRank grouped by
  date with integer relevance grades from per-date label quantiles; early stopping on valid.
* ``RidgeLearner``: closed-form ridge regression with intercept (the linear baseline).
* Torch learners (MLP, GRU, LSTM, Transformer) live in ``flyer.models.torch_learner``.
All implement ``flyer.models.learner.Learner``; ``flyer.models.registry`` maps kinds to classes.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from flyer import progress
from flyer.models.dataset import FoldData, Panel, Split
from flyer.models.learner import Learner


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


def _round_progress(bar: progress.Task) -> Any:
    """A LightGBM callback advancing ``bar`` each boosting round with the validation metric."""
    def callback(env: Any) -> None:
        info = ", ".join(f"{name} {metric} {value:.5f}" for name, metric, value, *_ in env.evaluation_result_list)
        bar.update(env.iteration + 1, info=info)
    callback.order = 25  # type: ignore[attr-defined]  # after record_evaluation (20), before early stopping (30)
    return callback


class LGBMLearner(Learner):
    suffix = ".txt"

    def _params(self) -> dict[str, Any]:
        p = {k: v for k, v in self.params.items() if k not in ("num_boost_round", "early_stopping", "grades")}
        p.update(seed=self.cfg.seed, deterministic=True, force_row_wise=True, verbosity=-1,
                 num_threads=self.threads or 0, bagging_freq=1 if p.get("subsample", 1) < 1 else 0)
        if self.cfg.model.objective == "lambdarank":
            p.update(objective="lambdarank", metric="ndcg", eval_at=[50])
        else:
            p.update(objective="regression", metric="l2")
        return p

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
        evals: dict[str, Any] = {}
        rounds = int(self.params.get("num_boost_round", 1000))
        with progress.task(self.progress_label, total=rounds, unit="rounds") as bar:
            self.booster = lgb.train(
                self._params(), train, num_boost_round=rounds, valid_sets=[valid], valid_names=["valid"],
                callbacks=[lgb.early_stopping(int(self.params.get("early_stopping", 50)), verbose=False),
                           lgb.record_evaluation(evals), _round_progress(bar)])
            best = ", ".join(f"valid {k} {v:.5f}" for k, v in dict(self.booster.best_score.get("valid", {})).items())
            bar.close(info=f"best round {self.booster.best_iteration or self.booster.current_iteration()}"
                      + (f", {best}" if best else ""))
        self.info = {"best_iteration": int(self.booster.best_iteration or self.booster.current_iteration())}

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
