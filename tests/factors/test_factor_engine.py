"""Element-wise and cross-sectional operators, modes, CSE and chunked computation."""
from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from flyer.factors import FactorSet, compile_set, compute, compute_chunks, parse
from flyer.factors.engine import group_starts

from factor_reference import TRADED


def _frame(bars: pl.DataFrame) -> pd.DataFrame:
    """Bars as pandas with suspended traded fields set to NaN and the row's age per symbol."""
    df = bars.sort("symbol", "date").to_pandas()
    for c in TRADED:
        df[c] = df[c].astype(float).where(~df["is_suspended"].astype(bool))
    df["age"] = df.groupby("symbol").cumcount()
    return df


def _values(out: pl.DataFrame, name: str) -> np.ndarray:
    return out[name].cast(pl.Float64).fill_null(np.nan).to_numpy()


ELEMENTWISE = {
    "add": ("$close + $open", lambda d: d.close + d.open),
    "sub": ("$close - 2 * $open", lambda d: d.close - 2 * d.open),
    # x / 0 is null (never inf), documented in flyer.factors.expr
    "div": ("$close / ($open - $open)", lambda d: (d.close / (d.open - d.open)).replace([np.inf, -np.inf], np.nan)),
    "div2": ("$close / ($open - 5)", lambda d: (d.close / (d.open - 5)).replace([np.inf, -np.inf], np.nan)),
    "gt": ("$close > $open", lambda d: (d.close > d.open).astype(float).where(d.close.notna() & d.open.notna())),
    "le": ("$close <= $open", lambda d: (d.close <= d.open).astype(float).where(d.close.notna() & d.open.notna())),
    "and": ("($close > $open) & ($high > 0)",
            lambda d: ((d.close > d.open) & (d.high > 0)).astype(float).where(d.close.notna() & d.open.notna())),
    "abs": ("Abs($close - $open)", lambda d: (d.close - d.open).abs()),
    "sign": ("Sign($close - $open)", lambda d: np.sign(d.close - d.open)),
    "log": ("Log($volume - 20000)", lambda d: np.log((d.volume - 20000).where(d.volume > 20000))),  # Log(<=0) null
    "power": ("Power($close, 2)", lambda d: d.close ** 2),
    "spow": ("SignedPower($close - $open, 0.5)", lambda d: np.sign(d.close - d.open) * (d.close - d.open).abs() ** 0.5),
    "greater": ("Greater($close, $open)", lambda d: np.maximum(d.close, d.open)),
    "less": ("Less($close, $open)", lambda d: np.minimum(d.close, d.open)),
    "if": ("If($close > $open, $volume, 0)",
           lambda d: pd.Series(np.where(d.close > d.open, d.volume, 0.0)).where(d.close.notna() & d.open.notna())),
}


def test_elementwise_operators(bars):
    out = compute(bars, {k: f for k, (f, _) in ELEMENTWISE.items()})
    d = _frame(bars)
    for name, (_, ref) in ELEMENTWISE.items():
        exp = pd.Series(np.asarray(ref(d), dtype=float))
        exp = exp.where(~np.isnan(exp.to_numpy()), np.nan)
        np.testing.assert_allclose(_values(out, name), exp.to_numpy(), rtol=1e-12, equal_nan=True, err_msg=name)


def test_comparison_with_missing_is_false_in_qlib_mode(bars):
    out = compute(bars, {"gt": "$close > $open"}, qlib_compat=True)
    d = _frame(bars)
    np.testing.assert_array_equal(_values(out, "gt"), (d.close > d.open).astype(float).to_numpy())


def _cs_reference(d: pd.DataFrame, x: pd.Series, op: str) -> pd.Series:
    d = d.assign(x=x)
    g = d.groupby("date")["x"]
    if op == "CSRank":
        return g.rank(pct=True)
    if op == "CSZScore":
        return (d.x - g.transform("mean")) / g.transform("std")
    if op == "CSDemean":
        return d.x - g.transform("mean")
    if op == "CSScale":
        return d.x / g.transform(lambda v: v.abs().sum())
    raise ValueError(op)


