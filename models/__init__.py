"""Models: datasets, splits, learners (LightGBM, ridge, MLP, GRU, LSTM, Transformer) and runs.

Python API (used by the CLI, the nightly job, the demo and notebooks)::

    cfg = models.make_config("lgbm", train=(d0, d1), valid=(d2, d3), test=(d4, d5), factors="alpha158")
    run = models.train(store, cfg)                 # -> Run, written to $FLYER_HOME/runs/<id>/
    run = models.load_run(home, run_id)
    scores = run.predict(store, date)              # -> [date, symbol, score]
    models.list_runs(home)                         # -> one row per run
"""
from __future__ import annotations

from models.config import (DataConfig, ModelConfig, SplitConfig, TrainConfig, config_id, make_config,
                           parse_range)
from models.pipeline import train
from models.runs import Run, list_runs, load_run

__all__ = ["DataConfig", "ModelConfig", "SplitConfig", "TrainConfig", "config_id", "make_config",
           "parse_range", "train", "Run", "list_runs", "load_run"]
