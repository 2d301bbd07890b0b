"""The Python API by name (README "Python API"): bars to a backtest of a custom factor in ten
lines, training on a user's feature frame, hand-offs (alphalens layout, pandas returns), the
tear-sheet tables and exports."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flyer.core.errors import FlyerError

IDEA = {"rev5": "-1 * ($close / Ref($close, 5) - 1)"}


def test_ten_lines_from_bars_to_a_backtest(sim_home: Path, tmp_path: Path) -> None:
    from flyer import backtest, data, factors
    from flyer.backtest.report import write_report

    store = data.open_store(sim_home)                                  # read-only
    ev = factors.evaluate(store, IDEA, universe="csi500", horizon=5)
    table = factors.summary_table(ev)
    values = factors.values(store, IDEA, universe="csi500", start=dt.date(2019, 1, 1))
    scores = values.select("date", "symbol", pl.col("rev5").alias("score"))
    result = backtest.run(store, scores, backtest.BacktestConfig(k=10, n_drop=2))
    page = write_report(result, tmp_path / "rev5.html", store=store, scores=scores)
    assert table["factor"].to_list() == ["rev5"] and table["rank_ic_mean"][0] > 0  # the sim plants reversal
    assert np.isfinite(result.metrics()["excess_annual_return"]) and page.stat().st_size > 50_000
    text = page.read_text()
    for section in ("Costs: after vs before", "Monthly excess return", "Rolling ratios", "Daily return distribution",
                    "information coefficient", "Exposures", "Top holdings", "Largest trades"):
        assert section in text, section
    with pytest.raises(Exception):  # read-only: a reader cannot write
        store.con.execute("CREATE TABLE nope (x INT)")
    store.close()


def test_evaluate_takes_names_formulas_and_frames(sim_store) -> None:  # noqa: ANN001
    from flyer import factors

    by_formula = factors.evaluate(sim_store, IDEA["rev5"], universe="csi500", horizon=5)["f1"].row()
    vals = factors.values(sim_store, IDEA, universe="csi500")
    by_frame = factors.evaluate(sim_store, vals, universe="csi500", horizon=5)["rev5"].row()
    for k in ("rank_ic_mean", "ic_mean", "rank_icir", "top_minus_bottom"):
        assert by_formula[k] == pytest.approx(by_frame[k], rel=1e-9, abs=1e-12), k


def test_alphalens_layout(sim_store) -> None:  # noqa: ANN001
    from flyer import factors

    df = factors.alphalens(sim_store, IDEA, universe="csi500", horizons=(1, 5))
    assert list(df.index.names) == ["date", "asset"] and list(df.columns) == ["1D", "5D", "factor", "factor_quantile"]
    assert df["factor_quantile"].between(1, 5).all() and str(df.index.levels[0].dtype).startswith("datetime64")
    assert df.index.is_monotonic_increasing and not df.isna().any().any()


def test_train_on_a_user_feature_frame(sim_store, tmp_path: Path) -> None:  # noqa: ANN001
    from flyer import factors, models

    feats = factors.values(sim_store, {**IDEA, "vol20": "Std($close / Ref($close, 1) - 1, 20)"})
    spans = dict(train=(dt.date(2018, 3, 1), dt.date(2019, 6, 30)), valid=(dt.date(2019, 7, 1), dt.date(2019, 12, 31)),
                 test=(dt.date(2020, 1, 1), dt.date(2020, 12, 31)))
    run = models.train_frame(sim_store, feats, "linear", home=tmp_path, horizon=5, **spans)
    assert run.config.data.factors == "frame:user" and run.config.data.factor_key.startswith("frame-")
    assert run.features == ["rev5", "vol20"] and run.metrics["test"]["n"] > 0
    again = models.train_frame(sim_store, feats, "linear", home=tmp_path, horizon=5, **spans)
    assert again.reused and again.id == run.id
    other = models.train_frame(sim_store, feats.with_columns(pl.col("vol20") * 2), "linear", home=tmp_path,
                               horizon=5, **spans)
    assert other.id != run.id  # another frame, another run
    assert models.load_run(tmp_path, run.id).predictions().height == run.predictions().height
    with pytest.raises(FlyerError, match="came from a frame passed to flyer.models.train_frame"):
        models.predict_day(run, sim_store, dt.date(2020, 12, 31))
    with pytest.raises(FlyerError, match="OHLCV windows"):
        models.train_frame(sim_store, feats, "gru", home=tmp_path, **spans)


@pytest.fixture(scope="module")
def result_and_scores(sim_home: Path):  # noqa: ANN201
    from flyer import backtest, data, factors

    with data.open_store(sim_home) as store:
        vals = factors.values(store, IDEA, universe="csi500", start=dt.date(2019, 1, 1))
        scores = vals.select("date", "symbol", pl.col("rev5").alias("score"))
        return backtest.run(store, scores, backtest.BacktestConfig(k=10, n_drop=2).replace(slippage_bps=5.0)), scores


def test_tearsheet_tables_agree_with_the_metrics(result_and_scores) -> None:  # noqa: ANN001
    from flyer.backtest import tearsheet as ts

    result, scores = result_and_scores
    daily = result.daily()
    grid = ts.monthly_excess(daily)
    yearly = result.yearly()
    for y, full in zip(grid["year"].to_list(), grid["full year"].to_list()):
        assert full == pytest.approx(yearly.filter(pl.col("year") == y)["excess"][0], abs=1e-9)
    costs = ts.cost_summary(daily, result.config.capital)
    after = costs.filter(pl.col("measure") == "annual return")["after costs"][0]
    assert after == pytest.approx(result.metrics()["annual_return"], rel=1e-9)
    assert (costs["before costs"] > costs["after costs"]).all()  # costs were paid
    stats = ts.return_stats(daily)
    assert stats.filter(pl.col("statistic") == "worst day")["return"][0] <= 0
    top = ts.top_holdings(result, 5)
    assert top.height == 5 and (top["avg_weight"] <= top["max_weight"]).all()
    ic = ts.score_ic(result, scores, (1,))
    assert ic.height > 100 and abs(ic["rank_ic_1"].mean()) < 0.5
    r = result.returns()
    assert str(r.index.dtype).startswith("datetime64") and len(r) == daily.height
    assert float((1 + r).prod() * result.config.capital) == pytest.approx(float(daily["nav"][-1]), rel=1e-9)
    assert len(result.returns(benchmark=True).dropna()) == daily.height - 1


def test_backtest_export(result_and_scores, tmp_path: Path) -> None:  # noqa: ANN001
    from flyer.backtest.records import TABLES, export

    result, _ = result_and_scores
    out = export(result, tmp_path / "csv", "csv")
    assert sorted(p.name for p in out.iterdir()) == sorted([f"{t}.csv" for t in TABLES] + ["metrics.json"])
    assert pl.read_csv(out / "trades.csv").height == result.trades().height
    meta = json.loads((out / "metrics.json").read_text())
    assert meta["metrics"]["information_ratio"] == pytest.approx(result.metrics()["information_ratio"])
    pq = export(result, tmp_path / "pq", "parquet")
    assert pl.read_parquet(pq / "daily.parquet").equals(result.daily())


def test_readme_python_api_block_runs(sim_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's ten lines, executed as written against the small sim market."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("## Python API", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    monkeypatch.setenv("FLYER_HOME", str(sim_home))
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(block, "README.md", "exec"), namespace)  # noqa: S102 - our own documentation
    assert (tmp_path / "rev5.html").exists() and len(namespace["returns"]) == namespace["result"].daily().height
    namespace["store"].close()


def test_factor_tearsheet_tables(sim_store) -> None:  # noqa: ANN001
    from flyer import factors
    from flyer.factors import report, tearsheet

    vals = factors.values(sim_store, IDEA, start=dt.date(2019, 1, 1))
    ev = factors.evaluate(sim_store, vals, horizon=5)["rev5"]
    grid = tearsheet.monthly_ic(ev)
    assert grid.columns == ["year", *map(str, range(1, 13))] and grid["year"].to_list() == [2019, 2020]
    stats, qq = tearsheet.ic_distribution(ev)
    assert stats["mean"] == pytest.approx(ev.row()["rank_ic_mean"]) and qq.height == stats["days"]
    cum = tearsheet.quantile_cumulative(ev)
    assert sorted(cum["quantile"].unique().to_list()) == [1, 2, 3, 4, 5]
    sp = tearsheet.spread(ev)
    assert sp["spread"].mean() == pytest.approx(ev.quantile_daily.filter(pl.col("quantile") == 5)["ret"].mean()
                                                - ev.quantile_daily.filter(pl.col("quantile") == 1)["ret"].mean(), abs=1e-9)
    ind = tearsheet.industry_ic(sim_store, vals, ["rev5"], horizon=5, min_names=3)["rev5"]
    assert ind.columns == ["industry", "days", "mean_names", "rank_ic_mean", "rank_icir"] and ind.height >= 10
    page = report.build({"rev5": ev}, title="t", industry={"rev5": ind})
    assert "By industry" in page and "monthly mean RankIC" in page and "top minus bottom" in page
