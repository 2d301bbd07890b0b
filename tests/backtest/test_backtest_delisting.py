"""A stock delisted after its last bar (the official delisting comes days or months after the last
trade) is held at its last close, untradable, and leaves the book on its delisting date - the
engine and the slow reference agree; on the staged real data (skipped without it) the CSI 500
members delisted in 2022-2023 leave the book at their delisting, not frozen, while a stock whose
file merely ends stays held."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from flyer.backtest.reference import reference_nav
from tests.backtest.conftest import HISTORY, scores_frame

A, B, C = "600001.SH", "600002.SH", "600003.SH"


def test_delisting_after_the_last_bar_sells_on_the_delisting_date(tiny) -> None:
    n = 14
    closes = {A: [10.0, 10, 10, 10.5, 11.0, 11.5, None, None, None, None, None, None, None, None],
              B: [10.0] * n, C: [20.0] * n}
    store, days = tiny(closes, delist={A: 10}, members={A: 0.3, B: 0.3, C: 0.4})
    assert store.instruments().filter(pl.col("symbol") == A)["delist_date"][0] == days[10]
    cfg = BacktestConfig(strategy="benchmark", deal_price="close", start=days[HISTORY], end=days[-1], participation=0.0,
                         rebalance_every=100)
    sc = scores_frame(days, {A: [0.0] * 6, B: [0.0] * n, C: [0.0] * n})
    res = run(store, sc, cfg)
    gone = res.trades().filter(pl.col("reason") == "delisted")
    assert gone["symbol"].to_list() == [A] and gone["date"].to_list() == [days[10]]
    assert gone["price"].item() == pytest.approx(11.5)                       # at its last close
    pos = res.positions().filter(pl.col("symbol") == A)
    assert pos["date"].max() == days[9]                                       # held, frozen, until then
    assert pos.filter(pl.col("date") > days[5])["value"].n_unique() == 1
    np.testing.assert_allclose(res.nav, reference_nav(store, sc, res.config, res.diagnostics.plan.weights), rtol=1e-12)


@pytest.mark.realdata
def test_real_members_delisted_in_2022_2023_leave_at_their_delisting(shared_ashare: Path, tmp_path: Path) -> None:
    from flyer.data.sources import ashare, ingest
    from flyer.data.store import MarketStore

    start, end = dt.date(2021, 12, 1), dt.date(2023, 12, 29)
    with MarketStore.open(tmp_path / "h") as store:
        ingest(store, ashare.AshareSource(str(shared_ashare), start=start, end=end))
    with MarketStore.open(tmp_path / "h", read_only=True) as store:
        inst = store.instruments()
        members = store.membership("000905.SH", dt.date(2022, 1, 4), dt.date(2022, 1, 4))["symbol"].to_list()
        gone = inst.filter(pl.col("symbol").is_in(members) & pl.col("delist_date").is_between(dt.date(2022, 1, 15), end))
        assert gone.height >= 3
        assert inst.filter(pl.col("symbol") == "603056.SH")["delist_date"][0] is None     # its file ends: not delisted
        cfg = BacktestConfig(strategy="benchmark", start=dt.date(2022, 1, 4), end=end, participation=0.0,
                             rebalance_every=10_000, capital=1e9)
        sc = pl.DataFrame({"date": dt.date(2022, 1, 4), "symbol": members, "score": 0.0})
        res = run(store, sc, cfg)
    trades = res.trades().filter(pl.col("reason") == "delisted")
    held = set(res.positions().filter(pl.col("date") == dt.date(2022, 1, 5))["symbol"].to_list())
    for r in gone.filter(pl.col("symbol").is_in(list(held))).iter_rows(named=True):
        t = trades.filter(pl.col("symbol") == r["symbol"])
        assert t.height == 1, r
        assert t["date"].item() == min(d for d in res.dates if d >= r["delist_date"])  # on the delisting date
        assert res.positions().filter((pl.col("symbol") == r["symbol"]) & (pl.col("date") >= t["date"].item())).height == 0
    assert res.positions().filter((pl.col("symbol") == "603056.SH") & (pl.col("date") == end)).height == \
        int("603056.SH" in held)                                                  # held to the end, price unknown
