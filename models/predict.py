"""Scoring one day with a saved run (the nightly job's call).

1. read the store from ``lookback`` trading days before ``day`` up to ``day`` (the lookback the
   run's feature set and window need, ``pipeline.needed_lookback``);
2. compute exactly the run's features (checked against ``features.json``) and its universe;
3. apply the processors fitted on the latest fold's training period;
4. score the day's samples with the latest fold's model -> ``[date, symbol, score]``.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from flyer.errors import FlyerError
from flyer.models.dataset import apply_state, select_rows
from flyer.models.pipeline import load_inputs, make_panel


def predict_day(run, store, day: dt.date, threads: int = 0) -> pl.DataFrame:
    """``[date, symbol, score]`` (score Float64, higher is better) for the universe on ``day``."""
    cal = store.calendar(day, day)
    if cal.len() == 0:
        raise FlyerError(f"{day} is not a trading day in the store")
    cfg = run.config
    inputs = load_inputs(store, cfg, day, day, with_label=False)
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
