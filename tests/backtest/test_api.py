"""Sweeps, orders for tomorrow, metrics, report and input errors."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from flyer.backtest.api import run, sweep
from flyer.backtest.config import BacktestConfig
from flyer.backtest.metrics import summary, yearly
from flyer.backtest.orders import orders_for_tomorrow, targets
from flyer.backtest.report import write_report
from flyer.core.errors import FlyerError
from tests.backtest.conftest import scores_frame
from tests.backtest.randmarket import random_market, random_scores


@pytest.fixture(scope="module")
def rand(tmp_path_factory):
    store, days = random_market(tmp_path_factory.mktemp("api"), 11)
    yield store, days, random_scores(11, days)
    store.close()


def test_sweep_matches_single_runs(rand) -> None:
    store, days, scores = rand
    cfg = BacktestConfig(start=days[3], end=days[-1], capital=1e6)
    grid = {"k": [2, 4], "n_drop": [1, 2], "commission": [0.0003, 0.001]}
    results, table = sweep(store, scores, cfg, grid)
    assert table.height == 8 and {"k", "n_drop", "commission", "sharpe"} <= set(table.columns)
    for res in results[::3]:
        single = run(store, scores, res.config)
        np.testing.assert_allclose(res.nav, single.nav, rtol=1e-12)


def test_sweep_over_capital_and_costs_matches_single_runs(rand) -> None:
    """Every ``Params`` field may vary across a sweep (capital is per portfolio, not the first one's)."""
    store, days, scores = rand
    cfg = BacktestConfig(k=3, n_drop=1, start=days[3], end=days[-1])
    results, _ = sweep(store, scores, cfg, {"capital": [3e4, 1e6], "slippage_bps": [0.0, 20.0],
                                            "stamp_duty": [True, False]})
    for res in results:
        single = run(store, scores, res.config)
        for field in ("col", "idx", "size", "price", "fees", "side"):   # ids count across the sweep
            np.testing.assert_array_equal(res.records[field], single.records[field])
        assert res.nav[0] <= res.config.capital
    assert results[0].records.shape != results[-1].records.shape or not np.array_equal(results[0].nav, results[-1].nav)


def test_sweep_refuses_settings_shared_by_its_points(rand) -> None:
    store, days, scores = rand
    cfg = BacktestConfig(strategy="benchmark", start=days[3], end=days[-1])
    with pytest.raises(FlyerError, match="a sweep may not vary active_limit"):
        sweep(store, scores, cfg, {"active_limit": [0.01, 0.05]})


def test_benchmark_strategy_stays_within_active_limit(rand) -> None:
    store, days, scores = rand
    from flyer.backtest.strategies import benchmark_tilt

    members = store.membership("000905.SH", days[3], days[-1])
    w = benchmark_tilt(members, scores, 0.03)
    joined = w.join(members.with_columns((pl.col("weight") / pl.col("weight").sum().over("date")).alias("b")),
                    on=["date", "symbol"])
    assert ((joined["weight"] - joined["b"]).abs() <= 0.03 + 1e-9).all()
    sums = w.group_by("date").agg(pl.col("weight").sum())["weight"]
    np.testing.assert_allclose(sums, 1.0, atol=1e-9)
    res = run(store, scores, BacktestConfig(strategy="benchmark", active_limit=0.03, start=days[3]))
    assert res.daily()["n_holdings"].max() >= 5


def test_orders_for_tomorrow_respects_t_plus_one_and_lots(tiny) -> None:
    a, b = "600001.SH", "688001.SH"
    store, days = tiny({a: [10.0] * 4, b: [33.33] * 4})
    scores = scores_frame(days, {a: [None, None, None, 0.0], b: [None, None, None, 1.0]})
    holdings = pl.DataFrame({"symbol": [a], "shares": [350], "available": [150]})
    cfg = BacktestConfig(k=1, n_drop=1)
    plan = targets(scores.filter(pl.col("date") == days[3]).select("symbol", "score"), holdings, cfg)
    assert dict(zip(plan["symbol"], plan["action"])) == {a: "sell", b: "buy"}
    orders = orders_for_tomorrow(store, scores, holdings, cash=10_000.0, config=cfg)
    rows = {r["symbol"]: r for r in orders.iter_rows(named=True)}
    assert rows[a]["side"] == "sell" and rows[a]["shares"] == 100 and rows[a]["reason"] == "dropout"
    assert rows[b]["side"] == "buy" and rows[b]["shares"] >= 200 and rows[b]["reason"] == "new"
    assert rows[b]["value"] <= 10_000 + 1_000


def test_metrics_on_known_series() -> None:
    dates = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(5)]
    daily = pl.DataFrame({"date": dates, "nav": [100.0, 110.0, 99.0, 108.9, 120.0],
                          "benchmark": [1.0, 1.0, 1.0, 1.0, 1.0], "turnover": [0.0] * 5, "costs": [0.0] * 5})
    m = summary(daily, "flat")
    assert m["max_drawdown"] == pytest.approx(-0.1)
    assert m["total_return"] == pytest.approx(0.2)
    assert m["excess_annual_return"] == pytest.approx(m["annual_return"])
    assert m["benchmark_annual_return"] == pytest.approx(0.0)
    assert yearly(daily)["return"][0] == pytest.approx(0.2)


def test_report_shares_one_local_plotly_or_inlines_it(rand, tmp_path) -> None:
    """Pages of a folder load one plotly.js beside them (offline; a page weighs what its data
    weighs); ``self_contained`` inlines it: one file that opens anywhere. Never the network."""
    from flyer.core.pages import script_name

    store, days, scores = rand
    res = run(store, scores, BacktestConfig(k=3, n_drop=1, start=days[3]))
    path = write_report(res, tmp_path / "r" / "out.html")
    second = write_report(res, tmp_path / "r" / "again.html")
    text = path.read_text()
    assert "000905.SH" in text and "Per year" in text and f'<script src="{script_name()}"' in text
    assert len(text.encode()) < 1_000_000 and "http" not in text.split("<body>")[0]
    js = tmp_path / "r" / script_name()
    assert js.stat().st_size > 3_000_000 and second.parent == js.parent  # one copy for the folder
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == sorted(["out.html", "again.html", script_name()])
    inlined = write_report(res, tmp_path / "single" / "out.html", self_contained=True).read_text()
    assert "<script src=" not in inlined and len(inlined) > 3_000_000
    assert [p.name for p in (tmp_path / "single").iterdir()] == ["out.html"]


def test_input_errors(rand) -> None:
    store, days, scores = rand
    with pytest.raises(FlyerError, match="missing column"):
        run(store, scores.drop("score"), BacktestConfig())
    with pytest.raises(FlyerError, match="no scores"):
        run(store, scores, BacktestConfig(start=dt.date(2030, 1, 1), end=dt.date(2030, 2, 1)))
    with pytest.raises(FlyerError, match="unknown benchmark"):
        run(store, scores, BacktestConfig(benchmark="000001.SH", start=days[3]))
