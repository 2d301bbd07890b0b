from __future__ import annotations

import datetime as dt
import json

import pytest

from flyer.core.errors import FlyerError
from flyer.models.config import canonical_json, config_id, from_dict, make_config, parse_range, to_dict

from models_kit import TEST, TRAIN, VALID, config


def test_id_is_content_hash_and_round_trips() -> None:
    a, b = config("lgbm"), config("lgbm")
    assert a.key() == b.key() == config_id(a) and len(a.key()) == 12
    assert config("lgbm", params={"num_leaves": 7}).key() != a.key()
    back = from_dict(json.loads(json.dumps(to_dict(a))))
    assert back == a and canonical_json(back) == canonical_json(a)


def test_defaults_per_kind() -> None:
    g = make_config("lgbm", TRAIN, VALID, TEST)
    assert g.data.feature_norm == "none" and g.data.label_norm == "cszscore" and g.model.params["min_trees"] == 100
    q = make_config("lgbm", TRAIN, VALID, TEST, preset="qlib")
    assert q.model.params["num_leaves"] == 210 and q.model.params["bagging_freq"] == 0 and q.key() != g.key()
    with pytest.raises(FlyerError, match="unknown preset 'x' for lgbm"):
        make_config("lgbm", TRAIN, VALID, TEST, preset="x")
    m = make_config("mlp", TRAIN, VALID, TEST)
    assert m.data.feature_norm == "robust_pooled" and m.data.label_norm == "csrank" and m.model.objective == "mse"


@pytest.mark.parametrize("kw, msg", [
    ({"model": "xgb"}, "unknown model"),
    ({"universe": "csi9"}, "universe"),
    ({"label_horizon": 0}, "horizon"),
    ({"objective": "lambdarank", "model": "mlp"}, "objective"),
    ({"valid": (dt.date(2019, 6, 1), dt.date(2020, 6, 30))}, "disjoint"),
])
def test_validation_errors(kw: dict, msg: str) -> None:
    args = {"model": "lgbm", "train": TRAIN, "valid": VALID, "test": TEST}
    args.update(kw)
    with pytest.raises(FlyerError, match=msg):
        make_config(args.pop("model"), args.pop("train"), args.pop("valid"), args.pop("test"), **args)


def test_parse_range() -> None:
    assert parse_range("2016-01-01:2019-12-31") == (dt.date(2016, 1, 1), dt.date(2019, 12, 31))
    with pytest.raises(FlyerError):
        parse_range("2016")
