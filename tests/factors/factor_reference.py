"""Slow, obvious references for the factor operators: pandas/numpy per instrument.

``partial`` values follow qlib (pandas ``rolling(w, min_periods=1)``, NaNs skipped); the
engine's default mode is the same values nulled while ``age < lookback``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl

TRADED = ["open", "high", "low", "close", "vwap", "volume", "amount", "turnover"]
GUARD = 2e-5


def series_by_symbol(bars: pl.DataFrame, col: str, f32: bool) -> dict[str, pd.Series]:
    """Each symbol's field as a float64 pandas Series (suspended traded fields -> NaN)."""
    df = bars.sort("symbol", "date").to_pandas()
    x = df[col].astype(float)
    if col in TRADED:
        x = x.where(~df["is_suspended"].astype(bool))
    if f32:
        x = x.astype(np.float32).astype(np.float64)
    return {s: x[idx].reset_index(drop=True) for s, idx in df.groupby("symbol").groups.items()}


def _reg(x: np.ndarray, kind: str) -> float:
    pos = np.arange(len(x), dtype=float)
    ok = ~np.isnan(x)
    if ok.sum() < 2 or (kind == "Resi" and np.isnan(x[-1])):
        return np.nan
    slope, icpt = np.polyfit(pos[ok], x[ok], 1)
    if kind == "Slope":
        return slope
    if kind == "Resi":
        return x[-1] - (slope * pos[-1] + icpt)
    return np.corrcoef(pos[ok], x[ok])[0, 1] ** 2


def _wma(x: np.ndarray, quirk: bool) -> float:
    w = np.arange(len(x)) + 1.0
    if quirk:
        return np.nanmean(w / w.sum() * x)
    ok = ~np.isnan(x)
    return np.sum(w[ok] * x[ok]) / np.sum(w[ok])


def partial(op: str, s: pd.Series, w: int, compat: bool, q: float = 0.8) -> pd.Series:
    """qlib-style partial-window value of ``op`` over one instrument's series."""
    r = s.rolling(w, min_periods=1)
    simple = {"Mean": r.mean, "Sum": r.sum, "Std": r.std, "Var": r.var, "Skew": r.skew,
              "Kurt": r.kurt, "Max": r.max, "Min": r.min, "Med": r.median, "Count": r.count}
    if op in simple:
        out = simple[op]()
        return out.fillna(0.0) if op == "Count" else out
    if op == "Quantile":
        return r.quantile(q)
    if op == "Rank":
        return r.rank(pct=True)
    if op == "EMA":
        return s.ewm(span=w, min_periods=1).mean()
    if op == "Ref":
        return s.shift(w)
    if op == "Delta":
        return s - s.shift(w)
    if op == "Rsquare":
        out = r.apply(lambda x: _reg(x, op), raw=True)
        return out.mask(np.isclose(r.std(), 0, atol=GUARD))
    fns = {
        "IdxMax": (lambda x: np.argmax(x) + 1.0) if compat else (lambda x: np.nanargmax(x) + 1.0),
        "IdxMin": (lambda x: np.argmin(x) + 1.0) if compat else (lambda x: np.nanargmin(x) + 1.0),
        "Mad": lambda x: np.nanmean(np.abs(x - np.nanmean(x))),
        "WMA": lambda x: _wma(x, compat), "DecayLinear": lambda x: _wma(x, False),
        "Prod": np.nanprod, "Slope": lambda x: _reg(x, "Slope"), "Resi": lambda x: _reg(x, "Resi"),
    }
    return r.apply(fns[op], raw=True)


def partial_pair(op: str, a: pd.Series, b: pd.Series, w: int) -> pd.Series:
    """qlib's Corr/Cov: pandas rolling corr/cov, Corr guarded by each input's own rolling std."""
    if op == "Cov":
        return a.rolling(w, min_periods=1).cov(b)
    out = a.rolling(w, min_periods=1).corr(b)
    bad = np.isclose(a.rolling(w, min_periods=1).std(), 0, atol=GUARD) | \
        np.isclose(b.rolling(w, min_periods=1).std(), 0, atol=GUARD)
    return out.mask(bad)


def full(values: pd.Series, lookback: int) -> pd.Series:
    """Null (NaN) the warm-up rows: the engine's default full-window mode."""
    out = values.copy()
    out.iloc[:lookback] = np.nan
    return out


def node_by_node(bars: pl.DataFrame, formulas: dict, compat: bool) -> dict[str, np.ndarray]:
    """Each formula evaluated node by node with the engine's polars node semantics
    (``flyer.factors.engine.node_expr``, what the miner uses): every node materialised as a
    column of the prepared panel, windowed inputs broadcast, cross-section inputs masked during
    their warm-up, each factor masked (default mode) or rounded through float32 (qlib mode).
    The slow reference of the fused programs; returns float64 arrays (NaN = missing) in
    (symbol, date) order."""
    from flyer.factors.engine import AGE, node_expr, prepare_panel
    from flyer.factors.expr import CrossSection, fields_of
    from flyer.factors.parser import parse

    exprs = {k: parse(v) if isinstance(v, str) else v for k, v in formulas.items()}
    fields = set().union(*(fields_of(e) for e in exprs.values()))
    for e in exprs.values():
        for n in e.walk():
            if isinstance(n, CrossSection):
                fields |= set(n.by)
    industries = bars.select("symbol", "industry").unique("symbol") if "industry" in bars.columns else None
    panel, starts = prepare_panel(bars, fields, qlib_compat=compat, industries=industries)
    cols: dict[object, pl.Series] = {}

    def value(node) -> pl.Series:  # noqa: ANN001 - an Expr
        if node in cols:
            return cols[node]
        args, inputs = [], []
        for k, c in enumerate(node.children()):
            inputs.append(value(c).alias(f"_c{k}"))
            e = pl.col(f"_c{k}")
            if isinstance(node, CrossSection) and not compat and c.lookback:
                e = pl.when(pl.col(AGE) >= c.lookback).then(e)
            args.append(e)
        expr = node_expr(node, args, starts, compat)
        frame = panel.with_columns(inputs) if inputs else panel
        out = frame.select((expr.cast(pl.Float64) + pl.col(AGE).cast(pl.Float64) * 0.0).alias("v"))["v"]
        cols[node] = out
        return out

    result = {}
    for name, e in exprs.items():
        v = value(e)
        if compat:
            v = v.cast(pl.Float32).cast(pl.Float64)
        arr = v.fill_null(np.nan).to_numpy().astype(float, copy=True)
        if not compat and e.lookback:
            arr[panel[AGE].to_numpy() < e.lookback] = np.nan
        result[name] = arr
    return result
