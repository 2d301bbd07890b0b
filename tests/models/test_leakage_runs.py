"""No leakage (perturbing prices after the fit period leaves the model unchanged) and runs that
reproduce their predictions exactly after loading."""
from __future__ import annotations

import json

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flyer.core.errors import FlyerError
from flyer.models.dataset import apply_state, select_rows
from flyer.models.pipeline import fit_folds, load_inputs, make_panel, train
from flyer.models.predict import predict_day
from flyer.models.runs import list_runs, load_run
from models_kit import config


@pytest.fixture(scope="module")
def leak_setup(mstore):
    cfg = config("lgbm", params={"num_boost_round": 40}, label_horizon=2)
    inputs = load_inputs(mstore, cfg, cfg.split.train[0], cfg.split.test[1])
    _, (res,) = fit_folds(inputs, cfg, threads=1)
    return cfg, inputs, res.learner.booster.model_to_string()


@settings(max_examples=2, deadline=None, suppress_health_check=list(HealthCheck))
@given(scale=st.floats(0.5, 2.0), seed=st.integers(0, 1000))
def test_perturbing_prices_after_fit_period_leaves_model_unchanged(mstore, leak_setup, scale: float, seed: int) -> None:
    """Prices after the valid window's last day (so every label reaching past it) are scrambled;
    features and labels are recomputed; the trained model is byte-identical."""
    cfg, inputs, model = leak_setup
    end = cfg.split.valid[1]
    full = mstore.bars(inputs.days[0], inputs.days[-1])  # every column (the inputs keep only what the panel reads)
    assert full.select("date", "symbol").equals(inputs.bars.select("date", "symbol"))
    rng = np.random.default_rng(seed)
    noise = rng.uniform(0.8, 1.25, full.height) * scale
    after = (full["date"] > end).to_numpy()
    bars = full.with_columns(
        *(pl.Series(c, np.where(after, full[c].to_numpy() * noise, full[c].to_numpy()))
          for c in ("open", "high", "low", "close", "vwap")))
    from flyer.models.features import compute_features, compute_label
    inputs2 = type(inputs)(bars, compute_features(bars, cfg.data.factors),
                           compute_label(bars, cfg.data.label_horizon), inputs.universe, inputs.days)
    assert not inputs2.label.equals(inputs.label)
    _, (res,) = fit_folds(inputs2, cfg, threads=1)
    assert res.learner.booster.model_to_string() == model


def test_run_folder_contents(lgbm_run) -> None:
    p = lgbm_run.path
    for name in ("config.json", "features.json", "processors.json", "metrics.json", "folds.json", "meta.json",
                 "model_0.txt", "predictions.parquet", "oos.parquet", "valid_predictions.parquet"):
        assert (p / name).exists(), name
    assert p.name == lgbm_run.id and (p / "data.json").exists()
    pred = lgbm_run.predictions()
    assert pred.columns == ["date", "symbol", "score"] and pred["score"].dtype == pl.Float64
    assert pred["date"].min() >= lgbm_run.config.split.test[0]
    met = json.loads((p / "metrics.json").read_text())
    assert {"IC", "RankIC", "ICIR", "RankICIR", "MSE"} <= set(met["test"]) and set(met) >= {"train", "valid", "test"}
    assert json.loads((p / "features.json").read_text()) == lgbm_run.features
    runs = list_runs(p.parent.parent)
    assert lgbm_run.id in runs["id"].to_list()


def test_loaded_run_reproduces_predictions_exactly(mstore, lgbm_run) -> None:
    run = load_run(lgbm_run.path.parent.parent, lgbm_run.id[:8])
    cfg = run.config
    inputs = load_inputs(mstore, cfg, cfg.split.train[0], cfg.split.test[1])
    panel = make_panel(inputs, cfg)
    state = run.processors()[-1]
    rows = select_rows(panel, cfg.split.test, need_label=False)
    x = apply_state(panel.x, panel.dates, state["features"], panel.sample_ok)
    from flyer.models.dataset import make_split
    split = make_split(panel, rows, cfg.data.label_norm)
    score = run.learner(threads=1).predict_split(x, panel, split, state)
    got = panel.keys[rows].with_columns(pl.Series("s", score).cast(pl.Float64))
    saved = run.predictions().join(got, on=["date", "symbol"], how="full", coalesce=True)
    assert saved.height == run.predictions().height and (saved["score"] == saved["s"]).all()
    # and the nightly path: features recomputed from the store for one day only
    for day in (cfg.split.test[1], cfg.split.test[0]):
        d = mstore.calendar(None, day)[-1]
        one = predict_day(run, mstore, d, threads=1)
        ref = run.predictions().filter(pl.col("date") == d)
        j = ref.join(one, on=["date", "symbol"], how="full", coalesce=True)
        assert j.height == ref.height == one.height
        assert np.allclose(j["score"].to_numpy(), j["score_right"].to_numpy(), atol=1e-6)


def test_predict_errors(mstore, lgbm_run) -> None:
    with pytest.raises(FlyerError, match="not a trading day"):
        predict_day(lgbm_run, mstore, "2021-01-02")
    with pytest.raises(FlyerError, match="no run"):
        load_run(lgbm_run.path.parent.parent, "nope")


def test_walk_forward_stitches_out_of_sample(mstore, tmp_path) -> None:
    cfg = config("linear", walk_forward=True, retrain_months=4, window="rolling")
    run = train(mstore, cfg, home=tmp_path)
    folds = json.loads((run.path / "folds.json").read_text())
    assert len(folds) == 3 and len(list(run.path.glob("model_*.json"))) == 3
    oos = run.oos()
    for f in folds:  # each fold's scores lie inside its own test chunk
        part = oos.filter(pl.col("fold") == f["fold"])
        assert str(part["date"].min()) >= f["test"][0] and str(part["date"].max()) <= f["test"][1]
    assert oos.select("date", "symbol").is_duplicated().sum() == 0
    assert run.predictions().height == oos.height


def test_deployment_run_without_test_period(mstore, tmp_path) -> None:
    """``test=None`` (the nightly retrain): train + valid only, empty predictions, predict works."""
    from flyer.models.config import make_config
    from models_kit import TRAIN, VALID

    cfg = make_config("linear", train=TRAIN, valid=VALID, test=None, factors="basic", lookback=25)
    run = train(mstore, cfg, home=tmp_path)
    assert run.predictions().height == 0 and run.config.split.test is None
    assert load_run(tmp_path, run.id).config == cfg
    day = mstore.calendar().to_list()[-3]
    s = predict_day(run, mstore, day)
    assert s.height > 100 and s["score"].is_finite().all()
    assert list_runs(tmp_path)["test"].to_list() == [""]


def test_gru_run_predict_reproduces_saved_scores(mstore, tmp_path) -> None:
    from models_kit import D

    cfg = config("gru", seq_len=6, params={"hidden": 8, "layers": 1, "epochs": 1, "dates_per_batch": 16},
                 train=(D(2019, 6, 1), D(2019, 12, 31)), test=(D(2020, 7, 1), D(2020, 8, 31)))
    run = train(mstore, cfg, home=tmp_path)
    assert (run.path / "model_0.pt").exists() and "seq" in run.processors()[0]
    day = run.predictions()["date"].max()
    one = predict_day(load_run(tmp_path, run.id), mstore, day)
    ref = run.predictions().filter(pl.col("date") == day)
    j = ref.join(one, on=["date", "symbol"], how="inner")
    assert j.height == ref.height == one.height
    assert (j["score"] == j["score_right"]).all()
