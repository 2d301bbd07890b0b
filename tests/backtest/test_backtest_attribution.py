"""Attribution of any backtest: the parts add up to the total excess return every day (1e-8),
the holdings' part equals the active weights times the stocks' returns, and the report and
the CLI show it."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.backtest.api import run
from flyer.backtest.attribution import PARTS, attribution_for
from flyer.backtest.config import BacktestConfig
from flyer.backtest.report import render
from flyer.cli import app
from flyer.data.store import MarketStore
from flyer.risk.benchmark import benchmark_weights
from tests.backtest.enhance_kit import END, START, reversal_scores, sim_home_copy


@pytest.fixture(scope="module")
def home(sim_frames, tmp_path_factory) -> Path:
    return sim_home_copy(sim_frames, tmp_path_factory.mktemp("attribution") / "home")


@pytest.fixture(scope="module")
def results(home: Path):
    with MarketStore.open(home, read_only=True) as store:
        scores = reversal_scores(store)
        out = {}
        for cfg in (BacktestConfig(strategy="topk", k=10, n_drop=2, rebalance_every=5, start=START, end=END),
                    BacktestConfig(strategy="enhance", rebalance_every=5, start=START, end=END)):
            res = run(store, scores, cfg)
            out[cfg.strategy] = (res, attribution_for(store, res))
    return out


@pytest.mark.parametrize("strategy", ["topk", "enhance"])
def test_parts_add_up_to_the_excess_every_day(results, strategy: str) -> None:
    res, att = results[strategy]
    d = att.daily
    assert d.height == len(res.dates) - 1
    gap = (d["excess"] - d.select(pl.sum_horizontal(*PARTS)).to_series()).abs()
    assert gap.max() <= 1e-8
    nav = res.nav
    bench = res.daily()["benchmark"].to_numpy()
    np.testing.assert_allclose(d["excess"], nav[1:] / nav[:-1] - bench[1:] / bench[:-1], atol=1e-15)
    assert (d["predicted_te"] > 0).all()
    y = att.yearly()
    np.testing.assert_allclose(y["excess"], y.select(pl.sum_horizontal(*PARTS)).to_series(), atol=1e-8 * 260)


def test_holdings_part_is_active_weights_times_returns(results, home: Path) -> None:
    """country + industry + style + specific = sum_i (w_i - b_i) r_i, and the replica b'r,
    computed independently from positions, benchmark weights and bars."""
    res, att = results["topk"]
    with MarketStore.open(home, read_only=True) as store:
        bench = benchmark_weights(store, "000905.SH", res.dates[0], res.dates[-1]).weights
        bars = store.bars(res.dates[0], res.dates[-1], columns=["close"])
    rets = bars.with_columns((pl.col("close") / pl.col("close").shift(1).over("symbol") - 1).alias("r")).drop_nulls("r")
    nav = pl.DataFrame({"date": res.dates, "nav": res.nav}).with_columns(pl.col("date").shift(-1).alias("next"))
    w = (res.positions().join(nav, on="date").select(pl.col("next").alias("date"), "symbol",
                                                    (pl.col("value") / pl.col("nav")).alias("w")).drop_nulls("date"))
    act = (w.join(bench.select("date", "symbol", "weight"), on=["date", "symbol"], how="full", coalesce=True)
           .fill_null(0.0).join(rets.select("date", "symbol", "r"), on=["date", "symbol"], how="left")
           .group_by("date").agg(((pl.col("w") - pl.col("weight")) * pl.col("r").fill_null(0.0)).sum().alias("ar"),
                                 (pl.col("weight") * pl.col("r").fill_null(0.0)).sum().alias("br")))
    both = att.daily.join(act, on="date")
    np.testing.assert_allclose(both["active_return"], both["ar"], atol=1e-10)
    np.testing.assert_allclose(both["replica_return"], both["br"], atol=1e-10)   # the benchmark gap's b'r
    assert both.height > 150


def test_enhance_tracks_closer_than_topk_and_report_shows_it(results) -> None:
    topk, enh = results["topk"][1].yearly(), results["enhance"][1].yearly()
    assert enh["realised_te"].item() < topk["realised_te"].item()
    html = render(results["enhance"][0], "t", attribution=results["enhance"][1])
    assert "Attribution (risk model)" in html and "Optimiser (enhance)" in html and "specific" in html
    y = results["enhance"][1].yearly()
    np.testing.assert_allclose(y["te_ratio"], y["realised_te"] / y["predicted_te"])
    mb = results["enhance"][1].model_bias
    assert {"year", "random", "optimised", "optimised factors"} <= set(mb.columns) and "all" in mb["year"].to_list()
    assert "random and optimised portfolios" in html


def test_cli_prints_the_attribution(home: Path, tmp_path: Path) -> None:
    with MarketStore.open(home, read_only=True) as store:
        path = tmp_path / "s.parquet"
        reversal_scores(store).write_parquet(path)
    r = CliRunner().invoke(app, ["backtest", "--scores", str(path), "--home", str(home), "--k", "10",
                                 "--rebalance-every", "10", "--attribution", "--report", str(tmp_path / "r.html")])
    assert r.exit_code == 0, r.output
    assert "attribution per year" in r.output and (tmp_path / "r.html").exists()
