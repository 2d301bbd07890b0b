"""Scoring one day with a saved run (``flyer predict`` and the nightly job).

``predict_day(run, store, day)`` recomputes from bars:
1. read the store from ``lookback`` trading days before ``day`` up to ``day`` (the lookback the
   run's feature set and window need, ``pipeline.needed_lookback``);
2. compute exactly the run's features from the formulas the run saved (``Run.feature_spec``,
   not the file its name points at; checked against ``features.json``) and its universe;
3. apply the processors fitted on the latest fold's training period;
4. score the day's samples with the latest fold's model -> ``[date, symbol, score]``.

``predict_values(run, store, day, values)`` is the same with step 1-2 replaced by the day's
stored factor values; ``predict_stored(run, store, home, day)`` reads them from
``flyer.factors.storage`` (the folder of the run's factor set content key): what the nightly
``score`` stage does, after its ``factors`` stage, for every run ``stored_set`` accepts.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from flyer.data.store import MarketStore
from flyer.core.errors import FlyerError
from flyer.models.config import SEQ_KINDS
from flyer.models.dataset import apply_state, select_rows
from flyer.models.pipeline import Inputs, inputs_from_values, load_inputs, make_panel
from flyer.models.runs import Run

if TYPE_CHECKING:
    from flyer.factors.factorset import FactorSet


def _as_day(store: MarketStore, date: dt.date | str) -> dt.date:
    day = dt.date.fromisoformat(date) if isinstance(date, str) else date
    if store.calendar(day, day).len() == 0:
        raise FlyerError(f"{day} is not a trading day in the store")
    return day


def predict_day(run: Run, store: MarketStore, date: dt.date | str, threads: int = 0) -> pl.DataFrame:
    """``[date, symbol, score]`` (score Float64, higher is better) for the run's universe on
    ``date`` (a trading day), features recomputed from the store's bars."""
    day = _as_day(store, date)
    inputs = load_inputs(store, run.config, day, day, with_label=False, spec=run.feature_spec())
    return _score(run, inputs, day, threads)


def predict_values(run: Run, store: MarketStore, date: dt.date | str, values: pl.DataFrame,
                   threads: int = 0) -> pl.DataFrame:
    """As ``predict_day``, from the day's stored factor values ``[date, symbol, f...]`` of the
    run's factor set (tabular models only; sequence models need bars)."""
    day = _as_day(store, date)
    return _score(run, inputs_from_values(store, run.config, day, values), day, threads)


def stored_set(run: Run) -> tuple[FactorSet | None, str]:
    """The factor set whose stored values (default mode) score ``run`` exactly as
    ``predict_day`` would, or ``(None, why not)``: sequence models need windows of bars, a
    built-in feature set is not stored, and cross-sectional factors of a run restricted to a
    universe are computed over that universe (stored values are whole-market)."""
    spec = run.feature_spec()
    cfg = run.config
    if cfg.model.kind in SEQ_KINDS:
        return None, f"{cfg.model.kind} scores windows of bars"
    if spec is None or spec.factor_set is None:
        return None, f"built-in feature set {cfg.data.factors!r} is not stored"
    if spec.factor_set.cross_sectional and cfg.data.universe != "all":
        return None, f"cross-sectional factors over universe {cfg.data.universe} differ from whole-market values"
    return spec.factor_set, ""


def predict_stored(run: Run, store: MarketStore, home: str | os.PathLike, date: dt.date | str,
                   threads: int = 0) -> pl.DataFrame:
    """As ``predict_day``, from the values stored under ``<home>/factors/<key>/`` for ``date``
    (``FlyerError`` when the run cannot be scored so, or the day is not stored)."""
    from flyer.factors import storage

    fs, why = stored_set(run)
    if fs is None:
        raise FlyerError(f"run {run.id} cannot be scored from stored factor values: {why}")
    day = _as_day(store, date)
    values = storage.read(storage.set_root(home, fs), day, day, factors=list(run.features))
    return predict_values(run, store, day, values, threads)


def _score(run: Run, inputs: Inputs, day: dt.date, threads: int) -> pl.DataFrame:
    cfg = run.config
    panel = make_panel(inputs, cfg)
    if list(panel.features) != list(run.features):
        raise FlyerError(f"run {run.id}: the factor set {cfg.data.factors!r} now yields different features")
    state = run.processors()[-1]
    rows = select_rows(panel, (day, day), need_label=False)
    if rows.size == 0:
        raise FlyerError(f"no stock to score on {day} (no bars, or none in universe {cfg.data.universe})")
    x = apply_state(panel.x, panel.dates, state["features"], panel.sample_ok)
    score = run.learner(threads=threads).predict_rows(x, panel, rows, state)
    return panel.keys[rows].select("date", "symbol").with_columns(
        pl.Series("score", np.asarray(score, dtype=np.float32)).cast(pl.Float64)).sort("symbol")
