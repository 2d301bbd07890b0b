"""Alpha from stacked sources: several runs (e.g. label horizons 1, 5 and 20 days) blended into
the one score the optimiser reads, with each source's contribution reported.

``blend(runs, target)``:
  1. each run's validation and out-of-sample scores are z-scored per date (clipped at +-3);
  2. per fold, a ridge regression (no intercept, penalty ``ridge`` on the z-scores' second
     moment matrix) of the ``target`` run's validation label, z-scored per date, on the
     sources' validation z-scores: the blend weights. Only the
     validation period is used, so the test period never informs them;
  3. the fold's test score is ``sum_j w_j z_j`` (a source missing a stock counts 0);
  4. contributions on the test period, per date then averaged: with c the blend and y the
     target label (both per date), ``corr(c, y) = sum_j w_j cov(z_j, y) / (sd(c) sd(y))``, so
     ``contribution_j = w_j cov(z_j, y) / (sd(c) sd(y))`` adds up to the blend's IC exactly;
     each source's own IC is reported beside it.
Runs must share their folds (same split config); the scores frame is ``[date, symbol, score]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import numpy as np
import polars as pl

from flyer.core.errors import FlyerError

from flyer.core.values import as_float

if TYPE_CHECKING:
    from flyer.models.runs import Run


@dataclass(frozen=True)
class AlphaBlend:
    """``scores`` [date, symbol, score]; ``weights`` [fold, source, weight];
    ``contributions`` [year, source, weight, ic, contribution] (year ``all`` = whole test)."""

    scores: pl.DataFrame
    weights: pl.DataFrame
    contributions: pl.DataFrame
    sources: tuple[str, ...]


def _z(col: str) -> pl.Expr:
    g = ["fold", "date"]
    return ((pl.col(col) - pl.col(col).mean().over(g)) / pl.col(col).std().over(g)).clip(-3, 3)


def _frame(runs: Sequence[Run], names: list[str], part: str) -> pl.DataFrame:
    """[fold, date, symbol, <names>...] z-scores of each run's ``part`` scores (outer join)."""
    out = None
    for run, name in zip(runs, names):
        df = run.valid_predictions() if part == "valid" else run.oos()
        df = df.select("fold", "date", "symbol", pl.col("score").cast(pl.Float64)).with_columns(_z("score").alias(name))
        df = df.drop("score")
        out = df if out is None else out.join(df, on=["fold", "date", "symbol"], how="full", coalesce=True)
    assert out is not None, "a blend needs at least one run"
    return out.with_columns(pl.col(names).fill_null(0.0).fill_nan(0.0))


def _labels(run: Run, part: str) -> pl.DataFrame:
    df = run.valid_predictions() if part == "valid" else run.oos()
    return df.select("fold", "date", "symbol", pl.col("label").cast(pl.Float64)).drop_nulls().with_columns(
        _z("label").alias("y")).drop("label")


def source_names(runs: Sequence[Run]) -> list[str]:
    """``h<horizon>_<id>`` per run (the id keeps two runs of one horizon apart)."""
    return [f"h{r.config.data.label_horizon}_{r.id[:6]}" for r in runs]


def blend(runs: Sequence[Run], target: int = 0, ridge: float = 0.01) -> AlphaBlend:
    """Steps 1-4 of the module docstring; ``target`` indexes the run whose label is fitted."""
    if not runs:
        raise FlyerError("blend needs at least one run")
    if len({r.n_folds() for r in runs}) != 1:
        raise FlyerError("blending needs runs with the same folds (the same split config)")
    names = source_names(runs)
    val = _frame(runs, names, "valid").join(_labels(runs[target], "valid"), on=["fold", "date", "symbol"])
    test = _frame(runs, names, "test")
    parts, wrows = [], []
    for (fold,), t in test.group_by("fold", maintain_order=True):
        v = val.filter(pl.col("fold") == fold).drop_nulls("y").filter(pl.col("y").is_not_nan())
        if v.height == 0:
            raise FlyerError(f"blend: fold {fold} has no validation rows with the target label")
        x, y = v.select(names).to_numpy(), v["y"].to_numpy()
        coef = np.linalg.solve(x.T @ x / len(y) + ridge * np.eye(len(names)), x.T @ y / len(y))
        wrows += [{"fold": int(fold), "source": n, "weight": float(c)} for n, c in zip(names, coef)]
        parts.append(t.with_columns(pl.Series("score", t.select(names).to_numpy() @ coef)))
    scored = pl.concat(parts)
    weights = pl.DataFrame(wrows)
    contrib = contributions(scored, _labels(runs[target], "test"), weights, names)
    return AlphaBlend(scored.select("date", "symbol", "score").sort("date", "symbol"), weights, contrib, tuple(names))


def contributions(scored: pl.DataFrame, labels: pl.DataFrame, weights: pl.DataFrame, names: list[str]
                  ) -> pl.DataFrame:
    """[year, source, weight, ic, contribution] on the test rows (see module docstring, step 4);
    the ``blend`` row's ic equals the sum of the sources' contributions."""
    df = scored.join(labels, on=["fold", "date", "symbol"])
    wide = weights.pivot(on="source", index="fold", values="weight").rename({n: f"w_{n}" for n in names})
    df = df.join(wide, on="fold")
    g = ["date"]
    sd = lambda c: pl.col(c).std(ddof=0).over(g)  # noqa: E731
    cov = lambda c: ((pl.col(c) - pl.col(c).mean().over(g)) * (pl.col("y") - pl.col("y").mean().over(g))).mean().over(g)  # noqa: E731
    per = df.with_columns(
        *(cov(n).alias(f"cov_{n}") for n in names), sd("score").alias("sd_c"), sd("y").alias("sd_y"),
        *(sd(n).alias(f"sd_{n}") for n in names)).group_by("date").agg(
        *(pl.col(f"w_{n}").first() for n in names), *(pl.col(f"cov_{n}").first() for n in names),
        *(pl.col(f"sd_{n}").first() for n in names), pl.col("sd_c").first(), pl.col("sd_y").first())
    per = per.filter((pl.col("sd_c") > 0) & (pl.col("sd_y") > 0)).with_columns(
        *((pl.col(f"w_{n}") * pl.col(f"cov_{n}") / pl.col("sd_c") / pl.col("sd_y")).alias(f"c_{n}") for n in names),
        *((pl.col(f"cov_{n}") / pl.col(f"sd_{n}") / pl.col("sd_y")).alias(f"ic_{n}") for n in names),
        pl.col("date").dt.year().cast(pl.Utf8).alias("year"))
    rows = []
    for year, sub in [*((y, per.filter(pl.col("year") == y)) for y in sorted(per["year"].unique().to_list())),
                      ("all", per)]:
        total = 0.0
        for n in names:
            c = as_float(sub[f"c_{n}"].mean())
            total += c
            rows.append({"year": year, "source": n, "weight": as_float(sub[f"w_{n}"].mean()),
                         "ic": as_float(sub[f"ic_{n}"].fill_nan(None).mean()), "contribution": c})
        rows.append({"year": year, "source": "blend", "weight": float("nan"), "ic": total, "contribution": total})
    return pl.DataFrame(rows)
