"""Training on a feature frame the user built (``flyer.models.train_frame``).

``features``: ``[date, symbol, f1 ... fn]`` (numeric columns; rows outside the universe are
dropped, infinities become null). Labels, the point-in-time universe, suspensions and the
walk-forward folds come from the store and the config exactly as for ``flyer.models.train``;
the run is content-keyed like any other: ``data.factors`` is ``frame:<name>`` and
``data.factor_key`` is ``frame-<hash of the frame's columns, types and rows>``, so the same
frame and config reuse the run and any change of the frame names a new one. Such a run holds
no formulas: it cannot score a new day by itself (``predict_day`` says so); its out-of-sample
``predictions()`` feed backtests as usual.
"""
from __future__ import annotations

import dataclasses
import time
from typing import Any

import polars as pl

from flyer.core.config import digest
from flyer.data.store import MarketStore
from flyer.core.errors import FlyerError
from flyer.models.config import SEQ_KINDS, DateRange, TrainConfig, make_config
from flyer.models.features import clean, compute_label, universe_mask
from flyer.models.runs import Home, Run, find_run, save_run

FRAME_PREFIX = "frame:"


def frame_key(features: pl.DataFrame) -> str:
    """12 hex digits naming a feature frame by content (columns, dtypes and sorted rows)."""
    df = features.sort("date", "symbol")
    head = "|".join(f"{c}:{t}" for c, t in df.schema.items()).encode()
    rows = df.hash_rows(seed=0).to_numpy().tobytes()
    return digest(head + rows, 12)


def frame_config(features: pl.DataFrame, model: str, train: DateRange, valid: DateRange,
                 test: DateRange | None = None, name: str = "user", **kwargs: Any) -> TrainConfig:
    """A ``TrainConfig`` for ``features`` (``make_config``'s arguments; ``horizon`` is an alias
    of ``label_horizon``)."""
    if "horizon" in kwargs:
        kwargs["label_horizon"] = kwargs.pop("horizon")
    if model in SEQ_KINDS:
        raise FlyerError(f"{model} models read OHLCV windows from the store, not a feature frame: use lgbm, linear or mlp")
    missing = [c for c in ("date", "symbol") if c not in features.columns]
    if missing or features.width < 3:
        raise FlyerError("features must be [date, symbol, <one or more feature columns>]")
    cfg = make_config(model, train, valid, test, factors="basic", **kwargs)  # validated; factors replaced below
    data = dataclasses.replace(cfg.data, factors=f"{FRAME_PREFIX}{name}", factor_key=f"frame-{frame_key(features)}")
    return dataclasses.replace(cfg, data=data)


def train_frame(store: MarketStore, features: pl.DataFrame, model: str = "lgbm", *, train: DateRange,
                valid: DateRange, test: DateRange | None = None, home: Home = None, threads: int = 0,
                force: bool = False, name: str = "user", **kwargs: Any) -> Run:
    """Train ``model`` on the user's ``features`` (see the module docstring); returns the ``Run``
    (``reused`` when the same frame and config were trained before)."""
    from flyer.models.pipeline import Inputs, fit_folds, fold_metrics, shift_days

    cfg = frame_config(features, model, train, valid, test, name, **kwargs)
    from flyer.data.identity import data_key

    last = cfg.split.test[1] if cfg.split.test else cfg.split.valid[1]
    dkey = data_key(store, last)
    if not force and (existing := find_run(home, cfg, dkey)) is not None:
        return dataclasses.replace(existing, reused=True)
    t0 = time.perf_counter()
    universe = universe_mask(store, cfg.data.universe, cfg.split.train[0], last)
    first, end = shift_days(store, cfg.split.train[0], 2), shift_days(store, last, -(cfg.data.label_horizon + 2))
    symbols = universe["symbol"].unique().sort().to_list() if universe is not None else None
    bars = store.bars(first, end, symbols=symbols)
    feats = clean(features.filter(pl.col("date").is_between(cfg.split.train[0], last)))
    if universe is not None:
        feats = feats.join(universe, on=["date", "symbol"], how="semi")
    if feats.height == 0:
        raise FlyerError(f"no feature rows between {cfg.split.train[0]} and {last} (in the universe)")
    label = compute_label(bars, cfg.data.label_horizon, cfg.data.label_price)
    inputs = Inputs(bars, feats, label, universe, store.calendar(first, end).to_list())
    _, results = fit_folds(inputs, cfg, threads)
    meta = {"seconds": time.perf_counter() - t0, "features_from": "user frame", "frame": name}
    return save_run(home, cfg, dkey, None, results, fold_metrics(results), meta)


def is_frame_run(cfg: TrainConfig) -> bool:
    return cfg.data.factors.startswith(FRAME_PREFIX)


