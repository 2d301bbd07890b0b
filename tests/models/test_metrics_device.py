from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
import torch

from flyer.core.errors import FlyerError
from flyer.models import device as dev
from flyer.models.metrics import daily_ic, summary
from flyer.models.torch_learner import ic_loss


def _long(seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    n, k = 30, 6
    y = rng.normal(size=n * k)
    s = y + rng.normal(size=n * k)
    dates = pl.Series([dt.date(2021, 1, i // n + 1) for i in range(n * k)], dtype=pl.Date)
    return pl.DataFrame({"date": dates, "score": s, "label": y, "target": y})


def test_ic_rankic_icir_match_numpy() -> None:
    df = _long()
    d = daily_ic(df)
    ics = [np.corrcoef(g["score"], g["label"])[0, 1] for _, g in df.group_by("date", maintain_order=True)]
    assert np.allclose(d["ic"].to_numpy(), ics)
    m = summary(df)
    assert m["IC"] == pytest.approx(np.mean(ics)) and m["ICIR"] == pytest.approx(np.mean(ics) / np.std(ics, ddof=1))
    assert m["MSE"] == pytest.approx(np.mean((df["score"] - df["target"]).to_numpy() ** 2))


def test_ic_loss_is_minus_mean_daily_pearson() -> None:
    df = _long(1)
    g = torch.tensor(df["date"].rank("dense").to_numpy().astype(np.int64))
    loss = ic_loss(torch.tensor(df["score"].to_numpy()), torch.tensor(df["label"].to_numpy()), g)
    assert float(loss) == pytest.approx(-daily_ic(df)["ic"].mean(), abs=1e-9)


def test_device_selection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLYER_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert dev.pick_device() == "cpu" and dev.autocast_dtype("cpu") is None
    with pytest.raises(FlyerError, match="CUDA"):
        dev.pick_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.pick_device() == "cuda" and dev.autocast_dtype("cuda") is torch.bfloat16
    monkeypatch.setenv("FLYER_DEVICE", "cpu")
    assert dev.pick_device() == "cpu"
    monkeypatch.setenv("FLYER_DEVICE", "tpu")
    with pytest.raises(FlyerError):
        dev.pick_device()
