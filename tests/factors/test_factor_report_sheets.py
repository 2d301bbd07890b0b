"""The factor page's alphalens sections: demeaned and group-neutral quantile returns, the
factor-weighted portfolio, turnover per quantile at lag h, the pick of detailed factors, and a
generated page holding every section at several horizons."""
from __future__ import annotations

import datetime as dt
import re

import numpy as np
import polars as pl
import pytest

from flyer.core.errors import UsageError
from flyer.factors import tearsheet as ts

D = [dt.date(2024, 1, d) for d in (2, 3, 4, 5)]


def _table() -> pl.DataFrame:
    """Four dates x four names, two quantiles, two groups, returns at 1 and 2 days."""
    rng = np.random.default_rng(5)
    rows = []
    for d in D:
        for i, s in enumerate("ABCD"):
            v = float(rng.normal()) + i
            rows.append({"date": d, "symbol": s, "value": v, "ret_1": float(rng.normal(0, 0.01)),
                         "ret_2": float(rng.normal(0, 0.02)), "group": "g1" if s in "AB" else "g2"})
    t = pl.DataFrame(rows)
    pct = (pl.col("value").rank("average") / pl.len()).over("date")
    return t.with_columns(pct.alias("rank")).with_columns(
        (pl.col("rank") * 2).ceil().clip(1, 2).cast(pl.Int32).alias("quantile"))


def test_demeaned_quantile_returns_shift_every_quantile_by_the_universe_mean() -> None:
    t = _table()
    raw = ts.quantile_returns(t, demean=False)
    dem = ts.quantile_returns(t)
    assert raw["horizon"].unique().sort().to_list() == [1, 2]
    gap = (raw["bp_per_day"] - dem["bp_per_day"]).to_numpy().reshape(2, 2)  # (horizon, quantile)
    assert np.allclose(gap[:, 0], gap[:, 1])  # the same universe mean removed from each quantile
    uni = t.group_by("date").agg(pl.col("ret_1").mean())["ret_1"].mean()
    assert gap[0, 0] == pytest.approx(uni * 1e4)
    by_day = t.with_columns((pl.col("ret_1") - pl.col("ret_1").mean().over("date")).alias("x"))
    assert dem.filter((pl.col("horizon") == 1) & (pl.col("quantile") == 2))["mean"][0] == pytest.approx(
        by_day.filter(pl.col("quantile") == 2).group_by("date").agg(pl.col("x").mean())["x"].mean())
    grp = ts.quantile_returns(t, by_group=True)
    g = t.with_columns((pl.col("ret_2") - pl.col("ret_2").mean().over("date", "group")).alias("x"))
    assert grp.filter((pl.col("horizon") == 2) & (pl.col("quantile") == 1))["mean"][0] == pytest.approx(
        g.filter(pl.col("quantile") == 1).group_by("date").agg(pl.col("x").mean())["x"].mean())


def test_factor_weighted_portfolio_is_dollar_neutral_with_gross_one() -> None:
    t = _table()
    fr = ts.factor_returns(t)
    d = t.filter(pl.col("date") == D[0])
    w = d["value"].to_numpy() - d["value"].mean()
    w = w / np.abs(w).sum()
    assert fr["ret_1"][0] == pytest.approx(float(w @ d["ret_1"].to_numpy())) and abs(w.sum()) < 1e-12
    ra = ts.returns_analysis(t, {2024: 242})
    assert ra.columns == ["measure", "1D", "2D"] and ra["measure"][0].startswith("alpha per year")


def test_quantile_turnover_at_a_lag() -> None:
    t = pl.DataFrame({"date": [D[0]] * 2 + [D[1]] * 2 + [D[2]] * 2, "symbol": ["A", "B", "A", "C", "B", "C"],
                      "value": [1.0] * 6, "rank": [0.5] * 6, "quantile": [2, 2, 2, 2, 2, 2],
                      "ret_1": [0.0] * 6})
    lag1 = ts.quantile_turnover(t, 1)
    assert lag1["turnover"].to_list() == [0.5, 0.5]
    lag2 = ts.quantile_turnover(t, 2)
    assert lag2["date"].to_list() == [D[2]] and lag2["turnover"].to_list() == [0.5]  # B stayed, C is new


