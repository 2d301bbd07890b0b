"""Signal metrics in qlib's definitions: per-date Pearson IC and Spearman RankIC, their means,
ICIR = mean / std (ddof 1, not annualised), and MSE of score vs target; plus the Newey-West
t-stat of the daily RankIC (``lags`` = the label horizon: overlapping labels make the series
autocorrelated, ``flyer.core.stats.newey_west_t``) and ``distinct``: the mean over dates of the share
of distinct scores among the date's scores (1.0 = no ties; a one-tree LightGBM gives ~0.05).

Dates with fewer than 2 valid pairs or a constant side are skipped (not counted as zero).
"""
from __future__ import annotations

import numpy as np
import polars as pl

from flyer.core.values import as_float

from flyer.core.stats import newey_west_t


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


def distinct_share(frame: pl.DataFrame, score: str = "score") -> float:
    """Mean over dates of (distinct non-null scores / non-null scores) of a ``[date, score]`` frame."""
    s = pl.col(score).cast(pl.Float64).fill_nan(None)
    per = (frame.group_by("date").agg((s.drop_nulls().n_unique() / s.count()).alias("d")).drop_nulls()
           .sort("date"))  # a fixed summation order: the same scores give the same figure to the last bit
    return as_float(per["d"].mean()) if per.height else float("nan")


def summary(frame: pl.DataFrame, score: str = "score", label: str = "label",
            target: str | None = "target", lags: int = 1) -> dict[str, float]:
    """IC, RankIC, ICIR, RankICIR, RankIC_t (Newey-West, ``lags``) (label vs score), distinct
    (share of distinct scores per date) and MSE (target vs score) of a long frame."""
    d = daily_ic(frame, score, label)
    ic = d["ic"].drop_nulls().to_numpy()
    ric = d["rank_ic"].drop_nulls().to_numpy()
    out = {
        "IC": float(np.mean(ic)) if ic.size else float("nan"),
        "RankIC": float(np.mean(ric)) if ric.size else float("nan"),
        "ICIR": _ir(ic),
        "RankICIR": _ir(ric),
        "RankIC_t": newey_west_t(ric, lags) if ric.size > 1 else float("nan"),
        "distinct": distinct_share(frame, score),
        "n_dates": int(d.height),
        "n": int(d["n"].sum()) if d.height else 0,
    }
    if target is not None and target in frame.columns:
        e = frame.select((pl.col(score) - pl.col(target)).cast(pl.Float64).fill_nan(None) ** 2).to_series().drop_nulls()
        out["MSE"] = as_float(e.mean()) if e.len() else float("nan")
    return out


#: a fold is collapsed when its model kept fewer trees than this (LightGBM) ...
MIN_TREES = 20
#: ... or its test scores have fewer distinct values per date than this share
MIN_DISTINCT = 0.5


def collapse_warnings(folds: list[dict], min_trees: int = MIN_TREES, min_distinct: float = MIN_DISTINCT) -> list[str]:
    """One line per fold whose model collapsed: fewer than ``min_trees`` trees kept (its
    ``info.best_iteration``), or test scores with fewer than ``min_distinct`` distinct values
    per date (a near-constant model: top-k then picks from ties). ``folds``: ``metrics.json``'s
    ``folds`` entries (``{"fold", "test": summary, "info": learner info}``)."""
    out = []
    for f in folds:
        info, test = f.get("info", {}), f.get("test", {})
        trees = info.get("best_iteration")
        why = []
        if trees is not None and trees < min_trees:
            why.append(f"{trees} tree(s) kept (< {min_trees})")
        distinct = test.get("distinct")
        if distinct is not None and distinct == distinct and distinct < min_distinct:
            why.append(f"{distinct:.0%} distinct test scores per date (< {min_distinct:.0%})")
        if why:
            out.append(f"fold {f.get('fold')}: model collapsed: " + ", ".join(why))
    return out
