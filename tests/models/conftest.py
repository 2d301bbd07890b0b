"""Fixtures of the models tests: a session-scoped sim market (400 stocks, 2018-01..2021-06)
and a small LightGBM run on it. Both are read-only for tests; tests that write use tmp_path."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch

from flyer.data.sources.sim import SimConfig, generate
from flyer.data.store import MarketStore
from models_kit import D, config

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def models_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("models_home")
    cfg = SimConfig(n_stocks=400, start=D(2018, 1, 1), end=D(2021, 6, 30), seed=7)
    with MarketStore.open(home) as store:
        store.write("sim", generate(cfg), start=cfg.start, end=cfg.end)
    return home


@pytest.fixture(scope="session")
def mstore(models_home: Path):
    store = MarketStore.open(models_home, read_only=True)
    yield store
    store.close()


@pytest.fixture(scope="session")
def lgbm_run(mstore, tmp_path_factory: pytest.TempPathFactory):
    """A LightGBM run on the basic features (its own home for runs)."""
    from flyer.models.pipeline import train

    return train(mstore, config("lgbm"), home=tmp_path_factory.mktemp("runs_home"), threads=1)
