"""Shared fixtures: a small simulated market, generated once per test session (per xdist worker).

``sim_store`` and ``sim_home`` are shared and must be treated as READ-ONLY; tests that write
use ``fresh_home`` / ``fresh_store`` (an empty store in a temp folder).
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Callable, Iterator

import polars as pl
import pytest

from flyer.data.sources.ashare import find_default_root
from flyer.data.sources.sim import SimConfig, generate
from flyer.data.store import MarketStore

# One fixed clock for the whole suite (``flyer.data.calendar.today``): date checks (future rows,
# the end of the known calendar, which is 2026-12-31 in akshare and exchange_calendars today)
# never depend on the day CI runs. Tests that move the clock set FLYER_TODAY themselves.
os.environ.setdefault("FLYER_TODAY", "2026-12-01")

SMALL_SIM = SimConfig(n_stocks=150, start=dt.date(2018, 1, 1), end=dt.date(2020, 12, 31), seed=7)
SHARED_ASHARE = find_default_root()


@pytest.fixture(scope="session")
def sim_config() -> SimConfig:
    return SMALL_SIM


@pytest.fixture(scope="session")
def sim_frames(sim_config: SimConfig) -> dict[str, pl.DataFrame]:
    """Table frames of the small sim market (do not mutate)."""
    return generate(sim_config)


@pytest.fixture(scope="session")
def sim_home(tmp_path_factory: pytest.TempPathFactory, sim_frames: dict[str, pl.DataFrame]) -> Path:
    """A flyer home holding the small sim market in its store (read-only for tests)."""
    home = tmp_path_factory.mktemp("sim_home")
    with MarketStore.open(home) as store:
        store.write("sim", sim_frames, start=SMALL_SIM.start, end=SMALL_SIM.end)
    return home


@pytest.fixture()
def sim_store(sim_home: Path):
    """The shared sim store opened for reading (read-only: do not write to it)."""
    store = MarketStore.open(sim_home, read_only=True)
    yield store
    store.close()


@pytest.fixture(scope="session")
def sim_bars(sim_home: Path) -> pl.DataFrame:
    """Adjusted bars of the small sim market (the ``store.bars()`` contract)."""
    with MarketStore.open(sim_home, read_only=True) as store:
        return store.bars()


@pytest.fixture()
def fresh_home(tmp_path: Path) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    return home


@pytest.fixture()
def fresh_store(fresh_home: Path):
    store = MarketStore.open(fresh_home)
    yield store
    store.close()


@pytest.fixture(scope="session")
def shared_ashare() -> Path:
    """../shared/ashare (real data) or skip when it is absent."""
    if not (SHARED_ASHARE / "SOURCE.md").exists():
        pytest.skip(f"real data not found at {SHARED_ASHARE}")
    return SHARED_ASHARE


@pytest.fixture()
def console_width() -> Iterator[Callable[[int], None]]:
    """Set the CLI console's width for a test (``flyer.commands.common.console`` keeps the width
    of the environment it was created in, and ``flyer.cli.main`` widens it for pipes); the
    previous setting is restored afterwards, so tests do not depend on their order."""
    from flyer.commands.common import console

    saved = console._width

    def set_width(n: int) -> None:
        console.width = n

    yield set_width
    console._width = saved
