"""Run folders: ``$FLYER_HOME/runs/<id>/``, where ``id`` names the config and the data by content.

``run_id(cfg, data_key)`` = ``content_key`` of the config's identity (``TrainConfig.identity``)
and the key of the data it was trained on (``flyer.data.identity.data_key`` up to its last split
date): the same config on other data (another market, a revised bar) is another run, and days a
nightly appends after the run's spans leave its id unchanged.
Files: ``config.json`` (full config), ``data.json`` (the data key and the date it runs to; with
``config.json`` it hashes to the folder name), ``factors.json``
(the feature set's name, content key and formulas: later days are scored from these, not from
the file the name points at), ``features.json`` (feature list), ``processors.json`` (fitted
state per fold), ``folds.json`` (effective date ranges), ``model_<k>.<ext>`` (one per fold:
LightGBM text, ridge JSON or torch state_dict), ``metrics.json`` (IC, RankIC, ICIR, RankICIR,
MSE per split), ``predictions.parquet`` (``date, symbol, score``: the stitched out-of-sample
scores that ``flyer backtest --run ID`` reads), ``oos.parquet`` (the same plus fold, label and
target), ``valid_predictions.parquet`` (fold, date, symbol, score, label) and ``meta.json``
(id, created, seconds, device).

A folder is only ever replaced by a run of the same config and data (``save_run`` checks its
``config.json`` and ``data.json``), and opened only when they still hash to its name.
Scoring a day lives in ``flyer.models.predict`` (it imports this module, never the reverse).
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

from flyer.core.config import content_key
from flyer.core.errors import FlyerError
from flyer.core.names import NotFoundError, resolve_id, safe_name
from flyer.data.store import flyer_home
from flyer.models.config import TrainConfig, from_dict, identity, to_dict
from flyer.models.features import FeatureSpec
from flyer.models.registry import make_learner

from flyer.models.learner import Learner
from flyer.models.splits import Fold

Home = str | os.PathLike | None


@dataclass
class FoldResult:
    """One fitted fold as ``save_run`` writes it: the learner, its fitted processor state and
    its scores per split (``train``/``valid``/``test`` -> ``[date, symbol, score, label, target]``)."""

    fold: Fold
    learner: Learner
    state: dict[str, Any]
    scores: dict[str, pl.DataFrame] = field(default_factory=dict)


def runs_dir(home: Home = None) -> Path:
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


def _first_difference(a: Any, b: Any, where: str = "") -> str | None:
    """Dotted path of the first field where two JSON values differ (None: equal)."""
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b)):
            diff = _first_difference(a.get(k), b.get(k), f"{where}.{k}" if where else k)
            if diff:
                return diff
        return None
    return None if a == b else f"{where}: {a!r} in the folder, {b!r} now"


def run_id(cfg: TrainConfig, data_key: str) -> str:
    """The run's id: ``content_key`` of the config's identity and the data key (module doc)."""
    return content_key({"config": cfg.identity(), "data": data_key})


def check_same_config(path: Path, cfg: TrainConfig, data_key: str) -> None:
    """Raise ``FlyerError`` unless the run folder ``path`` holds ``cfg`` trained on ``data_key``."""
    try:
        have = json.loads((path / "config.json").read_text())
        diff = _first_difference(identity(have), cfg.identity())
        data = json.loads((path / "data.json").read_text()).get("key")
        diff = diff or (None if data == data_key else f"data: {data!r} in the folder, {data_key!r} now")
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        diff = "config.json or data.json missing or unreadable"
    if diff:
        raise FlyerError(f"run folder {path} holds a different config or data than run {run_id(cfg, data_key)} "
                         f"({diff}); not overwriting it: move the folder away")


def find_run(home: Home, cfg: TrainConfig, data_key: str) -> Run | None:
    """The saved run of exactly ``cfg`` on ``data_key``, or None; a folder of that id holding
    something else is an error (``check_same_config``)."""
    rid = run_id(cfg, data_key)
    path = runs_dir(home) / rid
    if not path.exists():
        return None
    check_same_config(path, cfg, data_key)
    return load_run(home, rid)


def save_run(home: Home, cfg: TrainConfig, data_key: str, spec: FeatureSpec | None, results: list[FoldResult],
             metrics: dict[str, Any], meta: dict[str, Any]) -> Run:
    """Write every artefact of a config trained on ``data_key`` into ``runs/<id>/``. An
    existing folder is replaced only when it holds the same config and data (``--force``)."""
    rid = run_id(cfg, data_key)
    final = runs_dir(home) / rid
    if final.exists():
        check_same_config(final, cfg, data_key)
    tmp = final.with_name(f".{rid}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    _write_artefacts(tmp, cfg, spec, results, metrics)
    last = cfg.split.test[1] if cfg.split.test else cfg.split.valid[1]
    _json(tmp / "data.json", {"key": data_key, "through": last})
    _json(tmp / "meta.json", {"id": rid, "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                              "model": cfg.model.kind, "learner": [r.learner.info for r in results], **meta})
    old = final.with_name(f".{rid}.old{os.getpid()}")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return load_run(home, rid)


def _write_artefacts(tmp: Path, cfg: TrainConfig, spec: FeatureSpec | None, results: list[FoldResult],
                     metrics: dict[str, Any]) -> None:
    _json(tmp / "config.json", to_dict(cfg))
    if spec is not None:
        _json(tmp / "factors.json", spec.to_json())
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


@dataclass(frozen=True, eq=False)
class Run:
    """A saved run. ``predictions()`` -> out-of-sample ``[date, symbol, score]``; a day is
    scored by ``flyer.models.predict.predict_day(run, store, day)``. ``reused``: returned by
    ``train`` for an existing run of the same config (not retrained)."""

    id: str
    path: Path
    config: TrainConfig
    metrics: dict[str, Any]
    features: list[str]
    meta: dict[str, Any] = field(default_factory=dict)
    reused: bool = False
    data_key: str = ""

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

    def feature_spec(self) -> FeatureSpec | None:
        """The feature set the run was trained on (from ``factors.json``), None for a model
        that reads no factors (sequence models on OHLCV windows)."""
        path = self.path / "factors.json"
        if not path.exists():
            return None
        spec = FeatureSpec.from_json(json.loads(path.read_text()))
        if spec.key != self.config.data.factor_key:
            raise FlyerError(f"run {self.id}: factors.json (key {spec.key}) does not match its config "
                             f"(factor_key {self.config.data.factor_key})")
        return spec

    def learner(self, fold: int | None = None, threads: int = 0) -> Learner:
        """The fitted learner of ``fold`` (default: the last, most recent)."""
        k = self.n_folds() - 1 if fold is None else fold
        lr = make_learner(self.config, threads)
        files = list(self.path.glob(f"model_{k}.*"))
        if not files:
            raise FlyerError(f"run {self.id} has no model file for fold {k}")
        lr.load(files[0], len(self.features))
        return lr


def _resolve_path(base: Path, ident: str) -> Path:
    """``base/<ident>``, or the one folder whose name starts with ``ident``
    (``flyer.core.names.resolve_id``: id-shaped, inside ``base``)."""
    if not base.is_dir():
        safe_name(ident, "run id")
        raise NotFoundError(f"no run {ident!r}: {base} does not exist (train one with `flyer train`)")
    return resolve_id(base, ident, "run")


def load_run(home: Home, ident: str) -> Run:
    """Open ``runs/<ident>`` (a unique prefix of the id is accepted). Refused when its
    ``config.json`` and ``data.json`` do not hash to the folder name (edited, or written by an
    older flyer)."""
    path = _resolve_path(flyer_home(home, create=False) / "runs", ident)
    try:
        raw = json.loads((path / "config.json").read_text())
    except FileNotFoundError:
        raise FlyerError(f"run {path.name} has no config.json") from None
    if "model" not in raw or "data" not in raw:  # combined runs (ensemble / stack)
        raise FlyerError(f"run {path.name} is a combined run; read its predictions.parquet directly")
    try:
        cfg = from_dict(raw)
        dkey = str(json.loads((path / "data.json").read_text())["key"])
        rid = run_id(cfg, dkey)
    except (FlyerError, KeyError, TypeError, ValueError, OSError):
        rid, dkey = "?", ""
    if rid != path.name:
        raise FlyerError(f"run {path.name}: its config.json and data.json hash to {rid}, not to the folder name "
                         "(edited by hand, or saved by an older flyer): retrain it")
    read = lambda n, d: json.loads((path / n).read_text()) if (path / n).exists() else d  # noqa: E731
    return Run(path.name, path, cfg, read("metrics.json", {}), read("features.json", []), read("meta.json", {}),
               data_key=dkey)


def _fold_health(met: dict[str, Any]) -> dict[str, Any]:
    """trees: the fewest trees a fold kept (None without trees); distinct: test scores' distinct
    share per date; warnings: number of collapsed folds (``metrics.json``)."""
    trees = [f.get("info", {}).get("best_iteration") for f in met.get("folds", [])]
    trees = [t for t in trees if t is not None]
    distinct = met.get("test", {}).get("distinct")
    return {"trees": min(trees) if trees else None,
            "distinct": distinct if distinct is None or distinct == distinct else None,
            "warnings": len(met.get("warnings", []))}


def list_runs(home: Home = None) -> pl.DataFrame:
    """One row per run folder, newest first: id, created (UTC ISO time), model, factors (the
    set's name), universe, horizon, test span, walk_forward, test IC/RankIC/ICIR, trees (fewest
    kept by a fold), distinct (test scores per date), warnings (collapsed folds)."""
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
            "factors": Path(data.get("factors", "")).stem if data.get("factor_key") != "none" else "-",
            "universe": data.get("universe", ""), "horizon": data.get("label_horizon"),
            "test": ":".join(split.get("test") or []),
            "walk_forward": bool(split.get("walk_forward", False)),
            "IC": test.get("IC"), "RankIC": test.get("RankIC"), "ICIR": test.get("ICIR"),
            **_fold_health(met),
        })
    schema = {"id": pl.Utf8, "created": pl.Utf8, "model": pl.Utf8, "factors": pl.Utf8, "universe": pl.Utf8,
              "horizon": pl.Int64, "test": pl.Utf8, "walk_forward": pl.Boolean, "IC": pl.Float64,
              "RankIC": pl.Float64, "ICIR": pl.Float64, "trees": pl.Int64, "distinct": pl.Float64,
              "warnings": pl.Int64}
    return pl.DataFrame(rows, schema=schema).sort("created", descending=True)