def test_pick_names_counts_and_a_stated_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    import flyer.factors.evaluation as ev

    evals = {f"f{i}": None for i in range(50)}
    rows = pl.DataFrame({"factor": list(evals), "rank_icir": np.linspace(1, 0, 50)})
    monkeypatch.setattr(ev, "summary_table", lambda e, by="rank_icir": rows)
    assert ts.pick(evals, 3)[0] == ["f0", "f1", "f2"]  # type: ignore[arg-type]
    assert ts.pick(evals, "f7,f3")[0] == ["f7", "f3"]  # type: ignore[arg-type]
    names, note = ts.pick(evals, "all")  # type: ignore[arg-type]
    assert len(names) == ts.DETAIL_LIMIT and "10 left out" in note
    with pytest.raises(UsageError, match="no factor nope"):
        ts.pick(evals, "nope")  # type: ignore[arg-type]


def test_factor_page_has_alphalens_sections_at_every_horizon(sim_store, tmp_path) -> None:  # noqa: ANN001
    from flyer import factors
    from flyer.factors import report

    ideas = {"rev5": "-1 * ($close / Ref($close, 5) - 1)", "ROC5": "Ref($close, 5) / $close",
             "vol20": "Std($close / Ref($close, 1), 20)"}
    values = factors.values(sim_store, ideas, universe="csi500", start=dt.date(2019, 1, 1))
    evals = factors.evaluate(sim_store, values, universe="csi500", horizon=5)
    sheets, note = ts.report_sheets(sim_store, evals, values, "rev5,vol20")
    assert list(sheets) == ["rev5", "vol20"] and sheets["rev5"].grouped
    page = report.build(evals, title="t", values=values, sheets=sheets, detail_note=note)
    path = report.write(tmp_path / "f.html", page)
    ids = set(re.findall(r"id='([^']+)'", path.read_text()))
    for f in ("f-rev5", "f-vol20"):
        for part in ("", "-quantile-stats", "-returns", "-returns-table", "-quantile-returns", "-group-neutral",
                     "-information", "-ic-table", "-turnover", "-turnover-table"):
            assert f + part in ids, f + part
    assert "f-ROC5" not in ids and "the factors picked by name" in page
    assert all(f"<th>{h}D</th>" in page for h in (1, 5, 10, 20))  # several horizons side by side
    assert "<b>demeaned</b>" in page and "p-value" in page and "RankIC skew" in page
    assert len(page.encode()) < 3_000_000 and (tmp_path / "f.html").stat().st_size == len(page.encode())
    # ROC5 = Ref($close, 5) / $close is a reversal: the same ranks as rev5, the same RankIC
    assert evals["ROC5"].row()["rank_ic_mean"] == pytest.approx(evals["rev5"].row()["rank_ic_mean"])
    absolute, _ = ts.report_sheets(sim_store, evals, values, 1, demean=False)
    assert "<b>absolute</b>" in report.build(evals, title="t", sheets=absolute)


def test_cli_detail_names_are_checked_before_any_work(sim_home, tmp_path, capsys) -> None:  # noqa: ANN001
    from flyer.cli import main

    with pytest.raises(SystemExit) as ex:
        main(["factors", "eval", "--formula", "rev5=-Delta($close, 5)", "--detail", "nope",
              "--report", str(tmp_path / "r.html"), "--home", str(sim_home)])
    out = capsys.readouterr()
    assert ex.value.code == 2 and "--detail: no factor nope" in out.err
    assert "evaluating" not in out.out and not (tmp_path / "r.html").exists()
