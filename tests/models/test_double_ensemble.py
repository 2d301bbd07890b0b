"""DoubleEnsemble: its two steps on hand-checkable cases (sample re-weighting by loss curve,
feature selection by shuffling), checked against a pandas reference, and a walk-forward run on
the sim market through the pipeline (small, fast)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest

from flyer.core.errors import FlyerError
from flyer.models import double_ensemble as de
from flyer.models.config import make_config
from models_kit import TEST, TRAIN, VALID


def test_rank_pct_shares_tied_ranks_like_pandas() -> None:
    v = np.array([3.0, 1.0, 3.0, 2.0, 3.0])
    assert de.rank_pct(v).tolist() == pytest.approx([4 / 5, 1 / 5, 4 / 5, 2 / 5, 4 / 5])
    rnd = np.random.default_rng(3).integers(0, 20, 500).astype(float)
    assert de.rank_pct(rnd) == pytest.approx(pd.Series(rnd).rank(pct=True).to_numpy())


def test_equal_width_bins_are_right_closed_like_pandas_cut() -> None:
    v = np.array([0.0, 1.0, 2.0, 2.5, 4.0])           # edges 0, 1, 2, 3, 4: 1.0 and 2.0 sit on edges
    assert de.equal_width_bins(v, 4).tolist() == [0, 0, 1, 2, 3]
    rnd = np.random.default_rng(4).normal(size=300)
    assert de.equal_width_bins(rnd, 7).tolist() == pd.cut(rnd, 7, labels=False).tolist()
    assert de.equal_width_bins(np.ones(3), 5).tolist() == [0, 0, 0]


def test_sample_weights_by_hand() -> None:
    # loss 4 > 3 > 2 > 1: rank(-loss) = 1/4, 2/4, 3/4, 1; the loss curves all fell by half, a tie
    # at rank 2.5/4 = 0.625; h = 0.875, 1.125, 1.375, 1.625; two bins split at 1.25 with mean h
    # 1.0 and 1.5; after the first sub-model (decay^1 = 0.5): w = 1 / (0.5 h + 0.1)
    w = de.sample_weights(np.full(4, 0.8), np.full(4, 0.4), np.array([4.0, 3.0, 2.0, 1.0]), 1,
                          1.0, 1.0, 2, 0.5)
    assert w.tolist() == pytest.approx([1 / 0.6, 1 / 0.6, 1 / 0.85, 1 / 0.85])
    # the hardest samples weigh most, and later sub-models (decay^k smaller) spread less
    later = de.sample_weights(np.full(4, 0.8), np.full(4, 0.4), np.array([4.0, 3.0, 2.0, 1.0]), 3, 1.0, 1.0, 2, 0.5)
    assert later[0] / later[3] < w[0] / w[3]


def _reference_weights(l_start: np.ndarray, l_end: np.ndarray, loss: np.ndarray, k_th: int, alpha1: float,
                       alpha2: float, bins: int, decay: float) -> np.ndarray:
    """The SR step in pandas, written from the paper's formulas (an independent reference)."""
    h = alpha1 * pd.Series(-loss).rank(pct=True) + alpha2 * pd.Series(l_end / l_start).rank(pct=True)
    groups = pd.cut(h, bins)
    mean_h = h.groupby(groups, observed=True).transform("mean")
    return (1.0 / (decay ** k_th * mean_h + 0.1)).to_numpy()


def test_sample_weights_match_the_pandas_reference() -> None:
    rng = np.random.default_rng(5)
    ls, le, loss = rng.random(1000) + 0.1, rng.random(1000) + 0.1, rng.exponential(size=1000)
    got = de.sample_weights(ls, le, loss, 2, 1.0, 0.5, 10, 0.5)
    assert got == pytest.approx(_reference_weights(ls, le, loss, 2, 1.0, 0.5, 10, 0.5))


def test_loss_curve_ends_against_the_full_curve() -> None:
    # 6 samples, 20 rounds: round t moves every prediction a step towards y, sample i at speed i
    rng = np.random.default_rng(6)
    y = rng.normal(size=6)
    speed = np.arange(1, 7) / 40.0
    rounds = [speed * y * (1 - speed) ** t for t in range(20)]
    start, end = de.loss_curve_ends(lambda t: rounds[t], 20, y)
    curve = pd.DataFrame({t: (y - np.sum(rounds[:t + 1], axis=0)) ** 2 for t in range(20)})
    ranks = curve.rank(axis=0, pct=True)
    assert start == pytest.approx(ranks.iloc[:, :2].mean(axis=1).to_numpy())
    assert end == pytest.approx(ranks.iloc[:, -2:].mean(axis=1).to_numpy())


