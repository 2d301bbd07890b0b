"""Frozen, hashable, JSON-serialisable configs of a training run; their content hash names the run.

A ``TrainConfig`` holds a ``DataConfig`` (features, label, universe, processors), a
``SplitConfig`` (fixed or walk-forward date ranges) and a ``ModelConfig`` (model kind, loss,
hyper-parameters as a frozen ``Params`` mapping), all on the config base
(``flyer.core.config.Config``: validated once when built, ``ConfigError`` naming the field).
``TrainConfig.key()`` is ``flyer.core.config.content_key`` of ``identity(cfg)``: the whole config
with the factor set entering through its content key (``DataConfig.factor_key``), not its name
or path. A run's id adds the data it was trained on (``flyer.models.runs.run_id``), so the same
config on the same data names the same run folder, and an edited formula file or different
data names a new one.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

from flyer.core.config import Config, ConfigError, canonical_json as _canonical, check, coerce
from flyer.core.errors import FlyerError
from flyer.data.universe import UNIVERSES
from flyer.models.features import resolve

MODEL_KINDS = ("lgbm", "linear", "mlp", "gru", "lstm", "transformer")
SEQ_KINDS = ("gru", "lstm", "transformer")
TORCH_KINDS = ("mlp", "gru", "lstm", "transformer")

DateRange = tuple[dt.date, dt.date]
#: ``DataConfig.factor_key`` of a model that reads no factor features (sequence models on OHLCV)
NO_FACTORS = "none"

# Per-kind default hyper-parameters; a ModelConfig stores the resolved (merged) values.
DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    # qlib's tree shape and regularisation (workflow_config_lightgbm_Alpha158.yaml) at a quarter of
    # its learning rate, with a floor of 100 trees (= 25 of qlib's), patience 100 rounds, early
    # stopping on the validation daily IC and bagging every tree. qlib's own settings (lr 0.2,
    # l2 stopping after 50 rounds) stop at 1-60 trees on CSI 500 and at 1-17 on the sim: a
    # few-tree model gives a few dozen distinct scores a day and top-k then picks from ties.
    # Chosen on the sim (RankIC, 3 folds; qlib preset / these / 63 leaves, l2 10): Alpha158 x 400
    # stocks 0.0290 / 0.0296 / 0.0218; basic x 150 stocks 0.0347 / 0.0363 / 0.0154; checked on
    # the real data by bench/research_csi500.py.
    "lgbm": {"learning_rate": 0.05, "num_leaves": 210, "max_depth": 8, "min_data_in_leaf": 20,
             "colsample_bytree": 0.8879, "subsample": 0.8789, "bagging_freq": 1, "lambda_l1": 205.6999,
             "lambda_l2": 580.9768, "num_boost_round": 1000, "early_stopping": 100, "min_trees": 100,
             "stop_metric": "ic", "grades": 5},
    "linear": {"alpha": 1.0},
    "mlp": {"hidden": 256, "layers": 2, "dropout": 0.1, "lr": 1e-3, "weight_decay": 0.0,
            "epochs": 30, "patience": 5, "dates_per_batch": 4},
    "gru": {"hidden": 64, "layers": 2, "dropout": 0.0, "lr": 1e-3, "weight_decay": 0.0,
            "epochs": 30, "patience": 5, "dates_per_batch": 2},
    "lstm": {"hidden": 64, "layers": 2, "dropout": 0.0, "lr": 1e-3, "weight_decay": 0.0,
             "epochs": 30, "patience": 5, "dates_per_batch": 2},
    "transformer": {"hidden": 64, "layers": 2, "heads": 4, "dropout": 0.1, "lr": 1e-4,
                    "weight_decay": 0.0, "epochs": 30, "patience": 5, "dates_per_batch": 2},
}

#: named parameter sets (``make_config(..., preset=)``, ``flyer train --preset``): ``qlib`` is
#: qlib's LightGBM benchmark (workflow_config_lightgbm_Alpha158.yaml) as qlib runs it: no
#: bagging (its ``subsample`` without a ``bagging_freq`` is ignored by LightGBM), early stopping
#: on validation l2 after 50 rounds, no floor on trees (it stops at 1-60 trees on CSI 500).
PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "lgbm": {"qlib": {"learning_rate": 0.2, "num_leaves": 210, "max_depth": 8, "min_data_in_leaf": 20,
                      "colsample_bytree": 0.8879, "subsample": 0.8789, "bagging_freq": 0,
                      "lambda_l1": 205.6999, "lambda_l2": 580.9768, "num_boost_round": 1000,
                      "early_stopping": 50, "min_trees": 1, "stop_metric": "l2"}},
}

# LambdaRank gradients are on another scale: qlib's strong L1/L2 would stop every split.
LAMBDARANK_PARAMS = {"lambda_l1": 0.0, "lambda_l2": 1.0, "learning_rate": 0.05, "num_leaves": 31,
                     "max_depth": -1, "min_data_in_leaf": 100}


class Params(Mapping[str, Any]):
    """Hyper-parameters: an immutable, hashable mapping (keys sorted; list values become tuples).
    Compares equal to a dict with the same items."""

    __slots__ = ("_items",)

    def __init__(self, items: Mapping[str, Any] | None = None) -> None:
        frozen = {str(k): tuple(v) if isinstance(v, list) else v for k, v in dict(items or {}).items()}
        self._items: tuple[tuple[str, Any], ...] = tuple(sorted(frozen.items()))

    def __getitem__(self, key: str) -> Any:
        for k, v in self._items:
            if k == key:
                return v
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return (k for k, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        return hash(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Mapping) and dict(self._items) == dict(other.items())

    def __repr__(self) -> str:
        return f"Params({dict(self._items)!r})"

    def __reduce__(self) -> tuple[type, tuple[dict[str, Any]]]:
        return Params, (dict(self._items),)

    def __deepcopy__(self, memo: dict) -> Params:
        return self


@dataclass(frozen=True)
class DataConfig(Config):
    """Features, label, universe and processors.

    * ``factors``: factor set name or file (``alpha158``, ``my.toml``, or a built-in of
      ``flyer.models.features`` such as ``basic``): a label, resolved by ``make_config``.
    * ``factor_key``: the content key of that set (``flyer.models.features.FeatureSpec.key``;
      ``none`` when the model reads no factors). The run id hashes this, not ``factors``.
    * label: ``price[t+1+h] / price[t+1] - 1`` on back-adjusted prices, ``h = label_horizon``.
    * ``feature_norm``: ``robust_pooled`` (qlib RobustZScoreNorm: median/MAD pooled over the
      fit period), ``robust_date`` (per-date median/MAD), ``zscore_date`` or ``none``; z-scores
      are clipped to ``[-clip, clip]``; NaN features are filled with ``fillna`` (None: kept).
    * ``label_norm``: ``csrank`` (qlib CSRankNorm), ``cszscore`` or ``none``.
    * ``seq_input``: what recurrent models see: ``ohlcv`` (Alpha360-style last ``seq_len`` days of
      OHLCV, vwap and volume relative to the last day) or ``factors`` (windows of the processed
      factor rows).
    * ``lookback``: trading days of history loaded before the first sample (0: the factor
      set's own lookback, plus a few days).
    """

    SECTION = "data"

    factors: str = "alpha158"
    factor_key: str = ""
    universe: str = "all"
    label_horizon: int = 1
    label_price: str = "close"
    feature_norm: str = "robust_pooled"
    clip: float = 3.0
    fillna: float | None = 0.0
    label_norm: str = "csrank"
    seq_len: int = 60
    seq_input: str = "ohlcv"
    drop_suspended: bool = True
    lookback: int = 0


@dataclass(frozen=True)
class SplitConfig(Config):
    """Fixed train/valid/test ranges; with ``walk_forward`` the test range is cut into chunks of
    ``retrain_months`` and train/valid move with each chunk (``rolling``) or grow (``expanding``).
    ``test`` None: a model to deploy (nightly), trained and validated with no test period."""

    SECTION = "split"

    train: DateRange
    valid: DateRange
    test: DateRange | None = None
    walk_forward: bool = False
    retrain_months: int = 6
    window: str = "rolling"


@dataclass(frozen=True)
class ModelConfig(Config):
    """Model kind, objective/loss and resolved hyper-parameters.

    ``objective`` for lgbm: ``regression`` or ``lambdarank``; for torch models the loss:
    ``mse`` or ``ic`` (negative per-date Pearson correlation).
    """

    SECTION = "model"

    kind: str = "lgbm"
    objective: str = "regression"
    params: Params = field(default_factory=Params)

    def __post_init__(self) -> None:
        if not isinstance(self.params, Params):
            object.__setattr__(self, "params", Params(self.params))


@dataclass(frozen=True)
class TrainConfig(Config):
    """A training run's settings: data, split, model and seed (validated once, when built)."""

    SECTION = "train"

    data: DataConfig
    split: SplitConfig
    model: ModelConfig
    seed: int = 0

    def __post_init__(self) -> None:
        validate(self)

    def identity(self) -> dict[str, Any]:
        """What the config key hashes (``identity`` of ``to_dict``); the config must carry its
        factor key (``make_config`` / ``with_factor_key`` set it)."""
        if not self.data.factor_key:
            raise FlyerError("the config has no factor key: build it with make_config (or with_factor_key)")
        return identity(to_dict(self))


def make_config(model: str, train: DateRange, valid: DateRange, test: DateRange | None = None, *,
                objective: str | None = None, params: dict[str, Any] | None = None,
                seed: int = 0, walk_forward: bool = False, retrain_months: int = 6,
                window: str = "rolling", preset: str | None = None, **data: Any) -> TrainConfig:
    """A validated ``TrainConfig`` with the per-kind defaults filled in (then the ``preset``'s
    values, then ``params``).

    ``data`` keywords go to ``DataConfig``; gradient-boosted trees default to qlib's processors for
    them (no feature norm, per-date z-scored label) unless given.
    """
    if model not in MODEL_KINDS:
        raise FlyerError(f"unknown model {model!r}; choose one of {', '.join(MODEL_KINDS)}")
    if preset is not None and preset not in PRESETS.get(model, {}):
        known = ", ".join(PRESETS.get(model, {})) or "none"
        raise FlyerError(f"unknown preset {preset!r} for {model} (presets: {known})")
    if model == "lgbm":
        data.setdefault("feature_norm", "none")
        data.setdefault("fillna", None)
        data.setdefault("label_norm", "cszscore")
    objective = objective or ("regression" if model in ("lgbm", "linear") else "mse")
    rank = LAMBDARANK_PARAMS if (model, objective) == ("lgbm", "lambdarank") else {}
    given = check_params(model, params or {})
    merged = {**DEFAULT_PARAMS[model], **rank, **(PRESETS[model][preset] if preset else {}), **given}
    split = SplitConfig.from_dict({"train": train, "valid": valid, "test": test, "walk_forward": walk_forward,
                                   "retrain_months": retrain_months, "window": window}, "split")
    seed = coerce(seed, int, "seed")
    cfg = TrainConfig(DataConfig.from_dict(data), split, ModelConfig.from_dict(
        {"kind": model, "objective": objective, "params": Params(merged)}, "model"), seed)
    return with_factor_key(cfg)


def check_params(model: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` checked where they enter: a known hyper-parameter takes its default's type (an
    integer, a finite number, a string, true/false); any other value must be a finite number, a
    string, true/false or a list of them. A ``ConfigError`` naming ``params.<key>`` otherwise."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"params: must be a table of hyper-parameters, got {params!r}")
    out: dict[str, Any] = {}
    defaults = DEFAULT_PARAMS.get(model, {})
    for key, value in params.items():
        where = f"params.{key}"
        default = defaults.get(str(key))
        if isinstance(default, bool):
            out[str(key)] = coerce(value, bool, where)
        elif isinstance(default, int):
            out[str(key)] = coerce(value, int, where)
        elif isinstance(default, float):
            out[str(key)] = coerce(value, float, where)
        elif isinstance(default, str):
            out[str(key)] = coerce(value, str, where)
        else:
            out[str(key)] = _plain_param(value, where)
    return out


def _plain_param(value: Any, where: str) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain_param(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, float)):
        return coerce(value, float, where) if isinstance(value, float) else value
    raise ConfigError(f"{where}: must be a number, a string, true/false or a list, got {value!r}")


def reads_factors(cfg: TrainConfig) -> bool:
    """False for sequence models on OHLCV windows (they read no factor values)."""
    return not (cfg.model.kind in SEQ_KINDS and cfg.data.seq_input == "ohlcv")


def with_factor_key(cfg: TrainConfig) -> TrainConfig:
    """``cfg`` with ``data.factor_key`` set to the current content key of ``data.factors``;
    raises ``FlyerError`` when a key is already set and the set's content has changed since."""
    key = resolve(cfg.data.factors).key if reads_factors(cfg) else NO_FACTORS
    if cfg.data.factor_key and cfg.data.factor_key != key:
        raise FlyerError(f"factor set {cfg.data.factors!r} changed since this config was made "
                         f"(key {cfg.data.factor_key} -> {key}): make the config again")
    return cfg if cfg.data.factor_key == key else dataclasses.replace(
        cfg, data=dataclasses.replace(cfg.data, factor_key=key))


def validate(cfg: TrainConfig) -> None:
    """Raise ``ConfigError`` naming the first inconsistent field (``TrainConfig`` calls it once,
    when built)."""
    d, s, m = cfg.data, cfg.split, cfg.model
    checks = [
        (m.kind in MODEL_KINDS, f"unknown model {m.kind!r}"),
        (d.universe in UNIVERSES, f"unknown universe {d.universe!r}; use {', '.join(UNIVERSES)}"),
        (d.label_horizon >= 1, "label horizon must be >= 1 day"),
        (d.label_price in ("close", "open", "vwap"), f"label price must be close, open or vwap, not {d.label_price!r}"),
        (d.feature_norm in ("robust_pooled", "robust_date", "zscore_date", "none"), f"unknown feature_norm {d.feature_norm!r}"),
        (d.label_norm in ("csrank", "cszscore", "none"), f"unknown label_norm {d.label_norm!r}"),
        (d.seq_input in ("ohlcv", "factors"), f"unknown seq_input {d.seq_input!r}"),
        (s.window in ("rolling", "expanding"), f"window must be rolling or expanding, not {s.window!r}"),
        (s.retrain_months >= 1, "retrain months must be >= 1"),
        (m.objective in (("regression", "lambdarank") if m.kind == "lgbm" else ("regression",) if m.kind == "linear"
                         else ("mse", "ic")), f"objective {m.objective!r} does not fit model {m.kind}"),
    ]
    for ok, msg in checks:
        check(ok, "", msg)
    check(isinstance(d.label_horizon, int) and d.label_horizon <= 250, "data.label_horizon",
          f"must be an integer in 1..250 days, got {d.label_horizon!r}")
    check(isinstance(cfg.seed, int) and not isinstance(cfg.seed, bool), "seed", f"must be an integer, got {cfg.seed!r}")
    ranges = [("train", s.train), ("valid", s.valid)] + ([("test", s.test)] if s.test is not None else [])
    for name, (a, b) in ranges:
        check(a <= b, f"split.{name}", f"range starts after it ends: {a}:{b}")
    check(s.train[1] < s.valid[0] and (s.test is None or s.valid[1] < s.test[0]), "split",
          "ranges must be ordered and disjoint: train < valid < test")
    check(not s.walk_forward or s.test is not None, "split.walk_forward", "walk-forward needs a test range")


def to_dict(cfg: TrainConfig) -> dict[str, Any]:
    """Plain JSON-ready dict (dates as ISO strings)."""
    return cfg.to_dict()


def identity(d: dict[str, Any]) -> dict[str, Any]:
    """What the run id hashes, from a ``to_dict`` form: everything except the factor set's
    label ``data.factors`` (its content enters through ``data.factor_key``)."""
    return {**d, "data": {k: v for k, v in d["data"].items() if k != "factors"}}


def canonical_json(cfg: TrainConfig) -> str:
    """Sorted-key, no-space JSON of ``identity(to_dict(cfg))``."""
    return _canonical(cfg.identity())


def config_id(cfg: TrainConfig) -> str:
    """The config's content key (12 hex digits, ``TrainConfig.key``)."""
    return cfg.key()


def from_dict(d: dict[str, Any]) -> TrainConfig:
    """Inverse of ``to_dict`` (validated; a bad field is a ``ConfigError`` naming it)."""
    return TrainConfig.from_dict(d, "model config")


def parse_range(text: str) -> DateRange:
    """``YYYY-MM-DD:YYYY-MM-DD`` -> (start, end)."""
    try:
        a, b = text.split(":")
        return dt.date.fromisoformat(a.strip()), dt.date.fromisoformat(b.strip())
    except ValueError:
        raise FlyerError(f"bad date range {text!r}; expected YYYY-MM-DD:YYYY-MM-DD") from None
