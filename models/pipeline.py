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
from typing import Any, Callable, Sequence

import numpy as np
import polars as pl

from flyer.core import progress
from flyer.core.config import content_key
from flyer.core.errors import FlyerError
from flyer.data.fields import attach
from flyer.data.store import MarketStore
from flyer.models import metrics
from flyer.models.config import SEQ_KINDS, TrainConfig, reads_factors, with_factor_key
from flyer.models.dataset import Panel, Split, build_panel, prepare_fold
from flyer.models.features import FeatureSpec, clean, compute_features, compute_label, resolve, universe_mask
from flyer.models.parallel import Runner, SerialRunner
from flyer.models.registry import make_learner
from flyer.models.runs import FoldResult, Home, Run, find_run, save_run
from flyer.models.splits import Fold, make_folds


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


def bar_columns(spec: FeatureSpec | None, cfg: TrainConfig) -> tuple[list[str] | None, list[str]]:
    """(the bar columns to read, the extra fields to attach) for ``spec``'s features, the label
    and the panel: what the formulas read (``flyer.factors.expr.fields_of``) plus ``is_suspended``
    (the factor engine nulls traded fields on suspended days, the panel drops those samples),
    the label's price and, for sequence models on OHLCV, their fields. None: every column (a
    built-in set, whose columns are its own code's)."""
    from flyer.data.fields import EXTRA_FIELDS
    from flyer.factors.expr import fields_of
    from flyer.models.features import SEQ_FIELDS

    if spec is not None and spec.factor_set is None:
        return None, list(EXTRA_FIELDS)
    used: set[str] = set()
    for _, expr in (spec.factor_set if spec is not None and spec.factor_set is not None else ()):
        used |= fields_of(expr)
    if cfg.model.kind in SEQ_KINDS and cfg.data.seq_input == "ohlcv":
        used |= set(SEQ_FIELDS)
    extras = sorted(used & set(EXTRA_FIELDS))
    return sorted((used - set(extras)) | {"is_suspended", cfg.data.label_price}), extras


def load_inputs(store: MarketStore, cfg: TrainConfig, start: dt.date, end: dt.date, with_label: bool = True,
                spec: FeatureSpec | None = None) -> Inputs:
    """Bars and derived frames for samples dated in [start, end]; features from ``spec``
    (default: ``current_spec(cfg)``). Only the bar columns the features and the label read are
    loaded (``bar_columns``), and the bars kept afterwards are the slim ``[date, symbol,
    is_suspended]`` (+ the sequence fields) the panel needs: the walk-forward's peak memory is
    the feature computation, not the bars beside it."""
    spec = spec if spec is not None else current_spec(cfg)
    first = shift_days(store, start, needed_lookback(cfg, spec))
    last = shift_days(store, end, -(cfg.data.label_horizon + 2)) if with_label else end
    universe = universe_mask(store, cfg.data.universe, start, end)
    symbols = universe["symbol"].unique().sort().to_list() if universe is not None else None
    columns, extras = bar_columns(spec, cfg)
    bars = store.bars(first, last, symbols=symbols, columns=columns)
    if bars.height == 0:
        raise FlyerError(f"no bars in the store between {first} and {last}")
    bars = attach(store, bars, extras)  # point-in-time $industry, $pe, $pb, when the formulas read them
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
    seq = cfg.model.kind in SEQ_KINDS and cfg.data.seq_input == "ohlcv"
    from flyer.models.features import SEQ_FIELDS
    slim = bars.select("date", "symbol", "is_suspended", *(SEQ_FIELDS if seq else ()))
    return Inputs(slim, feats, label, universe, days)


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


