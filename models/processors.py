"""Feature and label processors, fitted on a training period and applied to any later one.

The fitted state is a plain JSON-ready dict (saved as ``processors.json`` in a run folder):
``{"mode", "features", "median", "scale", "clip", "fillna"}``.

* ``robust_pooled`` (qlib RobustZScoreNorm): per feature, median and MAD pooled over every row
  of the fit period; ``z = (x - median) / (MAD * 1.4826 + 1e-12)``, clipped to ``[-clip, clip]``.
* ``robust_date``: the same with the median and MAD of each date's cross-section (nothing
  fitted; with an ``_ok`` column only those rows, the samples, feed the stats).
* ``zscore_date``: per-date mean / std (ddof 1), clipped.
* ``none``: features unchanged. Then null/NaN features are filled with ``fillna`` unless None.
Labels: ``csrank`` (qlib CSRankNorm: (pct rank - 0.5) * 3.46 per date), ``cszscore`` (ddof 1),
``none``; rows without a label are dropped from training sets (``drop_missing_label``).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

MAD_SCALE = 1.4826
EPS = 1e-12


def fit_features(df: pl.DataFrame | np.ndarray, features: list[str], mode: str, clip: float = 3.0,
                 fillna: float | None = 0.0) -> dict[str, Any]:
    """Fit the feature processor on ``df`` (the training rows only: a frame with the
    ``features`` columns, or their ``(n, n_feat)`` matrix)."""
    state: dict[str, Any] = {"mode": mode, "features": list(features), "clip": clip, "fillna": fillna}
    if mode == "robust_pooled":
        x = df if isinstance(df, np.ndarray) else df.select(features).to_numpy()
        med, mad = np.empty(len(features)), np.empty(len(features))
        with np.errstate(all="ignore"):
            for j in range(len(features)):  # one float64 column at a time: memory of one column
                col = x[:, j].astype(np.float64)
                med[j] = np.nanmedian(col) if col.size else np.nan
                mad[j] = np.nanmedian(np.abs(col - med[j])) if col.size else np.nan
        state["median"] = np.nan_to_num(med).tolist()
        state["scale"] = np.nan_to_num(mad * MAD_SCALE + EPS, nan=1.0).tolist()
    return state


def _clipped(e: pl.Expr, clip: float) -> pl.Expr:
    return e.clip(-clip, clip) if clip and clip > 0 else e


def apply_features(df: pl.DataFrame, state: dict[str, Any]) -> pl.DataFrame:
    """Apply a fitted feature processor; returns the frame with features as Float32."""
    feats, mode, clip = state["features"], state["mode"], state["clip"]
    nan_to_null = [pl.col(c).fill_nan(None) for c in feats]
    df = df.with_columns(nan_to_null)
    if mode == "robust_pooled":
        exprs = [_clipped((pl.col(c) - m) / s, clip).alias(c)
                 for c, m, s in zip(feats, state["median"], state["scale"])]
    elif mode in ("robust_date", "zscore_date"):
        exprs = [_per_date(c, mode, clip, "_ok" in df.columns) for c in feats]
    else:
        exprs = [pl.col(c) for c in feats]
    df = df.with_columns(e.cast(pl.Float32) for e in exprs)
    if state.get("fillna") is not None:
        df = df.with_columns(pl.col(c).fill_null(state["fillna"]) for c in feats)
    return df


def _per_date(c: str, mode: str, clip: float, masked: bool) -> pl.Expr:
    """Per-date standardisation; the stats come from the rows with ``_ok`` (samples) when present."""
    src = pl.col(c).filter(pl.col("_ok")) if masked else pl.col(c)
    if mode == "robust_date":
        med = src.median().over("date")
        dev = (pl.col(c) - med).abs()
        mad = (dev.filter(pl.col("_ok")) if masked else dev).median().over("date")
        return _clipped((pl.col(c) - med) / (mad * MAD_SCALE + EPS), clip).alias(c)
    mean, std = src.mean().over("date"), src.std().over("date")
    return _clipped((pl.col(c) - mean) / (std + EPS), clip).alias(c)


def label_expr(mode: str, col: str = "label") -> pl.Expr:
    """Per-date label normalisation as an expression (output column ``target``)."""
    x = pl.col(col)
    if mode == "csrank":
        pct = x.rank("average").over("date") / x.count().over("date")
        # qlib: groupby(date).rank(pct=True) - 0.5, * 3.46 (std of a uniform -> 1)
        e = (pct - 0.5) * 3.46
    elif mode == "cszscore":
        e = (x - x.mean().over("date")) / (x.std().over("date") + EPS)
    else:
        e = x
    return e.cast(pl.Float32).alias("target")


def drop_missing_label(df: pl.DataFrame, col: str = "label") -> pl.DataFrame:
    """DropnaLabel: rows whose label is null or NaN removed."""
    return df.filter(pl.col(col).is_not_null() & pl.col(col).is_not_nan())
