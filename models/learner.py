"""The ``Learner`` interface every model kind implements (LightGBM, ridge, torch nets).

A learner is fitted on one fold (``fit(fd, panel)``), scores rows date by date
(``predict_rows`` / ``predict_split``) so that scoring one day reproduces the run exactly, and
is saved as one file (``save`` / ``load``). Implementations live in ``flyer.models.learners``
and ``flyer.models.torch_learner``; ``flyer.models.registry`` maps a kind to its class.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from flyer.models.config import TrainConfig
from flyer.models.dataset import FoldData, Panel, Split


class Learner:
    """Interface: ``fit(fd, panel)``, ``predict_rows(x, panel, rows)``, ``save(path)``, ``load``."""

    suffix = ".bin"
    #: what ``fit`` calls its progress task (boosting rounds, epochs); the pipeline names the fold
    progress_label = "fit"
    #: the fold being fitted (0 = the first: progress text that holds for every fold is said there)
    fold_index = 0

    def __init__(self, cfg: TrainConfig, threads: int = 0) -> None:
        self.cfg = cfg
        self.params = dict(cfg.model.params)
        self.threads = threads
        self.info: dict[str, Any] = {}

    def fit(self, fd: FoldData, panel: Panel) -> None:
        raise NotImplementedError

    def predict_rows(self, x: np.ndarray, panel: Panel, rows: np.ndarray, state: dict[str, Any]) -> np.ndarray:
        """Scores of panel ``rows`` (all of one date) from the processed matrix ``x``."""
        raise NotImplementedError

    def save(self, path: Path) -> None:
        raise NotImplementedError

    def load(self, path: Path, n_features: int) -> None:
        raise NotImplementedError

    def predict_split(self, x: np.ndarray, panel: Panel, split: Split, state: dict[str, Any]) -> np.ndarray:
        """Scores of every sample of ``split``, computed one date at a time (float32)."""
        out = np.empty(split.n, dtype=np.float32)
        for a, b in zip(split.offsets[:-1], split.offsets[1:]):
            out[a:b] = self.predict_rows(x, panel, split.rows[a:b], state)
        return out
