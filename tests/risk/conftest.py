"""Fixtures of the risk-model tests: the small sim market in a home of its own (the risk model
writes under ``<home>/risk``), and the model of the default config built there once."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from flyer.data.store import MarketStore


@pytest.fixture(scope="session")
def risk_home(tmp_path_factory: pytest.TempPathFactory, sim_frames: dict[str, pl.DataFrame], sim_config) -> Path:
    """A home holding the small sim market (read-only for tests: copy what you change)."""
    home = tmp_path_factory.mktemp("risk_home")
    with MarketStore.open(home) as store:
        store.write("sim", sim_frames, start=sim_config.start, end=sim_config.end)
    return home


@pytest.fixture(scope="session")
def risk_model(risk_home: Path):
    """The default-config risk model of the small sim market, stored under ``risk_home``."""
    from flyer.risk import storage
    from flyer.risk.config import RiskConfig

    with MarketStore.open(risk_home, read_only=True) as store:
        storage.update(store, risk_home, RiskConfig())
    return storage.load(risk_home, RiskConfig())
