"""The nightly data flow: the factors stage stores exactly the scored runs' factor sets (by
content key), the score stage scores from those stored values (equal to recomputing from bars),
sequence models score from bars, and a factor_set that is not the runs' own is refused."""
from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flyer.backtest.config import BacktestConfig
from flyer.config import NightlyConfig, PortfolioConfig
from flyer.data.sources import ingest, make_source
from flyer.data.sources.sim import SimSource
from flyer.data.store import MarketStore
from flyer.core.errors import FlyerError
from flyer.factors import storage
from flyer.factors.library import load
from flyer.nightly import run_night

START, BOOT, END = dt.date(2019, 1, 1), dt.date(2020, 3, 31), dt.date(2020, 12, 31)
DAY = dt.date(2020, 4, 1)
FORMULAS = 'ROC5 = "Ref($close, 5)/$close"\nSTD20 = "Std($close, 20)/$close"\nCORR10 = "Corr($close, Log($volume+1), 10)"\n'
SPANS = {"train": (dt.date(2019, 3, 1), dt.date(2019, 9, 30)), "valid": (dt.date(2019, 10, 15), dt.date(2019, 12, 31)),
         "test": (dt.date(2020, 1, 15), dt.date(2020, 3, 20))}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str, str]:
    """A sim home through BOOT with a ridge run on a small TOML set and a tiny GRU on OHLCV."""
    from flyer import models

    root = tmp_path_factory.mktemp("nightly_scoring")
    toml = root / "small.toml"
    toml.write_text(FORMULAS)
    home = root / "base"
    with MarketStore.open(home) as store:
        ingest(store, make_source("sim", start=START, end=BOOT, stocks=60, seed=5))
        ridge = models.train(store, models.make_config("linear", **SPANS, factors=str(toml)), home=home)
        gru = models.train(store, models.make_config("gru", **SPANS, seq_len=5, params={
            "hidden": 8, "layers": 1, "epochs": 1, "dates_per_batch": 16}), home=home)
    return home, toml, ridge.id, gru.id


def _cfg(runs: tuple[str, ...], factor_set: str | None = None) -> NightlyConfig:
    return NightlyConfig(factor_set=factor_set, runs=runs,
                         source=SimSource(stocks=60, seed=5, start=START, end=END),
                         portfolio=PortfolioConfig(BacktestConfig(k=10, n_drop=2, capital=2_000_000)))


def test_score_reads_stored_values_equal_to_recomputing(base, tmp_path: Path) -> None:
    from flyer.models import load_run, predict_day, rank_average
    from flyer.models.predict import predict_stored

    home0, toml, ridge_id, gru_id = base
    home = Path(shutil.copytree(home0, tmp_path / "h"))
    res = run_night(home, _cfg((ridge_id, gru_id)), DAY)
    assert any(f"run {gru_id}: gru scores windows of bars: scored from bars" in m for m in res.messages)
    assert any("1 from stored factor values, 1 from bars" in m for m in res.messages)
    # the factors stage stored exactly the ridge run's set, under its content key
    fs = load(toml)
    assert [s.root.name for s in storage.list_sets(home)] == [fs.key()]
    assert storage.stored_dates(storage.set_root(home, fs))[-1] == DAY
    with MarketStore.open(home, read_only=True) as store:
        ridge, gru = load_run(home, ridge_id), load_run(home, gru_id)
        stored = predict_stored(ridge, store, home, DAY)
        recomputed = predict_day(ridge, store, DAY)
        assert stored["symbol"].to_list() == recomputed["symbol"].to_list() and stored.height > 30
        assert np.allclose(stored["score"], recomputed["score"], rtol=0, atol=1e-6)
        want = rank_average([recomputed, predict_day(gru, store, DAY)])
    got = pl.read_parquet(home / "nightly" / DAY.isoformat() / "scores.parquet")
    j = got.join(want, on=["date", "symbol"], how="full", coalesce=True)
    assert j.height == got.height == want.height and np.allclose(j["score"], j["score_right"], atol=1e-9)
    assert got["score"].is_sorted(descending=True)


def test_score_needs_the_stored_day(base, tmp_path: Path) -> None:
    """No silent fallback: when the day's stored values are gone, the score stage fails."""
    home0, toml, ridge_id, _ = base
    home = Path(shutil.copytree(home0, tmp_path / "h"))

    def drop_stored_day(night) -> None:
        shutil.rmtree(storage.set_root(night.home, load(toml)) / f"date={night.date}")

    with pytest.raises(FlyerError, match="stage score failed: no stored factor values"):
        run_night(home, _cfg((ridge_id,)), DAY, hooks={"score": drop_stored_day})


def test_factor_set_setting_must_match_the_runs(base, tmp_path: Path) -> None:
    home0, toml, ridge_id, gru_id = base
    home = Path(shutil.copytree(home0, tmp_path / "h"))
    with pytest.raises(FlyerError) as err:
        run_night(home, _cfg((ridge_id,), factor_set="alpha158"), DAY)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("config: factor_set 'alpha158'")  # refused before any stage
    assert f"is not the factor set of run {ridge_id}" in msg and load(toml).key() in msg
    assert not (home / "factors").exists()  # nothing computed for a refused config
    res = run_night(home, _cfg((ridge_id, gru_id), factor_set=str(toml)), DAY)  # the runs' own set: fine
    assert res.ran[-1] == "orders"
