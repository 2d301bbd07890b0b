"""Every time-series operator against the slow pandas/numpy reference, both modes, with NaNs."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from flyer.factors import compute
from flyer.factors.expr import ROLLING_OPS

from factor_reference import full, partial, partial_pair, series_by_symbol

WINDOWS = (1, 2, 3, 5, 8)
OPS = tuple(op for op in ROLLING_OPS)


def _formula(op: str, w: int) -> str:
    if op == "Quantile":
        return f"Quantile($close, {w}, 0.8)"
    return f"{op}($close, {w})"


def _lookback(op: str, w: int) -> int:
    return w if op in ("Ref", "Delta") else w - 1


@pytest.fixture(scope="module", params=[False, True], ids=["full", "qlib"])
def computed(request, bars):
    compat = request.param
    formulas = {f"{op}_{w}": _formula(op, w) for op in OPS for w in WINDOWS}
    formulas |= {f"{op}_{w}": f"{op}($close, $volume, {w})" for op in ("Corr", "Cov") for w in WINDOWS}
    return compat, compute(bars, formulas, qlib_compat=compat)


def _actual(out: pl.DataFrame, name: str) -> dict[str, np.ndarray]:
    return {s: g[name].cast(pl.Float64).fill_null(np.nan).to_numpy()
            for (s,), g in out.group_by("symbol", maintain_order=True)}


def _check(actual: np.ndarray, expected: np.ndarray, compat: bool, label: str) -> None:
    rtol, atol = (2e-5, 1e-6) if compat else (1e-7, 1e-9)
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol, equal_nan=True, err_msg=label)


@pytest.mark.parametrize("op", OPS)
def test_rolling_operator_matches_reference(computed, bars, op):
    compat, out = computed
    close = series_by_symbol(bars, "close", compat)
    for w in WINDOWS:
        act = _actual(out, f"{op}_{w}")
        for sym, s in close.items():
            exp = partial(op, s, w, compat)
            if not compat:
                exp = full(exp, _lookback(op, w))
            _check(act[sym], exp.to_numpy(dtype=float), compat, f"{op}({w}) {sym}")


@pytest.mark.parametrize("op", ["Corr", "Cov"])
def test_pair_operator_matches_reference(computed, bars, op):
    compat, out = computed
    close = series_by_symbol(bars, "close", compat)
    volume = series_by_symbol(bars, "volume", compat)
    for w in WINDOWS:
        act = _actual(out, f"{op}_{w}")
        for sym in close:
            exp = partial_pair(op, close[sym], volume[sym], w)
            if not compat:
                exp = full(exp, w - 1)
            _check(act[sym], exp.to_numpy(dtype=float), compat, f"{op}({w}) {sym}")
