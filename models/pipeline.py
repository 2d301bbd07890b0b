"""Training orchestration: store -> inputs -> panel -> folds -> fitted learners -> run folder.

1. ``load_inputs`` reads bars from the store over the train..test span plus the feature
   lookback and the label horizon, computes features (``features.compute_features``), labels
   and the point-in-time universe.
2. ``fit_folds`` builds the ``dataset.Panel`` once, cuts the folds (``splits.make_folds``,
   embargo included), and per fold fits processors + learner on train (early stopping on
   valid) and scores train, valid and test.
3. ``train`` stitches the folds' test scores into one out-of-sample series, computes the
   metrics per split and writes the run (``runs.save_run``).
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import polars as pl

from flyer.errors import FlyerError
from flyer.models import metrics
from flyer.models.config import SEQ_KINDS, TrainConfig, validate
from flyer.models.dataset import FoldData, Panel, Split, build_panel, prepare_fold
from flyer.models.features import compute_features, compute_label, feature_lookback, universe_mask
from flyer.models.learners import Learner, make_learner
from flyer.models.splits import Fold, make_folds


@dataclass
class Inputs:
    """Everything a run needs from the store: bars, features, labels, universe, calendar."""

    bars: pl.DataFrame
    features: pl.DataFrame
    label: pl.DataFrame
    universe: pl.DataFrame | None
    days: list[dt.date]


@dataclass
class FoldResult:
    fold: Fold
    learner: Learner
    state: dict[str, Any]
    scores: dict[str, pl.DataFrame] = field(default_factory=dict)  # split -> [date, symbol, score, label, target]


def shift_days(store, day: dt.date, n: int) -> dt.date:
    """The trading day ``n`` trading days before (n > 0) or after (n < 0) ``day`` (clamped)."""
    if n >= 0:
        cal = store.calendar(None, day)
        return cal[max(0, cal.len() - 1 - n)] if cal.len() else day
    cal = store.calendar(day, None)
    return cal[min(cal.len() - 1, -n)] if cal.len() else day


def needed_lookback(cfg: TrainConfig) -> int:
    """Trading days of history before the first sample: the feature lookback, plus the window
    length for sequence models (OHLCV windows need no factor lookback)."""
    if cfg.model.kind in SEQ_KINDS:
        if cfg.data.seq_input == "ohlcv":
            return cfg.data.seq_len + 1
        return (cfg.data.lookback or feature_lookback(cfg.data.factors) + 5) + cfg.data.seq_len
    return cfg.data.lookback or feature_lookback(cfg.data.factors) + 5


def load_inputs(store, cfg: TrainConfig, start: dt.date, end: dt.date, with_label: bool = True) -> Inputs:
    """Bars and derived frames for samples dated in [start, end]."""
    first = shift_days(store, start, needed_lookback(cfg))
    last = shift_days(store, end, -(cfg.data.label_horizon + 2)) if with_label else end
    universe = universe_mask(store, cfg.data.universe, start, end)
    symbols = universe["symbol"].unique().sort().to_list() if universe is not None else None
    bars = store.bars(first, last, symbols=symbols)
    if bars.height == 0:
        raise FlyerError(f"no bars in the store between {first} and {last}")
    bars = bars.join(store.instruments().select("symbol", "industry"), on="symbol", how="left",
                     maintain_order="left")
    if cfg.model.kind in SEQ_KINDS and cfg.data.seq_input == "ohlcv":
        feats = bars.select("date", "symbol")  # windows of OHLCV only: no factor needed
    else:  # tabular models need feature rows of universe members only
        keep = universe if cfg.model.kind not in SEQ_KINDS else None
        feats = compute_features(bars, cfg.data.factors, keep=keep)
    if with_label:
        label = compute_label(bars, cfg.data.label_horizon, cfg.data.label_price)
    else:
        label = bars.select("date", "symbol", pl.lit(None, pl.Float32).alias("label"))
    days = store.calendar(first, last).to_list()
    return Inputs(bars, feats, label, universe, days)


def make_panel(inputs: Inputs, cfg: TrainConfig) -> Panel:
    seq = cfg.model.kind in SEQ_KINDS
    return build_panel(inputs.features, inputs.label, inputs.bars, inputs.universe, cfg.data,
                       with_seq=seq and cfg.data.seq_input == "ohlcv", universe_rows_only=not seq)


def _frame(panel: Panel, split: Split, score: np.ndarray) -> pl.DataFrame:
    keys = panel.keys[split.rows]
    return keys.with_columns(pl.Series("score", score, dtype=pl.Float32),
                             pl.Series("label", split.label, dtype=pl.Float32).fill_nan(None),
                             pl.Series("target", split.target, dtype=pl.Float32).fill_nan(None))


def fit_folds(inputs: Inputs, cfg: TrainConfig, threads: int = 0,
              log: Callable[[str], None] | None = None) -> tuple[Panel, list[FoldResult]]:
    """Fit one learner per fold; returns the panel and the per-fold results with scores."""
    validate(cfg)
    panel = make_panel(inputs, cfg)
    folds = make_folds(cfg.split, inputs.days, cfg.data.label_horizon)
    results = []
    for fold in folds:
        t0 = time.perf_counter()
        fd = prepare_fold(panel, fold, cfg.data, seq_ohlcv=cfg.model.kind in SEQ_KINDS and cfg.data.seq_input == "ohlcv",
                          seq_len=cfg.data.seq_len, seed=cfg.seed)
        if fd.train.n == 0 or fd.valid.n == 0:
            raise FlyerError(f"fold {fold.index}: no labelled samples in train {fold.train} or valid {fold.valid}")
        learner = make_learner(cfg, threads)
        learner.fit(fd, panel)
        res = FoldResult(fold, learner, fd.state)
        for name in ("train", "valid", "test"):
            split: Split = getattr(fd, name)
            res.scores[name] = _frame(panel, split, learner.predict_split(fd.x, panel, split, fd.state))
        learner.info["fit_seconds"] = time.perf_counter() - t0
        if log:
            test = f"{fold.test[0]}..{fold.test[1]}" if fold.test else "none"
            log(f"fold {fold.index}: train {fold.train[0]}..{fold.train[1]} test {test} ({time.perf_counter() - t0:.1f}s)")
        results.append(res)
    return panel, results


def fold_metrics(results: list[FoldResult]) -> dict[str, Any]:
    """Metrics per split: ``test`` on the stitched out-of-sample series, ``train``/``valid`` on
    all folds' rows pooled, plus each fold's own."""
    out: dict[str, Any] = {}
    for name in ("train", "valid", "test"):
        out[name] = metrics.summary(pl.concat([r.scores[name] for r in results]))
    out["folds"] = [{"fold": r.fold.index, **{n: metrics.summary(r.scores[n]) for n in ("train", "valid", "test")},
                     "info": {k: v for k, v in r.learner.info.items() if k != "history"}} for r in results]
    return out


def train(store, cfg: TrainConfig, home=None, threads: int = 0, log: Callable[[str], None] | None = None):
    """Train ``cfg`` on ``store`` and write the run folder; returns the ``runs.Run``."""
    from flyer.models.runs import save_run

    validate(cfg)
    t0 = time.perf_counter()
    last = cfg.split.test[1] if cfg.split.test else cfg.split.valid[1]
    inputs = load_inputs(store, cfg, cfg.split.train[0], last)
    _, results = fit_folds(inputs, cfg, threads, log)
    return save_run(home, cfg, results, fold_metrics(results), {"seconds": time.perf_counter() - t0})
