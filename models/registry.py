"""The learner registry: model kind -> ``Learner`` class.

``LEARNERS`` is a read-only mapping ``{kind: class}`` over ``config.MODEL_KINDS``. Classes are
named by module path and imported on first lookup, so importing the registry imports neither
LightGBM nor torch, and no learner module imports the registry (no import cycle). A new kind is
one line in ``_CLASSES`` plus its name in ``config.MODEL_KINDS``.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Iterator, Mapping

from flyer.core.errors import FlyerError
from flyer.models.config import MODEL_KINDS, TrainConfig

if TYPE_CHECKING:
    from flyer.models.learner import Learner

#: kind -> "module:class"
_CLASSES: dict[str, str] = {
    "lgbm": "flyer.models.learners:LGBMLearner",
    "linear": "flyer.models.learners:RidgeLearner",
    "mlp": "flyer.models.torch_learner:TorchLearner",
    "gru": "flyer.models.torch_learner:TorchLearner",
    "lstm": "flyer.models.torch_learner:TorchLearner",
    "transformer": "flyer.models.torch_learner:TorchLearner",
    "dens": "flyer.models.dens_learner:DoubleEnsembleLearner",
}


class _Registry(Mapping[str, "type[Learner]"]):
    """``{kind: Learner class}``, each class imported when first looked up."""

    def __init__(self, classes: dict[str, str]) -> None:
        self._names = dict(classes)
        self._loaded: dict[str, type[Learner]] = {}

    def __getitem__(self, kind: str) -> type[Learner]:
        if kind not in self._loaded:
            module, _, cls = self._names[kind].partition(":")
            self._loaded[kind] = getattr(importlib.import_module(module), cls)
        return self._loaded[kind]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


LEARNERS: Mapping[str, type[Learner]] = _Registry({k: _CLASSES[k] for k in MODEL_KINDS})


def make_learner(cfg: TrainConfig, threads: int = 0) -> Learner:
    """A fresh learner for ``cfg.model.kind``."""
    if cfg.model.kind not in LEARNERS:
        raise FlyerError(f"unknown model {cfg.model.kind!r}; choose one of {', '.join(LEARNERS)}")
    return LEARNERS[cfg.model.kind](cfg, threads)
