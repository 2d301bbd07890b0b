"""The nightly job with ``[portfolio] strategy = "enhance"``: tomorrow's orders come from the
optimiser (risk model appended each night under the home), the book keeps the member floor,
and the config reads flat keys or a ``[portfolio.enhance]`` table."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flyer.config import NightlyConfig, PortfolioConfig, from_dict
from flyer.data.calendar import sse_calendar
from flyer.data.sources import ingest, make_source
from flyer.data.sources.sim import SimSource
from flyer.data.store import MarketStore
from flyer.nightly import STAGES, run_night

START, BOOT, END = dt.date(2018, 1, 1), dt.date(2020, 3, 31), dt.date(2020, 12, 31)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    from flyer import models

    home = tmp_path_factory.mktemp("nightly_enhance") / "home"
    with MarketStore.open(home) as store:
        ingest(store, make_source("sim", start=START, end=BOOT, stocks=120, seed=5))
        cfg = models.make_config("linear", train=(dt.date(2019, 2, 1), dt.date(2019, 9, 30)),
                                 valid=(dt.date(2019, 10, 15), dt.date(2019, 12, 31)),
                                 test=(dt.date(2020, 1, 15), dt.date(2020, 3, 20)), factors="basic", lookback=25)
        run = models.train(store, cfg, home=home)
    return home, run.id


def test_nightly_enhanced_index_orders(home) -> None:
    path, run_id = home
    portfolio = PortfolioConfig.from_dict({"strategy": "enhance", "te": 0.05, "turnover": 0.3, "capital": 5_000_000})
    cfg = NightlyConfig(factor_set="basic", runs=(run_id,), portfolio=portfolio,
                        source=SimSource(stocks=120, seed=5, start=START, end=END))
    days = sse_calendar(BOOT + dt.timedelta(days=1), END)[:2]
    for d in days:
        res = run_night(path, cfg, d)
        assert res.ran == STAGES
    with MarketStore.open(path, read_only=True) as store:
        targets = store.query("SELECT * FROM nightly_targets ORDER BY date, symbol")
        orders = store.query("SELECT * FROM nightly_orders ORDER BY date, symbol")
        members = set(store.members("000905.SH", days[-1])["symbol"].to_list())
    assert orders.height > 0 and set(orders["side"].unique().to_list()) <= {"buy", "sell"}
    last = targets.filter(pl.col("date") == days[-1])
    share = last.filter(pl.col("symbol").is_in(list(members)))["weight"].sum() / last["weight"].sum()
    assert share > 0.75 and last.height > 20          # an index-like book, not a top-k list
    assert (path / "risk").is_dir() and any((path / "risk").iterdir())
    assert "enhance" in cfg.to_dict()["portfolio"]["backtest"]


def test_portfolio_config_reads_an_enhance_table() -> None:
    cfg = from_dict({"portfolio": {"strategy": "enhance", "enhance": {"te": 0.04, "risk": {"shrinkage": 0.2}}}})
    assert cfg.portfolio.backtest.enhance.te == 0.04 and cfg.portfolio.backtest.enhance.risk.shrinkage == 0.2
    topk = from_dict({"portfolio": {"strategy": "topk", "k": 20}})
    assert "enhance" not in topk.to_dict()["portfolio"]["backtest"]   # other strategies keep their keys
