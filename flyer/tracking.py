"""Runs out to other tools: a CSV table, or an MLflow tracking store (``flyer runs export``).

``rows(home, ids)``: one flat dict per run: the config's fields (dotted: ``data.universe``,
``model.params.num_leaves``, ``split.test``), the metrics per split (``test.IC``, ...) and the
metrics of the run's **canonical** saved backtest (``flyer.backtest.canonical``: the one the user
marked, else the first saved; ``backtest.id`` and ``backtest.how`` say which), so a later
backtest of another strategy never changes the figures a run shows.

``export_mlflow(home, target, ids)``: one MLflow run per flyer run in the experiment ``flyer`` of
a tracking folder (MLflow's file store) or a tracking URI (``sqlite:///mlflow.db``), named by the
run id, holding
  * params: the config's fields; tags: run id, factor key, canonical backtest id and how it was chosen;
  * single metrics: each split's figures (``test_IC``, ...) and the canonical backtest's
    (``backtest_excess_annual_return``, ...);
  * stepped metrics that MLflow's UI plots: per fold (step = fold: ``fold_test_RankIC``,
    ``fold_valid_RankIC``, ``fold_best_iteration``, ...) and per trading day (step = day number,
    timestamp = the date at 00:00 UTC: ``daily_rank_ic``, ``daily_ic``, ``cumulative_rank_ic`` of the
    out-of-sample scores; ``daily_nav``, ``daily_benchmark``, ``daily_excess`` of the canonical
    backtest, each start = 1, excess geometric);
  * artefacts: ``run/`` (config, metrics, factors, features, folds, processors, meta), ``model/``
    (one model file per fold), ``predictions/`` (out-of-sample scores, with labels in
    ``oos.parquet``, and the validation scores), ``backtest/`` (the canonical backtest's tables,
    ``meta.json`` and its report with plotly.js inlined, so it opens from MLflow's UI).
MLflow is optional (``pip install 'flyer[mlflow]'``, which also installs what a ``sqlite:`` URI
needs); without it the export is a one-line error.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import polars as pl

from flyer.core.errors import FlyerError

Home = str | os.PathLike | None

#: run-folder files logged as artefacts, by artefact folder (model files are found by name)
RUN_FILES = {"run": ("config.json", "metrics.json", "factors.json", "features.json", "folds.json",
                     "processors.json", "meta.json", "data.json"),
             "predictions": ("predictions.parquet", "oos.parquet", "valid_predictions.parquet")}
FOLD_KEYS = ("IC", "RankIC", "ICIR", "RankICIR", "MSE")
BATCH = 1000  # MLflow's limit of metrics per log_batch call


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = ":".join(map(str, v)) if all(not isinstance(x, (dict, list)) for x in v) else json.dumps(v)
        else:
            out[key] = v
    return out


def rows(home: Home, ids: list[str] | None = None) -> list[dict[str, Any]]:
    """One flat dict per run (see the module docstring), newest first."""
    from flyer.backtest.canonical import canonical
    from flyer.models.runs import list_runs, load_run

    wanted = ids or list_runs(home)["id"].to_list()
    out = []
    for rid in wanted:
        try:
            run = load_run(home, rid)
        except FlyerError:
            if ids:  # asked for by name: say why not
                raise
            continue  # combined runs (ensembles) have no config of their own
        cfg = json.loads((run.path / "config.json").read_text())
        row: dict[str, Any] = {"run": run.id, "created": run.meta.get("created", ""), **_flat(cfg)}
        for split in ("train", "valid", "test"):
            row.update({f"{split}.{k}": v for k, v in run.metrics.get(split, {}).items() if isinstance(v, (int, float))})
        chosen = canonical(home, run.id)
        if chosen.record is not None:
            row["backtest.id"], row["backtest.how"] = chosen.record.id, chosen.how
            row.update({f"backtest.{k}": v for k, v in chosen.record.metrics.items()
                        if isinstance(v, (int, float, str))})
        out.append(row)
    return out


def export_csv(home: Home, path: str | os.PathLike, ids: list[str] | None = None) -> int:
    """Write ``rows`` as CSV; returns the number of runs."""
    data = rows(home, ids)
    frame = pl.DataFrame([{k: (v if isinstance(v, (int, float)) or v is None else str(v)) for k, v in r.items()}
                          for r in data], infer_schema_length=None)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    frame.write_csv(str(path))
    return len(data)


def _client(target: str | os.PathLike) -> Any:
    """An ``MlflowClient`` of a tracking URI or folder (MLflow's file store, opted in here)."""
    try:
        import mlflow
    except ImportError:
        raise FlyerError("MLflow export needs the mlflow package: pip install 'flyer[mlflow]' (or mlflow-skinny)") from None
    text = str(target)
    if "://" in text:  # a tracking URI: sqlite:///mlflow.db, http://host:5000, ...
        uri = text
    else:  # a folder: MLflow's file store (kept by MLflow in maintenance mode; opted in here)
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = Path(target).expanduser().resolve().as_uri()
    return mlflow.tracking.MlflowClient(tracking_uri=uri)


def _artifact_root(target: str | os.PathLike) -> str | None:
    """Where a new experiment keeps its artefacts: beside a ``sqlite:`` database
    (``<db folder>/mlartifacts``); MLflow's default there is ``./mlruns`` under whatever folder the
    command ran in. None (MLflow's choice) for a folder store or a server, which have their own."""
    text = str(target)
    if not text.startswith("sqlite:///"):
        return None
    return (Path(text.removeprefix("sqlite:///")).expanduser().resolve().parent / "mlartifacts").as_uri()


def export_mlflow(home: Home, folder: str | os.PathLike, ids: list[str] | None = None) -> int:
    """Log each run to the MLflow store ``folder`` (see the module docstring); a run already
    exported (same flyer run id) is replaced, so exporting twice gives one run."""
    from flyer.backtest.canonical import canonical
    from flyer.models.runs import load_run

    client = _client(folder)
    exp = client.get_experiment_by_name("flyer")
    exp_id = exp.experiment_id if exp is not None else client.create_experiment("flyer", _artifact_root(folder))
    data = rows(home, ids)
    for row in data:
        for old in client.search_runs([exp_id], filter_string=f"tags.flyer_run = '{row['run']}'"):
            client.delete_run(old.info.run_id)
        mrun = client.create_run(exp_id, run_name=row["run"], tags={
            "flyer_run": row["run"], "factor_key": str(row.get("data.factor_key", "")),
            "backtest": str(row.get("backtest.id", "")), "backtest_how": str(row.get("backtest.how", ""))})
        rid = mrun.info.run_id
        run = load_run(home, row["run"])
        rec = canonical(home, run.id).record
        _log_values(client, rid, row)
        _log_series(client, rid, run, rec)
        _log_artefacts(client, rid, run, rec)
        client.set_terminated(rid)
    return len(data)


def _is_metric(key: str) -> bool:
    return key.startswith(("train.", "valid.", "test.", "backtest."))


def _log_values(client: Any, rid: str, row: dict[str, Any]) -> None:
    """Params (config fields) and single metrics (splits, canonical backtest) in batches."""
    from mlflow.entities import Metric, Param

    now = int(dt.datetime.now(dt.timezone.utc).timestamp() * 1000)
    params = [Param(k, str(v)[:500]) for k, v in row.items() if not _is_metric(k) and k not in ("run", "created")]
    metrics = [Metric(k.replace(".", "_"), float(v), now, 0) for k, v in row.items()
               if _is_metric(k) and isinstance(v, (int, float)) and not isinstance(v, bool) and v == v]
    for i in range(0, len(params), 100):
        client.log_batch(rid, params=params[i:i + 100])
    _batched(client, rid, metrics)


def _batched(client: Any, rid: str, metrics: list[Any]) -> None:
    for i in range(0, len(metrics), BATCH):
        client.log_batch(rid, metrics=metrics[i:i + BATCH])


def _stamp(day: dt.date) -> int:
    """Milliseconds of ``day`` at 00:00 UTC (a daily metric's timestamp)."""
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp() * 1000)


