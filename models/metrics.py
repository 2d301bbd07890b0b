"""Signal metrics in qlib's definitions: per-date Pearson IC and Spearman RankIC, their means,
ICIR = mean / std (ddof 1, not annualised), and MSE of score vs target.

Dates with fewer than 2 valid pairs or a constant side are skipped (not counted as zero).
"""
from __future__ import annotations

import numpy as np
import polars as pl


def daily_ic(frame: pl.DataFrame, score: str = "score", label: str = "label") -> pl.DataFrame:
    """``[date, ic, rank_ic, n]`` per date from a long frame ``[date, score, label]``."""
    df = frame.select("date", pl.col(score).cast(pl.Float64).fill_nan(None).alias("s"),
                      pl.col(label).cast(pl.Float64).fill_nan(None).alias("y")).drop_nulls()
    out = df.group_by("date").agg(
        pl.corr("s", "y").alias("ic"),
        pl.corr("s", "y", method="spearman").alias("rank_ic"),
        pl.len().alias("n"),
    ).sort("date")
    return out.with_columns(pl.col("ic").fill_nan(None), pl.col("rank_ic").fill_nan(None))


def _ir(x: np.ndarray) -> float:
    x = x[~np.isnan(x)]
    if x.size < 2 or np.std(x, ddof=1) == 0:
        return float("nan")
    return float(np.mean(x) / np.std(x, ddof=1))


def summary(frame: pl.DataFrame, score: str = "score", label: str = "label",
            target: str | None = "target") -> dict[str, float]:
    """IC, RankIC, ICIR, RankICIR (label vs score) and MSE (target vs score) of a long frame."""
    d = daily_ic(frame, score, label)
    ic = d["ic"].drop_nulls().to_numpy()
    ric = d["rank_ic"].drop_nulls().to_numpy()
    out = {
        "IC": float(np.mean(ic)) if ic.size else float("nan"),
        "RankIC": float(np.mean(ric)) if ric.size else float("nan"),
        "ICIR": _ir(ic),
        "RankICIR": _ir(ric),
        "n_dates": int(d.height),
        "n": int(d["n"].sum()) if d.height else 0,
    }
    if target is not None and target in frame.columns:
        e = frame.select((pl.col(score) - pl.col(target)).cast(pl.Float64).fill_nan(None) ** 2).to_series().drop_nulls()
        out["MSE"] = float(e.mean()) if e.len() else float("nan")
    return out