def test_shuffle_gains_find_the_feature_the_ensemble_uses() -> None:
    # y = 2 x0; one sub-model reads columns 0 and 1 and predicts 2 x0, another reads column 2
    # and predicts 0 (weight 0): shuffling x0 turns the loss into d = 4 (x0 - x0')^2, a scaled
    # chi-square with 1 degree of freedom: g = mean / std = 1 / sqrt(2); x1 and x2 change nothing
    rng = np.random.default_rng(7)
    x = rng.normal(size=(2000, 3))
    y = 2 * x[:, 0]
    models = [(np.array([0, 1]), lambda xc: 2 * xc[:, 0], 1.0), (np.array([2]), lambda xc: 0 * xc[:, 0], 0.0)]
    before = x.copy()
    g = de.shuffle_gains(models, x, y, rng)
    assert g[0] == pytest.approx(1 / np.sqrt(2), abs=0.05) and g[1] == 0.0 and g[2] == 0.0
    assert np.array_equal(x, before)                               # columns restored


def test_select_features_by_hand() -> None:
    # gains 5, 4, 0, -1, 10 in two bins split at 4.5: the top bin {0, 4} keeps ratio 1.0 of 2 = 2,
    # the bottom {1, 2, 3} ceil(0.5 * 3) = 2, drawn at random
    got = de.select_features(np.array([5.0, 4.0, 0.0, -1.0, 10.0]), 2, [1.0, 0.5], np.random.default_rng(0))
    assert len(got) == 4 and {0, 4} <= set(got.tolist()) and list(got) == sorted(got)
    # empty bins are skipped: the ratios follow the non-empty bins from the top (as qlib), so the
    # bottom bin {0, 1, 2, 3} (bins of width 2 over 0..10) keeps ceil(0.5 * 4) = 2, not ceil(0.2 * 4)
    got = de.select_features(np.array([0.0, 0.1, 0.2, 0.3, 10.0]), 5, [1.0, 0.5, 0.2, 0.2, 0.2],
                             np.random.default_rng(0))
    assert len(got) == 3 and got[-1] == 4


def test_bad_parameters_are_refused_when_the_config_is_made() -> None:
    with pytest.raises(FlyerError, match="sample_ratios needs bins_fs = 5 values"):
        make_config("dens", TRAIN, VALID, TEST, factors="basic", params={"sample_ratios": [0.8, 0.5]})
    with pytest.raises(FlyerError, match="sub_weights needs num_models = 2 values"):
        make_config("dens", TRAIN, VALID, TEST, factors="basic", params={"num_models": 2})
    assert de.params_problem({**de.DEFAULTS, "decay": None}).startswith("bad parameter value")


SMALL_DENS = {"num_models": 3, "sub_weights": [1.0, 0.5, 0.5], "num_boost_round": 20, "num_leaves": 15,
              "max_depth": 4, "min_data_in_leaf": 50, "learning_rate": 0.1, "lambda_l1": 0.0, "lambda_l2": 1.0,
              "fs_rows": 20_000}


def test_walk_forward_on_the_sim(mstore, tmp_path) -> None:
    from flyer.models.pipeline import train
    from flyer.models.predict import predict_day
    from flyer.models.runs import load_run

    cfg = make_config("dens", TRAIN, VALID, TEST, params=SMALL_DENS, factors="basic", lookback=25,
                      walk_forward=True, retrain_months=6)
    assert (cfg.data.feature_norm, cfg.data.label_norm) == ("none", "cszscore")   # the trees' processors
    run = train(mstore, cfg, home=tmp_path, threads=1)
    assert run.n_folds() == 2 and run.metrics["test"]["RankIC"] > 0.01
    for fold in run.metrics["folds"]:
        subs = fold["info"]["sub_models"]
        n_feat = subs[0]["features"]
        assert len(subs) == 3 and subs[0]["weight_min"] == subs[0]["weight_max"] == 1.0
        assert min(s["features"] for s in subs[1:]) < n_feat             # feature selection dropped some
        assert subs[1]["weight_max"] > subs[1]["weight_min"]            # sample re-weighting moved weights
        assert fold["info"]["fs_rows"] == 20_000
    day = run.predictions()["date"].max()
    saved = run.predictions().filter(pl.col("date") == day).sort("symbol")
    again = predict_day(load_run(tmp_path, run.id), mstore, day).sort("symbol")
    assert again["score"].to_numpy() == pytest.approx(saved["score"].to_numpy(), abs=1e-6)
