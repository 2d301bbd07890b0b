"""Run folders: ``$FLYER_HOME/runs/<id>/``, where ``id`` is the config's content hash.

Files: ``config.json`` (full config), ``features.json`` (feature list), ``processors.json``
(fitted state per fold), ``folds.json`` (effective date ranges), ``model_<k>.<ext>`` (one per
fold: LightGBM text, ridge JSON or torch state_dict), ``metrics.json`` (IC, RankIC, ICIR,
RankICIR, MSE per split), ``predictions.parquet`` (``date, symbol, score``: the stitched
out-of-sample scores that ``flyer backtest --run ID`` reads), ``oos.parquet`` (the same plus
fold, label and target), ``valid_predictions.parquet`` (fold, date, symbol, score, label) and
``meta.json`` (time, seconds, device).
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from flyer.data.store import flyer_home
from flyer.errors import FlyerError
from flyer.models.config import TrainConfig, from_dict, to_dict


def runs_dir(home: str | os.PathLike | None = None) -> Path:
    path = flyer_home(home) / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _json(path: Path, obj: Any) -> None:
    path.write_text(json.dumps(obj, indent=1, sort_keys=True, default=_default))


def _default(x: Any) -> Any:
    if isinstance(x, (dt.date, dt.datetime)):
        return x.isoformat()
    if isinstance(x, (np.floating, np.integer)):
        return x.item()
    raise TypeError(type(x))


def save_run(home, cfg: TrainConfig, results: list, metrics: dict[str, Any], meta: dict[str, Any]) -> "Run":
    """Write every artefact of a trained config into ``runs/<id>/`` (replacing a previous one)."""
    rid = cfg.id
    final = runs_dir(home) / rid
    tmp = final.with_name(f".{rid}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _json(tmp / "config.json", to_dict(cfg))
    _json(tmp / "features.json", list(results[0].state["features"]["features"]))
    _json(tmp / "processors.json", [r.state for r in results])
    _json(tmp / "folds.json", [{"fold": r.fold.index, "train": r.fold.train, "valid": r.fold.valid,
                                "test": r.fold.test} for r in results])
    for r in results:
        r.learner.save(tmp / f"model_{r.fold.index}{r.learner.suffix}")
    _json(tmp / "metrics.json", metrics)
    oos = pl.concat([r.scores["test"].with_columns(pl.lit(r.fold.index, pl.Int32).alias("fold")) for r in results])
    oos = oos.sort("date", "symbol")
    oos.write_parquet(tmp / "oos.parquet")
    oos.select("date", "symbol", pl.col("score").cast(pl.Float64)).write_parquet(tmp / "predictions.parquet")
    val = pl.concat([r.scores["valid"].with_columns(pl.lit(r.fold.index, pl.Int32).alias("fold")) for r in results])
    val.select("fold", "date", "symbol", "score", "label").write_parquet(tmp / "valid_predictions.parquet")
    info = [r.learner.info for r in results]
    _json(tmp / "meta.json", {"id": rid, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                              "model": cfg.model.kind, "learner": info, **meta})
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    return load_run(home, rid)


@dataclass
class Run:
    """A saved run. ``predictions()`` -> out-of-sample ``[date, symbol, score]``;
    ``predict(store, date)`` scores one day with the latest fold's model and processors."""

    id: str
    path: Path
    config: TrainConfig
    metrics: dict[str, Any]
    features: list[str]
    meta: dict[str, Any] = field(default_factory=dict)

    def predictions(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "predictions.parquet")

    def oos(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "oos.parquet")

    def valid_predictions(self) -> pl.DataFrame:
        return pl.read_parquet(self.path / "valid_predictions.parquet")

    def processors(self) -> list[dict[str, Any]]:
        return json.loads((self.path / "processors.json").read_text())

    def n_folds(self) -> int:
        return len(json.loads((self.path / "folds.json").read_text()))

    def learner(self, fold: int | None = None, threads: int = 0):
        """The fitted learner of ``fold`` (default: the last, most recent)."""
        from flyer.models.learners import make_learner

        k = self.n_folds() - 1 if fold is None else fold
        lr = make_learner(self.config, threads)
        files = list(self.path.glob(f"model_{k}.*"))
        if not files:
            raise FlyerError(f"run {self.id} has no model file for fold {k}")
        lr.load(files[0], len(self.features))
        return lr

    def predict(self, store, date: dt.date | str, threads: int = 0) -> pl.DataFrame:
        """``[date, symbol, score]`` for the universe on ``date`` (trading day), from the store."""
        from flyer.models.predict import predict_day

        day = dt.date.fromisoformat(date) if isinstance(date, str) else date
        return predict_day(self, store, day, threads)


def load_run(home, run_id: str) -> Run:
    """Open ``runs/<run_id>`` (a unique prefix of the id is accepted)."""
    base = runs_dir(home)
    path = base / run_id
    if not path.is_dir():
        hits = [p for p in base.iterdir() if p.is_dir() and p.name.startswith(run_id) and not p.name.startswith(".")]
        if len(hits) != 1:
            raise FlyerError(f"no run {run_id!r} under {base}" if not hits else f"run id {run_id!r} is ambiguous")
        path = hits[0]
    try:
        cfg = json.loads((path / "config.json").read_text())
    except FileNotFoundError:
        raise FlyerError(f"run {path.name} has no config.json") from None
    if "model" not in cfg or "data" not in cfg:  # combined runs (ensemble / stack)
        raise FlyerError(f"run {path.name} is a combined run; read its predictions.parquet directly")
    read = lambda n, d: json.loads((path / n).read_text()) if (path / n).exists() else d  # noqa: E731
    return Run(path.name, path, from_dict(cfg), read("metrics.json", {}), read("features.json", []),
               read("meta.json", {}))


def list_runs(home=None) -> pl.DataFrame:
    """One row per run folder: id, created, model, factors, universe, horizon, test IC/RankIC/ICIR."""
    rows = []
    for p in sorted(runs_dir(home).iterdir()):
        if not p.is_dir() or p.name.startswith(".") or not (p / "config.json").exists():
            continue
        cfg = json.loads((p / "config.json").read_text())
        meta = json.loads((p / "meta.json").read_text()) if (p / "meta.json").exists() else {}
        met = json.loads((p / "metrics.json").read_text()) if (p / "metrics.json").exists() else {}
        test = met.get("test", {})
        data, split = cfg.get("data", {}), cfg.get("split", {})
        rows.append({
            "id": p.name, "created": meta.get("created", ""),
            "model": cfg["model"]["kind"] if isinstance(cfg.get("model"), dict) else cfg.get("kind", ""),
            "factors": data.get("factors", ""), "universe": data.get("universe", ""),
            "horizon": data.get("label_horizon"),
            "test": ":".join(split.get("test") or []),
            "walk_forward": bool(split.get("walk_forward", False)),
            "IC": test.get("IC"), "RankIC": test.get("RankIC"), "ICIR": test.get("ICIR"),
        })
    schema = {"id": pl.Utf8, "created": pl.Utf8, "model": pl.Utf8, "factors": pl.Utf8, "universe": pl.Utf8,
              "horizon": pl.Int64, "test": pl.Utf8, "walk_forward": pl.Boolean, "IC": pl.Float64,
              "RankIC": pl.Float64, "ICIR": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort("created", descending=True)
