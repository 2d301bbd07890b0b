"""Combining runs: a per-date rank average of several runs, and stacking of runs with
different label horizons (e.g. 1-, 5- and 20-day models) fitted on their validation scores.

Both return ``[date, symbol, score]`` and can be saved as a combined run folder
(``save_combined``) whose ``predictions.parquet`` the backtest reads like any run's.
``ensemble(runs, combine)`` averages ranks per fold with equal weights (``rank``) or weights
fitted on validation only (``ic``: each member's validation RankIC in that fold, floored at
0); ``train_ensemble`` / ``train_stack`` train (or reuse) the members and save the combination
(``flyer train --model ensemble --members lgbm,linear,mlp``, ``--model stack --horizons 1,5,20``).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import polars as pl

from flyer.core.config import content_key
from flyer.core.errors import FlyerError
from flyer.models import metrics
from flyer.models.runs import Home, Run, runs_dir

if TYPE_CHECKING:
    from flyer.data.store import MarketStore
    from flyer.models.config import TrainConfig
    from flyer.models.parallel import Runner

COMBINES = ("rank", "ic")


def _pct_rank(col: str = "score") -> pl.Expr:
    """Per date: rank (1 = lowest, ties get their average rank) / number of non-null values,
    so in (0, 1], the highest score 1.0; null stays null."""
    return (pl.col(col).rank("average").over("date") / pl.col(col).count().over("date")).cast(pl.Float64)


def rank_average(frames: Sequence[pl.DataFrame], weights: Sequence[float] | None = None) -> pl.DataFrame:
    """The rank ensemble of score frames ``[date, symbol, score]`` -> ``[date, symbol, score]``
    sorted by (date, symbol), score Float64 in (0, 1].

    Per date and frame, a score becomes ``rank / n``: its rank among that frame's non-null
    scores of the date (1 = lowest; ties get the average of their ranks) divided by the number
    ``n`` of those non-null scores. A stock's ensemble score is the weighted mean (``weights``,
    default equal) of the ranks it has; a stock missing (or null) in a frame averages over the
    others. This is the one rank average: the nightly ``score`` stage uses it too."""
    if not frames:
        raise FlyerError("rank_average needs at least one score frame")
    w = list(weights) if weights is not None else [1.0] * len(frames)
    parts = [f.select("date", "symbol", _pct_rank().alias("r"), pl.lit(float(wi)).alias("w"))
             .filter(pl.col("r").is_not_null()) for f, wi in zip(frames, w)]
    out = pl.concat(parts).group_by("date", "symbol").agg(((pl.col("r") * pl.col("w")).sum() / pl.col("w").sum())
                                                          .alias("score"))
    return out.sort("date", "symbol")


def _ranked(df: pl.DataFrame, i: int) -> pl.DataFrame:
    return df.select("fold", "date", "symbol", (_pct_rank() - 0.5).alias(f"s{i}"))


def stack(runs: Sequence[Run], target: int = 0, alpha: float = 1.0) -> tuple[pl.DataFrame, list[list[float]]]:
    """Stack ``runs`` (same folds; e.g. horizons 1, 5, 20): per fold, a ridge of the target run's
    per-date ranked label on the runs' per-date ranked validation scores, applied to their test
    scores. Returns the stacked ``[date, symbol, score]`` and the weights per fold."""
    folds = {r.n_folds() for r in runs}
    if len(folds) != 1:
        raise FlyerError("stacking needs runs with the same number of folds (same split config)")
    val = _ranked(runs[0].valid_predictions(), 0)
    oos = _ranked(runs[0].oos(), 0)
    for i, r in enumerate(runs[1:], 1):
        val = val.join(_ranked(r.valid_predictions(), i), on=["fold", "date", "symbol"], how="inner")
        oos = oos.join(_ranked(r.oos(), i), on=["fold", "date", "symbol"], how="inner")
    lab = runs[target].valid_predictions().select("fold", "date", "symbol", "label").drop_nulls()
    val = val.join(lab, on=["fold", "date", "symbol"]).with_columns((_pct_rank("label") - 0.5).alias("y"))
    cols = [f"s{i}" for i in range(len(runs))]
    out, weights = [], []
    for k in sorted(oos["fold"].unique().to_list()):
        v = val.filter(pl.col("fold") == k).drop_nulls(cols + ["y"])
        if v.height == 0:
            raise FlyerError(f"stacking: no common validation rows in fold {k}")
        x, y = v.select(cols).to_numpy(), v["y"].to_numpy()
        coef = np.linalg.solve(x.T @ x + alpha * np.eye(len(cols)), x.T @ y)
        weights.append(coef.tolist())
        t = oos.filter(pl.col("fold") == k)
        out.append(t.select("date", "symbol", pl.Series("score", t.select(cols).fill_null(0.0).to_numpy() @ coef)))
    return pl.concat(out).sort("date", "symbol"), weights


def _same_folds(runs: Sequence[Run]) -> int:
    splits = {json.dumps(dataclasses.asdict(r.config.split), default=str, sort_keys=True) for r in runs}
    if len(splits) != 1:
        raise FlyerError("combined runs need the same split (train/valid/test and walk-forward settings)")
    return runs[0].n_folds()


def member_weights(runs: Sequence[Run], fold: int, combine: str) -> list[float]:
    """Weights of ``runs`` in ``fold``: equal (``rank``), or (``ic``) each run's validation
    RankIC in that fold floored at 0 (all <= 0: equal). Validation only: no test data."""
    if combine not in COMBINES:
        raise FlyerError(f"unknown combine {combine!r}; use {' or '.join(COMBINES)}")
    if combine == "rank":
        return [1.0] * len(runs)
    ics = [metrics.summary(r.valid_predictions().filter(pl.col("fold") == fold), target=None)["RankIC"] for r in runs]
    w = [max(v, 0.0) if v == v else 0.0 for v in ics]
    return w if sum(w) > 0 else [1.0] * len(runs)


def ensemble(runs: Sequence[Run], combine: str = "rank") -> tuple[pl.DataFrame, list[list[float]]]:
    """Per fold, ``rank_average`` of the runs' test scores with ``member_weights``; returns
    ``[date, symbol, score]`` and the weights per fold."""
    n = _same_folds(runs)
    oos = [r.oos() for r in runs]
    out, weights = [], []
    for k in range(n):
        w = member_weights(runs, k, combine)
        weights.append(w)
        out.append(rank_average([o.filter(pl.col("fold") == k).select("date", "symbol", "score") for o in oos], w))
    return pl.concat(out).sort("date", "symbol"), weights


def train_ensemble(store: MarketStore, cfgs: Sequence[TrainConfig], home: Home = None, combine: str = "rank",
                   threads: int = 0, log: Callable[[str], None] | None = None, force: bool = False,
                   runner: Runner | None = None) -> tuple[Path, list[Run]]:
    """Train (or reuse) one run per config and save their ``ensemble``; returns (folder, runs).
    The members share their panel; with a ``runner`` their folds are parallel tasks
    (``flyer.models.pipeline.train_many``)."""
    from flyer.models.pipeline import train_many

    runs = train_many(store, cfgs, home, threads, log, force=force, runner=runner)
    scores, weights = ensemble(runs, combine)
    path = save_combined(home, "ensemble", runs, scores, extra={"combine": combine},
                         info={"weights": weights, "members": _members(runs)})
    return path, runs


def train_stack(store: MarketStore, cfgs: Sequence[TrainConfig], home: Home = None, alpha: float = 1.0,
                threads: int = 0, log: Callable[[str], None] | None = None, force: bool = False,
                runner: Runner | None = None) -> tuple[Path, list[Run]]:
    """Train (or reuse) one run per config (e.g. horizons 1, 5, 20) and save their ``stack`` on
    the first run's label; returns (folder, runs). With a ``runner`` the horizons' folds are
    parallel tasks (``flyer.models.pipeline.train_many``)."""
    from flyer.models.pipeline import train_many

    runs = train_many(store, cfgs, home, threads, log, force=force, runner=runner)
    _same_folds(runs)
    scores, weights = stack(runs, target=0, alpha=alpha)
    path = save_combined(home, "stack", runs, scores, extra={"target": 0, "alpha": alpha},
                         info={"weights": weights, "members": _members(runs)})
    return path, runs


def _members(runs: Sequence[Run]) -> list[dict[str, Any]]:
    return [{"id": r.id, "model": r.config.model.kind, "horizon": r.config.data.label_horizon,
             "RankIC": r.metrics.get("test", {}).get("RankIC"), "warnings": r.metrics.get("warnings", [])}
            for r in runs]


def save_combined(home: Home, kind: str, runs: Sequence[Run], scores: pl.DataFrame,
                  extra: dict[str, Any] | None = None, info: dict[str, Any] | None = None) -> Path:
    """Write a combined run (``ensemble`` or ``stack``) folder: config, predictions, metrics
    (against the first run's labels, plus ``info``: weights per fold, members). Returns the
    folder; its name is the content hash of the kind, the run ids and ``extra``."""
    cfg = json.loads(json.dumps({"kind": kind, "runs": [r.id for r in runs], **(extra or {})}))
    rid = content_key(cfg)
    path = runs_dir(home) / rid
    if path.exists():
        try:
            have = json.loads((path / "config.json").read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            have = None
        if have != cfg:
            raise FlyerError(f"run folder {path} holds a different config than combined run {rid}; "
                             "not overwriting it: move the folder away")
    tmp = path.with_name(f".{rid}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    labels = runs[0].oos().select("date", "symbol", "label")
    lags = runs[0].config.data.label_horizon
    met = {"test": metrics.summary(scores.join(labels, on=["date", "symbol"], how="left"), target=None, lags=lags),
           **(info or {})}
    met["warnings"] = [f"member {m['id']} ({m['model']}): {w}" for m in met.get("members", []) for w in m["warnings"]]
    (tmp / "config.json").write_text(json.dumps(cfg, indent=1, sort_keys=True))
    (tmp / "metrics.json").write_text(json.dumps(met, indent=1, sort_keys=True))
    (tmp / "meta.json").write_text(json.dumps({
        "id": rid, "model": kind, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}))
    scores.select("date", "symbol", pl.col("score").cast(pl.Float64)).write_parquet(tmp / "predictions.parquet")
    old = path.with_name(f".{rid}.old{os.getpid()}")
    if path.exists():
        path.rename(old)
    tmp.rename(path)
    shutil.rmtree(old, ignore_errors=True)
    return path
