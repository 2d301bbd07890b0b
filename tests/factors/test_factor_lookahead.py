"""No look-ahead: changing any bar after date t never changes a factor value at or before t."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flyer.factors import (CS_OPS, FUNCS, PAIR_OPS, ROLLING_OPS, BinOp, Const, CrossSection, Expr,
                     Field, Func, PairRolling, Rolling, compute, parse)
from flyer.factors.library import load

from factor_panels import make_bars

PRICE_FIELDS = ("open", "high", "low", "close", "vwap", "volume", "amount", "cap")
BARS = make_bars(n_symbols=4, n_days=30, seed=7)
DATES = BARS["date"].unique().sort()


def _perturb(bars: pl.DataFrame, t: dt.date, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    after = pl.col("date") > t
    noise = pl.Series(rng.lognormal(0, 0.3, bars.height))
    return bars.with_columns(
        *[pl.when(after).then(pl.col(c) * noise).otherwise(pl.col(c)).alias(c) for c in PRICE_FIELDS],
        pl.when(after).then(~pl.col("is_suspended")).otherwise(pl.col("is_suspended")).alias("is_suspended"),
    )


def _assert_prefix_unchanged(formulas: dict[str, str | Expr], t: dt.date, seed: int, compat: bool) -> None:
    a = compute(BARS, formulas, qlib_compat=compat).filter(pl.col("date") <= t)
    b = compute(_perturb(BARS, t, seed), formulas, qlib_compat=compat).filter(pl.col("date") <= t)
    for name in formulas:
        x, y = (f[name].fill_null(np.nan).to_numpy() for f in (a, b))
        np.testing.assert_array_equal(x, y, err_msg=f"{name}: {formulas[name]}")


def _trees(depth: int) -> st.SearchStrategy[Expr]:
    leaf = st.one_of(st.sampled_from([Field(f) for f in PRICE_FIELDS]),
                     st.sampled_from([Const(1.0), Const(0.5), Const(-2.0)]))
    if depth == 0:
        return leaf
    sub = _trees(depth - 1)
    win = st.integers(1, 6)
    rolling = st.builds(lambda op, x, w: Rolling(op, x, w, 0.3 if op == "Quantile" else None),
                        st.sampled_from(ROLLING_OPS), sub, win)
    pair = st.builds(PairRolling, st.sampled_from(PAIR_OPS), sub, sub, win)
    binop = st.builds(BinOp, st.sampled_from(["+", "-", "*", "/", ">", "<", "&"]), sub, sub)
    unary = st.builds(lambda f, x: Func(f, (x,)), st.sampled_from([f for f, n in FUNCS.items() if n == 1]), sub)
    cs = st.builds(lambda op, x: CrossSection(op, x, ("industry", "cap") if op == "Neutralize" else ()),
                   st.sampled_from(CS_OPS), sub)
    return st.one_of(leaf, rolling, pair, binop, unary, cs)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(exprs=st.lists(_trees(3), min_size=1, max_size=4), t_idx=st.integers(0, len(DATES) - 2),
       seed=st.integers(0, 1000), compat=st.booleans())
def test_random_formulas_never_look_ahead(exprs, t_idx, seed, compat):
    formulas = {f"f{i}": e for i, e in enumerate(exprs)}
    for e in exprs:
        assert parse(str(e)) == e
    _assert_prefix_unchanged(formulas, DATES[t_idx], seed, compat)


def test_library_formulas_never_look_ahead():
    for name in ("alpha158", "wq101"):
        fs = load(name)
        formulas = dict(fs.factors)
        for t_idx in (5, 17):
            _assert_prefix_unchanged(formulas, DATES[t_idx], t_idx, compat=(t_idx == 5))