def _neutral_reference(d: pd.DataFrame, x: pd.Series, by: tuple[str, ...]) -> pd.Series:
    out = pd.Series(np.nan, index=d.index)
    d = d.assign(x=x, lcap=np.log(d.cap))
    for _, day in d.groupby("date"):
        day = day[day.x.notna()]
        cols = [np.ones(len(day))]
        if "cap" in by:
            cols.append(day.lcap.to_numpy())
        if "industry" in by:
            dummies = pd.get_dummies(day.industry).to_numpy(dtype=float)
            cols = [dummies] + cols[1:]
        X = np.column_stack(cols)
        if len(day) == 0:
            continue
        beta, *_ = np.linalg.lstsq(X, day.x.to_numpy(), rcond=None)
        out[day.index] = day.x.to_numpy() - X @ beta
    return out


@pytest.mark.parametrize("op", ["CSRank", "CSZScore", "CSDemean", "CSScale"])
def test_cross_sectional_operators_mask_warmup_inputs(bars, op):
    out = compute(bars, {"f": f"{op}(Mean($close, 3))"})
    d = _frame(bars)
    inner = d.groupby("symbol")["close"].transform(lambda s: s.rolling(3, min_periods=1).mean())
    inner = inner.where(d.age >= 2)
    exp = _cs_reference(d, inner, op)
    np.testing.assert_allclose(_values(out, "f"), exp.to_numpy(dtype=float), rtol=1e-9, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("by", [("industry",), ("cap",), ("industry", "cap")])
def test_neutralize_is_ols_residual(bars, by):
    out = compute(bars, {"f": f"Neutralize($close / $open, {', '.join(by)})"})
    d = _frame(bars)
    exp = _neutral_reference(d, d.close / d.open, by)
    np.testing.assert_allclose(_values(out, "f"), exp.to_numpy(dtype=float), rtol=1e-7, atol=1e-9, equal_nan=True)


def test_industries_argument_and_missing_industry(bars):
    ind = bars.select("symbol", "industry").unique()
    a = compute(bars.drop("industry"), {"f": "IndNeutralize($close)"}, industries=ind)
    b = compute(bars, {"f": "IndNeutralize($close)"})
    assert a.equals(b)
    with pytest.raises(Exception, match="industr"):
        compute(bars.drop("industry"), {"f": "IndNeutralize($close)"})


def test_output_contract(bars):
    out = compute(bars, {"MA5": "Mean($close, 5)/$close", "K": "$close"})
    assert out.columns == ["date", "symbol", "MA5", "K"]
    assert out.schema["MA5"] == pl.Float64 and out.height == bars.height
    assert out.select(pl.col("MA5").is_nan().any()).item() is False
    shuffled = compute(bars.sample(fraction=1.0, shuffle=True, seed=3), {"MA5": "Mean($close, 5)/$close", "K": "$close"})
    assert shuffled.equals(out)


def test_shared_subexpressions_are_computed_once(bars):
    from flyer.factors import fused as fz

    fs = FactorSet.from_formulas("t", {
        "a": "Mean($close / Ref($close, 1), 5)",
        "b": "Std($close / Ref($close, 1), 5) / Mean($close / Ref($close, 1), 5)",
        "c": "Corr($close / Ref($close, 1), Log($volume + 1), 5)",
        "d": "Mean($close / Ref($close, 1), 5) - 1",
        "e": "Quantile($close, 5, 0.8) + Rank($close, 5) - Max($high, 5) * IdxMax($high, 5)",
    })
    compiled = compile_set(fs)
    keys = [str(n) for n in compiled.nodes]
    assert len(keys) == len(set(keys))
    total_nodes = sum(len(list(e.walk())) for e in fs.exprs)
    assert len(compiled.nodes) < total_nodes
    (prog,) = compiled.program.programs
    ops = prog.code[:, fz.OP].tolist()
    # one instruction per unique node: Ref, Mean, Std, Corr once; the division shared by four
    assert ops.count(fz.REF) == 1 and ops.count(fz.SUM) == 1 and ops.count(fz.VAR) == 1
    assert ops.count(fz.PAIR) == 1 and ops.count(fz.DIV) == 2 and ops.count(fz.LOG) == 1
    # operators of one input and window share one pass: Quantile with Rank, Max with IdxMax
    assert ops.count(fz.ORDER) == 1 and ops.count(fz.EXT) == 1
    assert ops.count(fz.LOAD) == 3 and ops.count(fz.STORE) == 5
    assert prog.n_regs < len(prog.code) // 2  # registers are reused after their last reader


def test_chunked_compute_equals_whole(clean_bars):
    fs = {"a": "Mean($close, 5)/$close", "b": "CSRank(Corr($close, $volume, 10))", "c": "Slope($close, 7)"}
    whole = compute(clean_bars, fs)
    parts = pl.concat(list(compute_chunks(clean_bars, fs, chunk_rows=60))).sort("symbol", "date")
    assert len(list(compute_chunks(clean_bars, fs, chunk_rows=60))) > 3
    assert_frame_equal(compute(clean_bars, fs, chunk_rows=100), whole, rel_tol=1e-10, abs_tol=1e-12)
    assert_frame_equal(parts, whole, rel_tol=1e-10, abs_tol=1e-12)


def test_symbol_chunks_equal_whole(bars):
    fs = {"a": "Mean($close, 5)/$close", "b": "EMA($close, 4)", "c": "IdxMax($high, 6) + Rank($close, 3)"}
    whole = compute(bars, fs)
    parts = list(compute_chunks(bars, fs, chunk_rows=50))
    assert len(parts) > 2 and all(p["symbol"].n_unique() >= 1 for p in parts)
    assert_frame_equal(pl.concat(parts), whole)  # blocks of whole instruments: exact, in order
    later = pl.concat(list(compute_chunks(bars, fs, chunk_rows=50, start=bars["date"][20])))
    assert_frame_equal(later, whole.filter(pl.col("date") >= bars["date"][20]))


def test_float32_output(bars):
    fs = {"a": "Mean($close, 5)/$close", "b": "Corr($close, $volume, 5)"}
    f64, f32 = compute(bars, fs), compute(bars, fs, dtype=pl.Float32)
    assert f32.schema["a"] == pl.Float32 and f32.schema["b"] == pl.Float32
    assert_frame_equal(f32, f64.with_columns(pl.col("a", "b").cast(pl.Float32)))


def test_group_starts():
    s = pl.Series(["a", "a", "b", "c", "c", "c"])
    assert group_starts(s).tolist() == [0, 2, 3, 6]
    assert group_starts(pl.Series([], dtype=pl.String)).tolist() == [0]


def test_industry_field_is_rejected_outside_neutralize(bars):
    with pytest.raises(Exception, match="categorical"):
        compute(bars, {"f": "$industry + 1"})
    assert parse("$industry").lookback == 0


def test_fused_kernels_equal_single_ones():
    from flyer.factors import kernels as kn

    rng = np.random.default_rng(5)
    x = rng.normal(size=300).round(1)  # ties
    x[rng.random(300) < 0.1] = np.nan
    starts = np.array([0, 7, 120, 121, 300], dtype=np.int64)
    for w in (1, 3, 20):
        multi = kn.rolling_order_multi_nb(x, starts, w, np.array([0.8, -1.0, 0.5, 0.2]))
        np.testing.assert_array_equal(multi[0], kn.rolling_quantile_nb(x, starts, w, 0.8))
        np.testing.assert_array_equal(multi[1], kn.rolling_rank_nb(x, starts, w))
        np.testing.assert_array_equal(multi[3], kn.rolling_quantile_nb(x, starts, w, 0.2))
        reg = kn.rolling_reg_multi_nb(x, starts, w, np.array([2, 0, 1], dtype=np.int64))
        for r, kind in enumerate((2, 0, 1)):
            np.testing.assert_array_equal(reg[r], kn.rolling_reg_nb(x, starts, w, kind))


def test_chunk_count_matches_compute_chunks(bars):
    from flyer.factors.engine import n_chunks

    for fs in ({"a": "Mean($close, 3)"}, {"a": "CSRank(Mean($close, 3))"}):
        for rows in (1, 50, 130, 10_000):
            assert n_chunks(bars, fs, rows) == len(list(compute_chunks(bars, fs, chunk_rows=rows)))