def fit_fold(panel: Panel, cfg: TrainConfig, fold: Fold, threads: int, n_folds: int) -> FoldResult:
    """Fit processors and a learner on one fold of ``panel`` (early stopping on valid) and score
    its train, valid and test rows: the unit of work a walk-forward, an ensemble or a grid runs
    (serially, or as a Ray task: ``flyer.models.parallel``)."""
    t0 = time.perf_counter()
    fd = prepare_fold(panel, fold, cfg.data, seq_ohlcv=cfg.model.kind in SEQ_KINDS and cfg.data.seq_input == "ohlcv",
                      seq_len=cfg.data.seq_len, seed=cfg.seed)
    if fd.train.n == 0 or fd.valid.n == 0:
        raise FlyerError(f"fold {fold.index}: no labelled samples in train {fold.train} or valid {fold.valid}")
    learner = make_learner(cfg, threads)
    learner.progress_label = f"fold {fold.index + 1}/{n_folds} {cfg.model.kind}"
    learner.fold_index = fold.index
    learner.fit(fd, panel)
    res = FoldResult(fold, learner, fd.state)
    for name in ("train", "valid", "test"):
        split: Split = getattr(fd, name)
        res.scores[name] = _frame(panel, split, learner.predict_split(fd.x, panel, split, fd.state))
    learner.info["fit_seconds"] = time.perf_counter() - t0
    return res


def _fit_task(panels: dict[str, Panel], job: tuple[str, TrainConfig, Fold, int, int]) -> FoldResult:
    """A runner task: ``fit_fold`` on the shared panel ``job[0]`` names."""
    key, cfg, fold, threads, n_folds = job
    return fit_fold(panels[key], cfg, fold, threads, n_folds)


def fit_folds(inputs: Inputs, cfg: TrainConfig, threads: int = 0,
              log: Callable[[str], None] | None = None, runner: Runner | None = None) -> tuple[Panel, list[FoldResult]]:
    """Fit one learner per fold; returns the panel and the per-fold results with scores.

    The panel is built once (``make_panel``; the inputs' feature frame is released once it is
    in the panel) and every fold reads it in place. ``runner`` (``flyer.models.parallel``) fits
    the folds as parallel tasks, ``threads`` each, with results identical to the serial loop."""
    panel = make_panel(inputs, cfg)
    inputs.features = inputs.features.clear()  # the panel holds them now: one copy in memory, not two
    folds = make_folds(cfg.split, inputs.days, cfg.data.label_horizon)
    if runner is not None and runner.workers > 1:
        with progress.task(f"training {cfg.model.kind}", total=len(folds), unit="folds") as bar:
            results = runner.map(_fit_task, [("p", cfg, f, threads, len(folds)) for f in folds], {"p": panel})
            bar.advance(len(folds), info=f"{len(folds)} folds on {runner.describe()}")
        return panel, results
    results = []
    with progress.task(f"training {cfg.model.kind}", total=len(folds), unit="folds") as bar:
        for fold in folds:
            t0 = time.perf_counter()
            res = fit_fold(panel, cfg, fold, threads, len(folds))
            test = f"{fold.test[0]}..{fold.test[1]}" if fold.test else "none"
            valid_ic = metrics.summary(res.scores["valid"]).get("RankIC")
            bar.advance(info=f"fold {fold.index + 1}: train {fold.train[0]}..{fold.train[1]}, test {test}, "
                             f"this fold's valid RankIC {_num(valid_ic)}")
            if log:
                log(f"fold {fold.index}: train {fold.train[0]}..{fold.train[1]} test {test} ({time.perf_counter() - t0:.1f}s)")
            results.append(res)
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
          log: Callable[[str], None] | None = None, *, force: bool = False, null_features: str = "warn",
          runner: Runner | None = None) -> Run:
    """Train ``cfg`` on ``store`` and write the run folder ``runs/<run id>`` (``run_id``: the
    config's key and the key of the data it reads, ``flyer.data.identity.data_key`` up to its
    last split date); returns the ``Run``. When that folder already exists the saved run is
    returned with ``reused=True`` and nothing is trained, unless ``force`` (then it is
    retrained in place). ``runner``: fit the folds in parallel (``fit_folds``).
    Features mostly null in the test span but not in training (``feature_health``) are warned
    about (``log``, else a Python warning; kept in ``meta.json``), or refused with
    ``null_features="refuse"``."""
    return train_many(store, [cfg], home, threads, log, force=force, null_features=null_features, runner=runner)[0]


