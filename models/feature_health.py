"""Features that go empty out of sample: a check ``flyer.models.train`` runs before fitting.

``null_shift(features, cfg)``: per feature, the share of null values among the universe rows
of the training span and of the test span (the validation span when there is no test span);
a feature is flagged when it is null on more than ``high`` of the test rows but on less than
``low`` of the training rows: the model learnt on a column that is (almost) gone when it is
used (``amount`` vanishing on the real data in 2022 empties ``$vwap`` and every factor on it).
``train`` logs one warning per run listing the flagged features (kept in ``meta.json`` under
``feature_warnings``) or, with ``null_features="refuse"``, raises ``FlyerError``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from flyer.models.config import TrainConfig


@dataclass(frozen=True)
class NullShift:
    """One flagged feature: its null shares (fractions) in the training and test spans."""

    feature: str
    train: float
    test: float

    def text(self) -> str:
        return f"{self.feature} ({self.train:.0%} -> {self.test:.0%})"


def null_shift(features: pl.DataFrame, cfg: TrainConfig, low: float = 0.1, high: float = 0.5) -> list[NullShift]:
    """Flagged features of a feature frame ``[date, symbol, f...]`` (see the module docstring)."""
    late = cfg.split.test or cfg.split.valid
    names = [c for c in features.columns if c not in ("date", "symbol")]
    if not names:
        return []
    spans = {"train": (cfg.split.train[0], cfg.split.train[1]), "test": late}
    shares: dict[str, dict[str, Any]] = {}
    for key, (a, b) in spans.items():
        part = features.filter(pl.col("date").is_between(a, b))
        if part.height == 0:
            return []
        shares[key] = part.select(pl.col(n).is_null().mean() for n in names).row(0, named=True)
    return [NullShift(n, float(shares["train"][n]), float(shares["test"][n])) for n in names
            if shares["test"][n] > high and shares["train"][n] < low]


def message(flagged: list[NullShift], cfg: TrainConfig) -> str:
    """One line naming the flagged features (the first 10) and what to do."""
    late = "test" if cfg.split.test else "valid"
    names = ", ".join(f.text() for f in flagged[:10]) + (" ..." if len(flagged) > 10 else "")
    return (f"{len(flagged)} feature(s) mostly null in the {late} span but not in training (null share train -> "
            f"{late}): {names}; see `flyer check --factors {cfg.data.factors}`")
