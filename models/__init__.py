"""Models: datasets, splits, learners (LightGBM, ridge, MLP, GRU, LSTM, Transformer) and runs.

Python API (used by the CLI, the nightly job, the demo and notebooks)::

    cfg = models.make_config("lgbm", train=(d0, d1), valid=(d2, d3), test=(d4, d5), factors="alpha158")
    run = models.train(store, cfg)                 # -> Run in $FLYER_HOME/runs/<run id>/ (config + data; reused if saved)
    run = models.train_frame(store, my_features, "lgbm", train=..., valid=..., test=..., horizon=5)
    run = models.load_run(home, run_id)
    scores = models.predict_day(run, store, date)  # -> [date, symbol, score]
    models.list_runs(home)                         # -> one row per run
    models.rank_average([r.predictions() for r in runs])   # per-date rank ensemble
    models.stack([run_h1, run_h5, run_h20])        # ridge on validation scores -> (scores, weights)

Layout (imports only go down this list, no cycles): ``config`` (frozen configs, content hash),
``features`` (feature sets and their content keys, labels, universe), ``processors`` /
``dataset`` (panel, processors fitted on train, lazy sequence windows), ``splits`` (fixed and
walk-forward folds with the label embargo), ``learner`` (the interface), ``learners``
(LightGBM, ridge), ``nets`` + ``torch_learner`` (MLP, GRU, LSTM, Transformer), ``registry``
(kind -> learner class, imported lazily), ``device``, ``metrics``, ``runs`` (run folders),
``pipeline`` (train), ``predict`` (one day), ``ensemble``.
"""
from __future__ import annotations

from flyer.models.config import (DataConfig, ModelConfig, Params, SplitConfig, TrainConfig, config_id,
                                 make_config, parse_range)
from flyer.models.ensemble import rank_average, save_combined, stack
from flyer.models.frames import train_frame
from flyer.models.pipeline import train
from flyer.models.predict import predict_day, predict_values
from flyer.models.registry import LEARNERS
from flyer.models.runs import Run, list_runs, load_run, run_id

__all__ = ["DataConfig", "LEARNERS", "ModelConfig", "Params", "SplitConfig", "TrainConfig", "config_id",
           "make_config", "parse_range", "train", "Run", "list_runs", "load_run", "predict_day",
           "predict_values", "rank_average", "run_id", "save_combined", "stack", "train_frame"]