def series_metrics(run: Any, record: Any | None) -> list[Any]:
    """The stepped metrics of a run (module docstring): per fold, per day of the out-of-sample
    scores' IC, per day of the canonical backtest's curves. NaN values are left out."""
    from mlflow.entities import Metric

    from flyer.backtest.metrics import curves
    from flyer.models.metrics import daily_ic

    out = []
    for f in run.metrics.get("folds", []):
        step = int(f.get("fold", 0))
        for split in ("train", "valid", "test"):
            out += [Metric(f"fold_{split}_{k}", float(v), 0, step) for k, v in (f.get(split) or {}).items()
                    if k in FOLD_KEYS and isinstance(v, (int, float)) and v == v]
        best = (f.get("info") or {}).get("best_iteration")
        if isinstance(best, (int, float)):
            out.append(Metric("fold_best_iteration", float(best), 0, step))
    if (run.path / "oos.parquet").exists():
        ic = daily_ic(run.oos()).with_columns(pl.col("rank_ic").fill_null(0).cum_sum().alias("cumulative_rank_ic"))
        out += _daily(ic, {"daily_ic": "ic", "daily_rank_ic": "rank_ic", "cumulative_rank_ic": "cumulative_rank_ic"})
    if record is not None:
        daily = record.table("daily")
        nav, bench, excess = curves(daily)
        frame = pl.DataFrame({"date": daily["date"], "nav": nav, "benchmark": bench, "excess": excess})
        out += _daily(frame, {"daily_nav": "nav", "daily_benchmark": "benchmark", "daily_excess": "excess"})
    return out


def _daily(frame: pl.DataFrame, keys: dict[str, str]) -> list[Any]:
    """``Metric``s of ``frame``'s columns by day: step = row number, timestamp = the date."""
    from mlflow.entities import Metric

    stamps = [_stamp(d) for d in frame["date"].to_list()]
    return [Metric(name, float(v), stamps[i], i) for name, col in keys.items()
            for i, v in enumerate(frame[col].to_list()) if v is not None and v == v]


def _log_series(client: Any, rid: str, run: Any, record: Any | None) -> None:
    _batched(client, rid, series_metrics(run, record))


def _log_artefacts(client: Any, rid: str, run: Any, record: Any | None) -> None:
    """The run's files, model files, predictions and the canonical backtest (report inlined)."""
    for folder, names in RUN_FILES.items():
        for name in names:
            if (run.path / name).exists():
                client.log_artifact(rid, str(run.path / name), folder)
    for path in sorted(run.path.glob("model_*")):
        client.log_artifact(rid, str(path), "model")
    if record is None:
        return
    for path in sorted(record.path.glob("*.parquet")) + [record.path / "meta.json"]:
        if path.exists():
            client.log_artifact(rid, str(path), "backtest")
    if record.report is not None:
        from flyer.core.pages import inline

        with tempfile.TemporaryDirectory() as tmp:
            page = Path(tmp) / "report.html"
            page.write_text(inline(record.report.read_text(encoding="utf-8")), encoding="utf-8")
            client.log_artifact(rid, str(page), "backtest")
