"""The DoubleEnsemble learner (model kind ``dens``): LightGBM sub-models fitted one after another
on re-weighted samples and re-selected features (``flyer.models.double_ensemble`` holds the
algorithm and its steps; this module fits, scores and saves).

Each sub-model is a LightGBM regression (MSE on the normalised target, the processors of flyer's
LightGBM: raw features, per-date z-scored label) of ``num_boost_round`` rounds, no early
stopping (qlib's configuration has none). The validation split is only scored: each sub-model's
and the ensemble's daily IC go to ``info`` with the features and weights each sub-model saw.
Saved as one JSON file: the sub-models as LightGBM model text, their feature columns and weights.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from flyer.core import progress
from flyer.core.errors import FlyerError
from flyer.models import double_ensemble as de
from flyer.models.dataset import FoldData, Panel
from flyer.models.learner import Learner
from flyer.models.learners import daily_ic


class DoubleEnsembleLearner(Learner):
    """DoubleEnsemble of LightGBM sub-models (see the module doc and ``double_ensemble``)."""

    suffix = ".json"

    def __init__(self, cfg: Any, threads: int = 0) -> None:
        super().__init__(cfg, threads)
        problem = de.params_problem(self.params)
        if problem:
            raise FlyerError(f"dens: {problem}")
        self.models: list[tuple[np.ndarray, Any]] = []
        self.weights = [float(w) for w in self.params["sub_weights"]]

    def _lgb_params(self) -> dict[str, Any]:
        p = {k: v for k, v in self.params.items() if k not in de.OWN}
        p.update(objective="regression", metric="None", seed=self.cfg.seed, deterministic=True,
                 force_row_wise=True, verbosity=-1, num_threads=self.threads or 0)
        p.setdefault("bagging_freq", 0)
        return p

    def _fit_sub(self, x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Any:
        import lightgbm as lgb

        data = lgb.Dataset(x, y, weight=w, free_raw_data=True)
        return lgb.train(self._lgb_params(), data, num_boost_round=int(self.params["num_boost_round"]))

    def fit(self, fd: FoldData, panel: Panel) -> None:
        p, rng = self.params, np.random.default_rng(self.cfg.seed)
        x, y = fd.x[fd.train.rows], fd.train.target.astype(np.float64)
        n, n_feat = x.shape
        w, cols = np.ones(n), np.arange(n_feat)
        fs_rows = int(p["fs_rows"])
        sample = np.sort(rng.choice(n, fs_rows, replace=False)) if 0 < fs_rows < n else np.arange(n)
        pred_sum, subs, self.models = np.zeros(n), [], []
        k_all = int(p["num_models"])
        with progress.task(self.progress_label, total=k_all, unit="sub-models") as bar:
            for k in range(k_all):
                xs = np.ascontiguousarray(x[:, cols])
                booster = self._fit_sub(xs, y, w)
                self.models.append((cols, booster))
                subs.append(self._sub_info(fd, booster, cols, w))
                bar.update(k + 1, info=f"{cols.size} features, valid IC {subs[-1]['valid_ic']:.4f}")
                if k + 1 == k_all:
                    break
                pred_sum += self.weights[k] * booster.predict(xs, num_threads=self.threads or 0)
                loss = (y - pred_sum / sum(self.weights[:k + 1])) ** 2
                if p["enable_sr"]:
                    rounds = booster.current_iteration()
                    ends = de.loss_curve_ends(self._round_scorer(booster, xs), rounds, y)
                    w = de.sample_weights(*ends, loss, k + 1, float(p["alpha1"]), float(p["alpha2"]),
                                          int(p["bins_sr"]), float(p["decay"]))
                del xs
                if p["enable_fs"]:
                    gains = de.shuffle_gains(self._sub_models(k + 1), x[sample], y[sample], rng)
                    cols = de.select_features(gains, int(p["bins_fs"]), p["sample_ratios"], rng)
        valid = self.predict_rows(fd.x, panel, fd.valid.rows, {}) if fd.valid.n else np.zeros(0, np.float32)
        self.info = {"sub_models": subs, "fs_rows": int(sample.size), "train_rows": n,
                     "valid_ic": daily_ic(valid, fd.valid.target, fd.valid.offsets) if fd.valid.n else float("nan"),
                     "differences_from_qlib": "seeded RNG; features in column order; shuffled ensemble weighted "
                                              "by sub_weights; shuffles on fs_rows sampled training rows"}

    def _round_scorer(self, booster: Any, xs: np.ndarray) -> Callable[[int], np.ndarray]:
        """Round t's output alone on ``xs`` (the loss curve's input)."""
        return lambda t: booster.predict(xs, start_iteration=t, num_iteration=1, num_threads=self.threads or 0)

    def _sub_models(self, upto: int) -> list[de.SubModel]:
        """The first ``upto`` fitted sub-models as ``double_ensemble.SubModel`` triples."""
        def scorer(booster: Any) -> Callable[[np.ndarray], np.ndarray]:
            return lambda xc: booster.predict(np.ascontiguousarray(xc), num_threads=self.threads or 0)
        return [(cols, scorer(b), self.weights[i]) for i, (cols, b) in enumerate(self.models[:upto])]

    def _sub_info(self, fd: FoldData, booster: Any, cols: np.ndarray, w: np.ndarray) -> dict[str, Any]:
        """What one sub-model saw and how it scores the validation split."""
        if fd.valid.n:
            pred = booster.predict(fd.x[fd.valid.rows][:, cols], num_threads=self.threads or 0)
            ic = daily_ic(pred, fd.valid.target, fd.valid.offsets)
        else:
            ic = float("nan")
        return {"features": int(cols.size), "rounds": int(booster.current_iteration()), "valid_ic": ic,
                "weight_min": float(w.min()), "weight_max": float(w.max())}

    def predict_rows(self, x: np.ndarray, panel: Panel, rows: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        xr = x[rows]
        total = np.zeros(rows.size)
        for (cols, booster), wt in zip(self.models, self.weights):
            total += wt * booster.predict(np.ascontiguousarray(xr[:, cols]), num_threads=self.threads or 0)
        return (total / sum(self.weights[:len(self.models)])).astype(np.float32)

    def save(self, path: Path) -> None:
        doc = {"format": "flyer-dens-1", "weights": self.weights[:len(self.models)],
               "features": [c.tolist() for c, _ in self.models],
               "models": [b.model_to_string() for _, b in self.models]}
        path.write_text(json.dumps(doc))

    def load(self, path: Path, n_features: int) -> None:
        import lightgbm as lgb

        doc = json.loads(path.read_text())
        if doc.get("format") != "flyer-dens-1":
            raise FlyerError(f"{path}: not a DoubleEnsemble model file")
        bad = [c for cols in doc["features"] for c in cols if not 0 <= c < n_features]
        if bad:
            raise FlyerError(f"{path}: feature column {bad[0]} outside the {n_features} features of the run")
        self.weights = [float(w) for w in doc["weights"]]
        self.models = [(np.asarray(c, dtype=np.int64), lgb.Booster(model_str=m))
                       for c, m in zip(doc["features"], doc["models"])]
