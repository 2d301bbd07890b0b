"""Evaluation tables on tiny hand-made frames with known answers."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest
from scipy import stats

from flyer.factors import evaluation as ev
from flyer.factors import report
from flyer.core.errors import FlyerError

D = [dt.date(2022, 1, 3) + dt.timedelta(days=i) for i in range(30)]


def _bars() -> pl.DataFrame:
    rng = np.random.default_rng(0)
    rows = []
    for s in range(12):
        close = 10 * np.cumprod(1 + rng.normal(0.001 * s, 0.02, len(D)))
        rows.append(pl.DataFrame({"symbol": f"S{s:02d}", "date": D, "close": close}))
    return pl.concat(rows)


def test_forward_returns_start_at_next_close():
    bars = _bars()
    fwd = ev.forward_returns(bars, (1, 5))
    s0 = bars.filter(pl.col("symbol") == "S00")["close"].to_numpy()
    f0 = fwd.filter(pl.col("symbol") == "S00")
    assert f0["ret_1"][0] == pytest.approx(s0[2] / s0[1] - 1)
    assert f0["ret_5"][3] == pytest.approx(s0[9] / s0[4] - 1)
    assert f0["ret_5"].tail(6).null_count() == 6 and f0["ret_1"].tail(2).null_count() == 2


def _values(bars: pl.DataFrame) -> pl.DataFrame:
    fwd = ev.forward_returns(bars, (1, 5))
    noise = np.random.default_rng(1).normal(0, 0.02, fwd.height)
    return fwd.select("date", "symbol", (pl.col("ret_5").fill_null(0) + noise).alias("good"),
                      pl.Series("noise", noise), (-pl.col("ret_1").fill_null(0)).alias("bad"))


def test_ic_table_matches_scipy_and_cleaning_counts():
    bars = _bars()
    fwd = ev.forward_returns(bars, (1, 5))
    values = _values(bars).with_columns(pl.when(pl.col("symbol") == "S03").then(None).otherwise(pl.col("good")).alias("good"))
    table, clean = ev.factor_table(values, "good", fwd, horizons=(1, 5))
    assert clean.missing_factor == len(D)  # S03 is null throughout
    assert clean.missing_return == 11 * 6  # the last 6 days lack a 5-day return
    assert clean.rows_kept == table.height == 11 * (len(D) - 6)
    ic = ev.ic_table(table, (5,))
    day = table.filter(pl.col("date") == D[4])
    row = ic.filter(pl.col("date") == D[4]).row(0, named=True)
    assert row["ic"] == pytest.approx(stats.pearsonr(day["value"], day["ret_5"])[0])
    assert row["rank_ic"] == pytest.approx(stats.spearmanr(day["value"], day["ret_5"])[0])
    summ = ev.ic_summary(ic).row(0, named=True)
    vals = ic["rank_ic"].to_numpy()
    assert summ["rank_icir"] == pytest.approx(vals.mean() / vals.std(ddof=1))
    # overlapping 5-day returns: t is Newey-West with 5 lags (Bartlett), not ICIR x sqrt(days)
    e, n = vals - vals.mean(), len(vals)
    lrv = e @ e / n + 2 * sum((1 - k / 6) * (e[k:] @ e[:-k]) / n for k in range(1, 6))
    assert summ["rank_ic_t"] == pytest.approx(vals.mean() / np.sqrt(lrv / n))
    assert summ["rank_ic_t"] != pytest.approx(vals.mean() / vals.std(ddof=1) * np.sqrt(n))


def test_universe_and_max_loss():
    bars = _bars()
    fwd = ev.forward_returns(bars, (1,))
    values = _values(bars)
    univ = values.filter(pl.col("symbol") < "S06").select("date", "symbol")
    table, clean = ev.factor_table(values, "noise", fwd, universe=univ, horizons=(1,))
    assert clean.outside_universe == 6 * len(D) and set(table["symbol"]) == {f"S{i:02d}" for i in range(6)}
    via_set = ev.evaluate_set(values, fwd, horizon=1, universe=univ, horizons=(1,))["noise"]
    assert via_set.cleaning == clean
    holey = values.with_columns(pl.when(pl.col("symbol") < "S09").then(None).otherwise(pl.col("noise")).alias("noise"))
    with pytest.raises(FlyerError, match="max_loss"):
        ev.factor_table(holey, "noise", fwd, horizons=(1,), max_loss=0.5)


def test_quantiles_turnover_autocorr_and_set():
    bars = _bars()
    fwd = ev.forward_returns(bars, (1, 5))
    values = _values(bars)
    e = ev.evaluate_factor(values, "good", fwd, horizon=5, horizons=(1, 5), quantiles=4)
    q = e.quantiles["mean_ret"].to_list()
    assert len(q) == 4 and q[-1] > q[0]
    assert set(e.quantile_daily.filter(pl.col("date") == D[0])["n"].to_list()) == {3}
    assert (e.top_excess["excess"].drop_nulls() > -1).all()
    assert e.turnover["turnover"].is_between(0, 1).all()
    assert e.autocorr["autocorr"].is_between(-1, 1).all()
    evals = ev.evaluate_set(values, fwd, horizon=5, horizons=(1, 5))
    summary = ev.summary_table(evals)
    assert summary["factor"][0] == "good" and summary.height == 3
    decay = ev.ic_decay(evals)
    assert decay.filter(pl.col("factor") == "good").height == 2
    corr = ev.correlation_matrix(values)
    assert corr.columns == ["factor", "good", "noise", "bad"]
    assert np.allclose(np.diag(corr.select("good", "noise", "bad").to_numpy()), 1.0)
    page = report.build(evals, title="t", values=values)
    assert "<table>" in page and "plotly" in page.lower() and "missing return" in page


def test_turnover_hand_case():
    t = pl.DataFrame({"date": [D[0]] * 2 + [D[1]] * 2, "symbol": ["A", "B", "A", "C"],
                      "value": [1.0, 1.0, 1.0, 1.0], "quantile": [5, 5, 5, 5]})
    assert ev.turnover(t)["turnover"].to_list() == [0.5]


def test_rank_ic_wide_equals_per_factor_ic_table():
    bars = _bars()
    fwd = ev.forward_returns(bars, (5,))
    values = _values(bars).with_columns(
        pl.when(pl.col("symbol") == "S02").then(None).otherwise(pl.col("noise")).alias("noise"))
    wide = ev.rank_ic_wide(values, fwd, 5)
    for name in ("good", "noise", "bad"):
        table, _ = ev.factor_table(values, name, fwd, horizons=(5,))
        per = ev.ic_table(table, (5,)).select("date", "rank_ic")
        both = per.join(wide.select("date", pl.col(name).alias("w")), on="date")
        np.testing.assert_allclose(both["rank_ic"].to_numpy(), both["w"].to_numpy(), rtol=1e-12)
    summ = ev.wide_summary(wide)
    assert summ["factor"][0] == "good" and summ.height == 3


def _same_frame(a: pl.DataFrame, b: pl.DataFrame, what: str) -> None:
    """Equal columns, dtypes and rows; floats to 1e-9 relative, NaN and null alike. A correlation
    with a constant side is NaN in the kernel, while polars' per-factor path gives NaN or a
    rounding residue (|r| < 1e-12): those count as equal."""
    assert a.columns == b.columns and a.height == b.height, f"{what}: {a.shape} vs {b.shape}"
    for c in a.columns:
        x, y = a[c], b[c]
        assert x.dtype == y.dtype, f"{what}.{c}: {x.dtype} vs {y.dtype}"
        if x.dtype.is_float():
            xs, ys = x.fill_null(np.nan).to_numpy().copy(), y.fill_null(np.nan).to_numpy()
            if c in ("ic", "rank_ic", "autocorr"):
                residue = np.isnan(xs) & (np.abs(ys) < 1e-12)
                xs[residue] = ys[residue]
            np.testing.assert_allclose(xs, ys, rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=f"{what}.{c}")
        else:
            assert x.to_list() == y.to_list(), f"{what}.{c}"


@pytest.mark.parametrize("quantiles", [5, 4])
def test_streamed_set_equals_the_per_factor_tables(sim_bars: pl.DataFrame, quantiles: int) -> None:
    """``evaluate_set`` (one pass per date over many factors in a numba kernel) gives the tables
    of ``evaluate_factor`` (one polars frame per factor), on a sim panel with missing values,
    ties (a 0/1 flag whose top quantile is never reached), a point-in-time universe and
    several horizons."""
    from flyer.factors import compute

    bars = sim_bars.filter(pl.col("date") >= dt.date(2019, 6, 1))
    values = compute(bars, {"MOM": "$close / Ref($close, 5) - 1", "VOL": "Std($close / Ref($close, 1), 10)",
                            "UP": "$close > Ref($close, 1)", "KLEN": "($high - $low) / $open",
                            "CS": "CSRank(Mean($volume, 3))", "FLAT": "$close * 0 + 1"}, dtype=pl.Float32)
    rng = np.random.default_rng(3)
    values = values.with_columns(pl.when(pl.Series(rng.random(values.height) < 0.05)).then(None)
                                 .otherwise(pl.col("KLEN")).alias("KLEN"))
    fwd = ev.forward_returns(bars.select("symbol", "date", "close"), (1, 5, 10))
    univ = values.select("date", "symbol").filter(pl.Series(rng.random(values.height) < 0.7))
    streamed = ev.evaluate_set(values, fwd, horizon=5, universe=univ, quantiles=quantiles, horizons=(1, 5, 10),
                               group=2)
    base, n_in = ev.join_inputs(values, fwd, univ, (1, 5, 10))
    assert list(streamed) == ["MOM", "VOL", "UP", "KLEN", "CS", "FLAT"]
    for name, got in streamed.items():
        ref = ev.evaluate_factor(base, name, None, horizon=5, quantiles=quantiles, horizons=(1, 5, 10),
                                 rows_in=n_in)
        assert got.cleaning == ref.cleaning, name
        tables = ["ic", "summary", "quantiles", "quantile_daily", "top_excess", "turnover", "autocorr"]
        if name == "FLAT":  # constant: no correlation is defined (polars' path reports its rounding residue, 0)
            tables = tables[2:-1]
        for table in tables:
            _same_frame(getattr(got, table), getattr(ref, table), f"{name}.{table}")
        assert got.row().keys() == ref.row().keys()
    flat = streamed["FLAT"]   # all tied: every row in the middle quantile, no IC, turnover of that quantile
    assert flat.quantile_daily["quantile"].unique().to_list() == [(quantiles + 2) // 2]
    assert flat.ic["ic"].null_count() == flat.ic.height and flat.turnover.height > 0


def test_streamed_set_keeps_the_cleaning_limits(sim_bars: pl.DataFrame) -> None:
    bars = sim_bars.filter(pl.col("date") >= dt.date(2020, 6, 1))
    fwd = ev.forward_returns(bars.select("symbol", "date", "close"), (1,))
    values = bars.select("date", "symbol", pl.col("close").alias("ok"),
                         pl.when(pl.col("symbol") < "300").then(None).otherwise(pl.col("close")).alias("holey"))
    with pytest.raises(FlyerError, match=r"holey: .* more than max_loss=30%"):
        ev.evaluate_set(values, fwd, horizon=1, horizons=(1,), max_loss=0.3)
    empty = values.with_columns(pl.lit(None, pl.Float64).alias("holey"))
    with pytest.raises(FlyerError, match="max_loss|nothing left"):
        ev.evaluate_set(empty, fwd, horizon=1, horizons=(1,), max_loss=1.0)


def test_radix_ranks_equal_average_ranks() -> None:
    """The evaluation's radix sort: average ranks equal scipy's on negatives, ties, +-0 and
    extremes."""
    from flyer.factors import eval_kernels as ek

    rng = np.random.default_rng(9)
    cases = [rng.normal(size=500), np.round(rng.normal(size=300), 1), np.array([0.0, -0.0, 1e-300, -1e300, 5.0, 0.0]),
             np.full(7, 2.5), np.array([3.0]), rng.normal(size=64).astype(np.float32).astype(np.float64)]
    for x in cases:
        out = np.empty(x.size)
        ek.avg_ranks(np.ascontiguousarray(x), out)
        np.testing.assert_array_equal(out, stats.rankdata(x, method="average"))
