"""The fused programs (``flyer.factors.program`` / ``fused``) against the slow node-by-node
reference (the engine's polars node semantics, ``node_by_node``): random trees of every
operator in both modes, the libraries, fused operator groups, register reuse and phases."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flyer.factors import (CS_OPS, FUNCS, PAIR_OPS, ROLLING_OPS, BinOp, Const, CrossSection, Expr, Field,
                           FactorSet, Func, PairRolling, Rolling, compile_set, compute)
from flyer.factors import fused as fz
from flyer.factors.expr import BIN_OPS
from flyer.factors.library import load

from factor_panels import make_bars
from factor_reference import node_by_node

BARS = make_bars(n_symbols=5, n_days=45, seed=11)
FIELDS = ("open", "high", "low", "close", "vwap", "volume", "amount", "cap")


def _assert_same(formulas: dict[str, str | Expr], compat: bool, bars: pl.DataFrame = BARS) -> None:
    got = compute(bars, formulas, qlib_compat=compat)
    ref = node_by_node(bars, formulas, compat)
    for name in formulas:
        assert got[name].is_nan().sum() == 0, f"NaN left as a value: {name}"
        a = got[name].fill_null(np.nan).to_numpy()
        b = ref[name]
        both = np.isfinite(a) & np.isfinite(b)
        np.testing.assert_array_equal(np.isnan(a), np.isnan(b), err_msg=f"missing: {name} = {formulas[name]}")
        np.testing.assert_allclose(a[both], b[both], rtol=1e-12, atol=0, err_msg=f"{name} = {formulas[name]}")


def _trees(depth: int) -> st.SearchStrategy[Expr]:
    leaf = st.one_of(st.sampled_from([Field(f) for f in FIELDS]),
                     st.sampled_from([Const(1.0), Const(0.5), Const(-2.0), Const(0.0)]))
    if depth == 0:
        return leaf
    sub = _trees(depth - 1)
    win = st.integers(1, 7)
    rolling = st.builds(lambda op, x, w, q: Rolling(op, x, w, q if op == "Quantile" else None),
                        st.sampled_from(ROLLING_OPS), sub, win, st.sampled_from([0.2, 0.5, 0.9]))
    pair = st.builds(PairRolling, st.sampled_from(PAIR_OPS), sub, sub, win)
    binop = st.builds(BinOp, st.sampled_from(BIN_OPS), sub, sub)
    func = st.builds(lambda f, xs: Func(f, tuple(xs[:FUNCS[f]])), st.sampled_from(sorted(FUNCS)),
                     st.lists(sub, min_size=3, max_size=3))
    cs = st.builds(lambda op, x, by: CrossSection(op, x, by if op == "Neutralize" else ()),
                   st.sampled_from(CS_OPS), sub, st.sampled_from([("industry",), ("cap",), ("industry", "cap")]))
    return st.one_of(leaf, rolling, pair, binop, func, cs)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exprs=st.lists(_trees(3), min_size=1, max_size=5), compat=st.booleans())
def test_random_trees_equal_the_node_by_node_reference(exprs: list[Expr], compat: bool) -> None:
    _assert_same({f"f{i}": e for i, e in enumerate(exprs)}, compat)


@pytest.mark.parametrize("compat", [False, True], ids=["full", "qlib"])
@pytest.mark.parametrize("name", ["alpha158", "wq101"])
def test_libraries_equal_the_node_by_node_reference(name: str, compat: bool) -> None:
    fs = load(name)
    picked = dict(fs.factors) if name == "alpha158" else dict(list(fs.factors)[::4])
    _assert_same(picked, compat)


def test_fused_groups_share_one_pass_across_the_whole_set() -> None:
    """Operators of one input and window are one instruction, wherever they occur in the set."""
    fs = FactorSet.from_formulas("g", {
        "a": "Quantile($close, 5, 0.8) / $close", "b": "Rank($close, 5) + 1", "c": "Med($close, 5)",
        "d": "Slope($close, 5)", "e": "Resi($close, 5) / $close", "f": "Rsquare($close, 5)",
        "g": "Max($high, 5) - IdxMax($high, 5)", "h": "IdxMin($low, 5)", "i": "Min($low, 5)",
        "j": "Quantile($close, 10, 0.2)",
    })
    (prog,) = compile_set(fs).program.programs
    ops = prog.code[:, fz.OP].tolist()
    assert ops.count(fz.ORDER) == 2 and ops.count(fz.REG) == 1 and ops.count(fz.EXT) == 2
    order = prog.code[prog.code[:, fz.OP] == fz.ORDER]
    assert sorted(order[:, fz.NAUX].tolist()) == [1, 3]
    _assert_same(dict(fs.factors), False)
    _assert_same(dict(fs.factors), True)


def test_registers_are_reused_and_phases_split_at_cross_sections() -> None:
    fs = load("alpha158")
    plan = compile_set(fs).program
    (prog,) = plan.programs
    assert prog.n_regs < 60 and len(prog.code) > 400 and plan.n_glob == 0
    cs = compile_set(FactorSet.from_formulas("cs", {
        "a": "CSRank(Mean($close, 3)) + Mean($close, 3)",      # a phase-0 value read in phase 1
        "b": "CSZScore(CSRank($close) * $volume)",             # two cross sections in a row
        "c": "Neutralize(Corr($close, $volume, 4), industry, cap)",
    })).program
    assert len(cs.programs) == 3 and [len(c) for c in cs.cross] == [3, 1, 0]
    assert cs.needs_cap and cs.needs_industry
    _assert_same({"a": "CSRank(Mean($close, 3)) + Mean($close, 3)", "b": "CSZScore(CSRank($close) * $volume)",
                  "c": "Neutralize(Corr($close, $volume, 4), industry, cap)"}, False)


def test_constant_factors_and_empty_panels() -> None:
    out = compute(BARS, {"one": "1", "two": "Mean(2, 3)", "k": "$close * 0 + 1"})
    assert out["one"].to_list() == [1.0] * BARS.height
    assert out["two"].null_count() == BARS["symbol"].n_unique() * 2
    empty = compute(BARS.head(0), {"a": "Mean($close, 3)", "b": "CSRank($close)"})
    assert empty.height == 0 and empty.columns == ["date", "symbol", "a", "b"]


def test_null_bitmaps_across_block_boundaries() -> None:
    """Validity bytes are written inside blocks by the parallel program and at block edges
    afterwards: blocks of 1..17 rows, every NaN a null and no NaN left as a value."""
    rng = np.random.default_rng(0)
    sizes = rng.integers(1, 18, 40)
    parts = [pl.DataFrame({"symbol": f"S{g:03d}", "date": BARS["date"].unique().sort().head(int(n)),
                           "close": rng.normal(10, 1, int(n)), "is_suspended": rng.random(int(n)) < 0.2})
             for g, n in enumerate(sizes)]
    bars = pl.concat(parts)
    for dtype in (pl.Float32, pl.Float64):
        out = compute(bars, {"a": "$close", "b": "Mean($close, 3)", "c": "Ref($close, 2)"}, dtype=dtype)
        ref = node_by_node(bars, {"a": "$close", "b": "Mean($close, 3)", "c": "Ref($close, 2)"}, False)
        for name in ("a", "b", "c"):
            assert out[name].is_nan().sum() == 0
            np.testing.assert_array_equal(out[name].is_null().to_numpy(), np.isnan(ref[name]))
            assert out[name].null_count() == int(np.isnan(ref[name]).sum())
