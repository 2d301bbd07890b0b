"""Shared constants and config helper of the models tests (imported as ``models_kit``)."""
from __future__ import annotations

import datetime as dt

from flyer.models.config import TrainConfig, make_config

D = dt.date
TRAIN, VALID, TEST = (D(2018, 3, 1), D(2019, 12, 31)), (D(2020, 1, 1), D(2020, 6, 30)), (D(2020, 7, 1), D(2021, 6, 15))
SMALL_LGBM = {"num_boost_round": 300, "early_stopping": 30}  # flyer's defaults otherwise
SMALL_NET = {"hidden": 16, "epochs": 3, "patience": 2, "dates_per_batch": 8}


def config(kind: str = "lgbm", params: dict | None = None, **data) -> TrainConfig:
    """A config over the models sim market with small defaults."""
    base = SMALL_LGBM if kind == "lgbm" else SMALL_NET if kind not in ("linear",) else {}
    data.setdefault("factors", "basic")
    data.setdefault("lookback", 25)
    split = {k: data.pop(k) for k in ("walk_forward", "retrain_months", "window", "objective", "seed") if k in data}
    return make_config(kind, data.pop("train", TRAIN), data.pop("valid", VALID), data.pop("test", TEST),
                       params={**base, **(params or {})}, **split, **data)
