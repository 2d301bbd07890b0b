"""Signal recovery on the sim market: the planted effects are found, shuffled labels find nothing,
and the nonlinear r20 effect is found by trees and nets but not by a linear model."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from flyer.models.features import compute_features
from flyer.models.learners import quantile_grades
from flyer.models.pipeline import fit_folds, fold_metrics, load_inputs
from models_kit import D, config

SHORT = {"train": (D(2019, 1, 1), D(2019, 12, 31)), "test": (D(2020, 7, 1), D(2020, 10, 31))}


def _fit(mstore, cfg, shuffle: bool = False):
    inputs = load_inputs(mstore, cfg, cfg.split.train[0], cfg.split.test[1])
    if shuffle:
        rng = np.random.default_rng(0)
        lab = inputs.label
        inputs.label = lab.with_columns(pl.Series("label", lab["label"].to_numpy()[rng.permutation(lab.height)]))
    _, results = fit_folds(inputs, cfg, threads=1)
    return results, fold_metrics(results)


def test_lgbm_recovers_planted_signal(lgbm_run) -> None:
    m = lgbm_run.metrics["test"]
    assert m["RankIC"] > 0.015 and m["RankICIR"] > 0.2 and m["n_dates"] > 200


def test_lgbm_on_shuffled_labels_finds_nothing(mstore) -> None:
    results, m = _fit(mstore, config("lgbm"), shuffle=True)
    # the true-label test IC of a model fitted to noise: ~0 (NaN when it predicts a constant)
    rank_ic = m["test"]["RankIC"]
    assert np.isnan(rank_ic) or abs(rank_ic) < 0.01


def test_lambdarank_grades_and_signal(mstore) -> None:
    t = np.array([0.3, -1.0, 2.0, 0.0, 5.0, 1.0, 2.0, 3.0], dtype=np.float32)
    g = quantile_grades(t, np.array([0, 5, 8]), 5)
    assert g.tolist() == [2, 0, 3, 1, 4, 0, 1, 3]
    cfg = config("lgbm", objective="lambdarank", params={"num_boost_round": 40, "early_stopping": 10},
                 train=(config().split.train[0].replace(year=2019, month=1), config().split.train[1]))
    _, m = _fit(mstore, cfg)
    assert m["test"]["RankIC"] > 0.01


def _nonlinear_shape(mstore, results) -> float:
    """Mean per-date Spearman correlation of the test scores with -(z(ret20))^2."""
    bars = mstore.bars()
    f = compute_features(bars, "basic:ret20").with_columns(
        ((pl.col("ret20") - pl.col("ret20").mean().over("date")) / pl.col("ret20").std().over("date")).alias("z"))
    s = pl.concat([r.scores["test"] for r in results]).join(f, on=["date", "symbol"])
    return s.group_by("date").agg(pl.corr("score", -(pl.col("z") ** 2), method="spearman").alias("c"))["c"].mean()


def test_nonlinear_effect_found_by_lgbm_and_mlp_not_linear(mstore) -> None:
    """The sim plants E[r] ~ -(z(r20))^2 (symmetric): on the r20 feature alone, a tree and an MLP
    learn the inverted U, a ridge can only draw a line through it."""
    shape = {}
    for kind, params in (("linear", None), ("lgbm", None), ("mlp", {"hidden": 16, "epochs": 6, "patience": 3})):
        results, _ = _fit(mstore, config(kind, params=params, factors="basic:ret20"))
        shape[kind] = _nonlinear_shape(mstore, results)
    assert abs(shape["linear"]) < 0.1
    assert shape["lgbm"] > 0.25 and shape["mlp"] > 0.25, shape


@pytest.mark.parametrize("kind", ["gru", "lstm", "transformer"])
def test_sequence_models_train_and_score(mstore, kind: str) -> None:
    cfg = config(kind, seq_len=8, params={"hidden": 8, "layers": 1, "epochs": 1, "heads": 2, "dates_per_batch": 16},
                 **SHORT)
    results, m = _fit(mstore, cfg)
    s = results[0].scores["test"]
    assert s["score"].is_finite().all() and s.height > 5_000
    assert results[0].learner.info["epochs"] == 1 and results[0].learner.info["device"] == "cpu"


def test_mlp_ic_loss_and_factor_sequences(mstore) -> None:
    _, m = _fit(mstore, config("mlp", objective="ic", params={"epochs": 3}))
    assert m["test"]["RankIC"] > 0.0
    cfg = config("gru", seq_input="factors", seq_len=5, params={"hidden": 8, "layers": 1, "epochs": 1}, **SHORT)
    results, _ = _fit(mstore, cfg)
    assert results[0].scores["test"]["score"].is_finite().all()
