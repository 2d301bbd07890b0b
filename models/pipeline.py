"""Training orchestration: store -> inputs -> panel -> folds -> fitted learners -> run folder.

1. ``load_inputs`` reads bars from the store over the train..test span plus the feature
   lookback and the label horizon, computes features (``features.compute_features``), labels
   and the point-in-time universe.
2. ``fit_folds`` builds the ``dataset.Panel`` once, cuts the folds (``splits.make_folds``,
   embargo included), and per fold fits processors + learner on train (early stopping on
   valid) and scores train, valid and test.
3. ``train`` reuses the saved run of the same config (``runs.find_run``; ``force`` retrains),
   else stitches the folds' test scores into one out-of-sample series, computes the metrics
   per split and writes the run (``runs.save_run``).

``inputs_from_values`` is step 1 for one day from stored factor values instead of bars (the
nightly's score stage; ``flyer.models.predict.predict_values``).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import polars as pl

from flyer.core import progress
from flyer.data.fields import attach
from flyer.data.store import MarketStore
from flyer.core.errors import FlyerError
from flyer.models import metrics
from flyer.models.config import SEQ_KINDS, TrainConfig, reads_factors, with_factor_key
from flyer.models.dataset import Panel, Split, build_panel, prepare_fold
from flyer.models.features import FeatureSpec, clean, compute_features, compute_label, resolve, universe_mask
from flyer.models.registry import make_learner
from flyer.models.runs import FoldResult, Home, Run, find_run, save_run
from flyer.models.splits import make_folds


@dataclass
class Inputs:
    """Everything a run needs from the store: bars, features, labels, universe, calendar."""

    bars: pl.DataFrame
    features: pl.DataFrame
    label: pl.DataFrame
    universe: pl.DataFrame | None
    days: list[dt.date]


def shift_days(store: MarketStore, day: dt.date, n: int) -> dt.date:
    """The trading day ``n`` trading days before (n > 0) or after (n < 0) ``day`` (clamped)."""
    if n >= 0:
        cal = store.calendar(None, day)
        return cal[max(0, cal.len() - 1 - n)] if cal.len() else day
    cal = store.calendar(day, None)
    return cal[min(cal.len() - 1, -n)] if cal.len() else day


def current_spec(cfg: TrainConfig) -> FeatureSpec | None:
    """The feature set ``cfg.data.factors`` names now (None for a model that reads no factors);
    a ``FlyerError`` when its content no longer matches ``cfg.data.factor_key``."""
    if not reads_factors(cfg):
        return None
    spec = resolve(cfg.data.factors)
    if cfg.data.factor_key and spec.key != cfg.data.factor_key:
        raise FlyerError(f"factor set {cfg.data.factors!r} changed since the config was made "
                         f"(key {cfg.data.factor_key} -> {spec.key})")
    return spec


def needed_lookback(cfg: TrainConfig, spec: FeatureSpec | None = None) -> int:
    """Trading days of history before the first sample: the feature lookback, plus the window
    length for sequence models (OHLCV windows need no factor lookback)."""
    if not reads_factors(cfg):
        return cfg.data.seq_len + 1
    base = cfg.data.lookback or (spec or resolve(cfg.data.factors)).lookback + 5
    return base + (cfg.data.seq_len if cfg.model.kind in SEQ_KINDS else 0)


def load_inputs(store: MarketStore, cfg: TrainConfig, start: dt.date, end: dt.date, with_label: bool = True,
                spec: FeatureSpec | None = None) -> Inputs:
    """Bars and derived frames for samples dated in [start, end]; features from ``spec``
    (default: ``current_spec(cfg)``)."""
    spec = spec if spec is not None else current_spec(cfg)
    first = shift_days(store, start, needed_lookback(cfg, spec))
    last = shift_days(store, end, -(cfg.data.label_horizon + 2)) if with_label else end
    universe = universe_mask(store, cfg.data.universe, start, end)
    symbols = universe["symbol"].unique().sort().to_list() if universe is not None else None
    bars = store.bars(first, last, symbols=symbols)
    if bars.height == 0:
        raise FlyerError(f"no bars in the store between {first} and {last}")
    bars = attach(store, bars)  # point-in-time $industry, $pe, $pb
    if spec is None:
        feats = bars.select("date", "symbol")  # windows of OHLCV only: no factor needed
    else:  # tabular models need feature rows of universe members only
        keep = universe if cfg.model.kind not in SEQ_KINDS else None
        feats = compute_features(bars, spec, keep=keep)
    if with_label:
        label = compute_label(bars, cfg.data.label_horizon, cfg.data.label_price)
    else:
        label = bars.select("date", "symbol", pl.lit(None, pl.Float32).alias("label"))
    days = store.calendar(first, last).to_list()
    return Inputs(bars, feats, label, universe, days)


def inputs_from_values(store: MarketStore, cfg: TrainConfig, day: dt.date, values: pl.DataFrame) -> Inputs:
    """``Inputs`` of a tabular model for samples on ``day`` from stored factor values
    ``[date, symbol, f...]`` (as ``flyer.factors.storage.read``) instead of bars: the day's
    bars only give the suspension flags, the universe its members."""
    if cfg.model.kind in SEQ_KINDS:
        raise FlyerError(f"{cfg.model.kind} models score from bars (windows), not from one day's values")
    universe = universe_mask(store, cfg.data.universe, day, day)
    symbols = universe["symbol"].unique().sort().to_list() if universe is not None else None
    bars = store.bars(day, day, symbols=symbols)
    if bars.height == 0:
        raise FlyerError(f"no bars in the store on {day}")
    feats = clean(values.filter(pl.col("date") == day))
    if universe is not None:
        feats = feats.join(universe, on=["date", "symbol"], how="semi")
    label = bars.select("date", "symbol", pl.lit(None, pl.Float32).alias("label"))
    return Inputs(bars, feats, label, universe, [day])


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
    panel = make_panel(inputs, cfg)
    folds = make_folds(cfg.split, inputs.days, cfg.data.label_horizon)
    results = []
    with progress.task(f"training {cfg.model.kind}", total=len(folds), unit="folds") as bar:
        for fold in folds:
            t0 = time.perf_counter()
            fd = prepare_fold(panel, fold, cfg.data, seq_ohlcv=cfg.model.kind in SEQ_KINDS and cfg.data.seq_input == "ohlcv",
                              seq_len=cfg.data.seq_len, seed=cfg.seed)
            if fd.train.n == 0 or fd.valid.n == 0:
                raise FlyerError(f"fold {fold.index}: no labelled samples in train {fold.train} or valid {fold.valid}")
            learner = make_learner(cfg, threads)
            learner.progress_label = f"fold {fold.index + 1}/{len(folds)} {cfg.model.kind}"
            learner.fold_index = fold.index
            learner.fit(fd, panel)
            res = FoldResult(fold, learner, fd.state)
            for name in ("train", "valid", "test"):
                split: Split = getattr(fd, name)
                res.scores[name] = _frame(panel, split, learner.predict_split(fd.x, panel, split, fd.state))
            learner.info["fit_seconds"] = time.perf_counter() - t0
            test = f"{fold.test[0]}..{fold.test[1]}" if fold.test else "none"
            valid_ic = metrics.summary(res.scores["valid"]).get("RankIC")
            bar.advance(info=f"fold {fold.index + 1}: train {fold.train[0]}..{fold.train[1]}, test {test}, "
                             f"this fold's valid RankIC {_num(valid_ic)}")
            if log:
                log(f"fold {fold.index}: train {fold.train[0]}..{fold.train[1]} test {test} ({time.perf_counter() - t0:.1f}s)")
            results.append(res)
            del fd  # the fold's processed matrix goes before the next fold builds its own
        pooled = metrics.summary(pl.concat([r.scores["valid"] for r in results])).get("RankIC")
        bar.close(info=f"valid RankIC over all {len(results)} fold(s) pooled {_num(pooled)} (each fold's above)")
    return panel, results


def _num(v: Any) -> str:
    return f"{v:.4f}" if isinstance(v, (int, float)) and v == v else "-"


def fold_metrics(results: list[FoldResult], lags: int = 1) -> dict[str, Any]:
    """Metrics per split: ``test`` on the stitched out-of-sample series, ``train``/``valid`` on
    all folds' rows pooled, plus each fold's own (with the learner's info: best iteration,
    ...); ``lags``: the Newey-West lags of RankIC_t (the label horizon). ``warnings``: the
    folds whose model collapsed (``metrics.collapse_warnings``)."""
    out: dict[str, Any] = {}
    for name in ("train", "valid", "test"):
        out[name] = metrics.summary(pl.concat([r.scores[name] for r in results]), lags=lags)
    out["folds"] = [{"fold": r.fold.index, **{n: metrics.summary(r.scores[n], lags=lags) for n in ("train", "valid", "test")},
                     "info": {k: v for k, v in r.learner.info.items() if k != "history"}} for r in results]
    out["warnings"] = metrics.collapse_warnings(out["folds"])
    return out


def train(store: MarketStore, cfg: TrainConfig, home: Home = None, threads: int = 0,
          log: Callable[[str], None] | None = None, *, force: bool = False, null_features: str = "warn") -> Run:
    """Train ``cfg`` on ``store`` and write the run folder ``runs/<run id>`` (``run_id``: the
    config's key and the key of the data it reads, ``flyer.data.identity.data_key`` up to its
    last split date); returns the ``Run``. When that folder already exists the saved run is
    returned with ``reused=True`` and nothing is trained, unless ``force`` (then it is
    retrained in place).
    Features mostly null in the test span but not in training (``feature_health``) are warned
    about (``log``, else a Python warning; kept in ``meta.json``), or refused with
    ``null_features="refuse"``."""
    from flyer.data.identity import data_key

    cfg = with_factor_key(cfg)
    last = cfg.split.test[1] if cfg.split.test else cfg.split.valid[1]
    dkey = data_key(store, last)
    if not force and (existing := find_run(home, cfg, dkey)) is not None:
        return dataclasses.replace(existing, reused=True)
    t0 = time.perf_counter()
    spec = current_spec(cfg)
    inputs = load_inputs(store, cfg, cfg.split.train[0], last, spec=spec)
    notes = _feature_warnings(inputs, cfg, null_features, log)
    _, results = fit_folds(inputs, cfg, threads, log)
    meta = {"seconds": time.perf_counter() - t0, "feature_warnings": notes}
    return save_run(home, cfg, dkey, spec, results, fold_metrics(results, cfg.data.label_horizon), meta)


def _feature_warnings(inputs: Inputs, cfg: TrainConfig, mode: str, log: Callable[[str], None] | None) -> list[str]:
    """``feature_health.null_shift`` of the inputs: warned about (or refused) before fitting."""
    import warnings

    from flyer.models.feature_health import message, null_shift

    if mode not in ("warn", "refuse", "ignore"):
        raise FlyerError(f"null_features must be warn, refuse or ignore, not {mode!r}")
    flagged = null_shift(inputs.features, cfg) if mode != "ignore" else []
    if not flagged:
        return []
    msg = message(flagged, cfg)
    if mode == "refuse":
        raise FlyerError(f"refusing to train: {msg}")
    log(f"warning: {msg}") if log else warnings.warn(msg, UserWarning, stacklevel=3)
    return [msg]