def panel_key(cfg: TrainConfig) -> str:
    """What shapes a config's panel (its inputs and ``make_panel``): the data settings except
    the processors, the span loaded, and whether the model reads sequences. Configs of equal
    keys (an ensemble's members, mostly) share one panel."""
    d = cfg.data
    last = cfg.split.test[1] if cfg.split.test else cfg.split.valid[1]
    return content_key({"factors": d.factor_key or d.factors, "universe": d.universe, "h": d.label_horizon,
                        "price": d.label_price, "seq": [cfg.model.kind in SEQ_KINDS, d.seq_input, d.seq_len],
                        "suspended": d.drop_suspended, "lookback": needed_lookback(cfg, current_spec(cfg)),
                        "span": [str(cfg.split.train[0]), str(last)]})


def train_many(store: MarketStore, cfgs: Sequence[TrainConfig], home: Home = None, threads: int = 0,
               log: Callable[[str], None] | None = None, *, force: bool = False, null_features: str = "warn",
               runner: Runner | None = None) -> list[Run]:
    """``train`` every config (an ensemble's members, a stack's horizons, a grid), reusing the
    saved runs. The configs to train are grouped by ``panel_key``: each group's inputs are
    loaded and its panel built once; with a ``runner`` every (config, fold) of every group is
    one task (the panels go to the object store once), so members and folds run side by side."""
    from flyer.data.identity import data_key

    cfgs = [with_factor_key(c) for c in cfgs]
    runs: list[Run | None] = []
    todo: dict[str, list[tuple[int, TrainConfig, str]]] = {}
    for i, cfg in enumerate(cfgs):
        last = cfg.split.test[1] if cfg.split.test else cfg.split.valid[1]
        dkey = data_key(store, last)
        existing = None if force else find_run(home, cfg, dkey)
        if existing is not None:
            existing = dataclasses.replace(existing, reused=True)
        runs.append(existing)
        if existing is None:
            todo.setdefault(panel_key(cfg), []).append((i, cfg, dkey))
    for group in todo.values():
        t0 = time.perf_counter()
        first = group[0][1]
        spec = current_spec(first)
        last = first.split.test[1] if first.split.test else first.split.valid[1]
        inputs = load_inputs(store, first, first.split.train[0], last, spec=spec)
        notes = {i: _feature_warnings(inputs, c, null_features, log) for i, c, _ in group}
        if len(group) == 1 and (runner is None or runner.workers < 2):
            _, results_of = fit_folds(inputs, first, threads, log)
            fitted = {group[0][0]: results_of}
        else:
            fitted = _fit_group(inputs, group, threads, runner)
        seconds = (time.perf_counter() - t0) / len(group)
        for i, cfg, dkey in group:
            meta = {"seconds": seconds, "feature_warnings": notes[i]}
            runs[i] = save_run(home, cfg, dkey, current_spec(cfg), fitted[i],
                               fold_metrics(fitted[i], cfg.data.label_horizon), meta)
    return [r for r in runs if r is not None]


def _fit_group(inputs: Inputs, group: list[tuple[int, TrainConfig, str]], threads: int,
               runner: Runner | None) -> dict[int, list[FoldResult]]:
    """Every fold of every config of one panel group, through ``runner`` (serial when None)."""
    panel = make_panel(inputs, group[0][1])
    inputs.features = inputs.features.clear()
    jobs, owners = [], []
    for i, cfg, _ in group:
        folds = make_folds(cfg.split, inputs.days, cfg.data.label_horizon)
        jobs += [("p", cfg, f, threads, len(folds)) for f in folds]
        owners += [i] * len(folds)
    use = runner if runner is not None else SerialRunner()
    with progress.task("training", total=len(jobs), unit="folds") as bar:
        results = use.map(_fit_task, jobs, {"p": panel})
        bar.advance(len(jobs), info=use.describe())
    out: dict[int, list[FoldResult]] = {}
    for i, res in zip(owners, results):
        out.setdefault(i, []).append(res)
    return out


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
