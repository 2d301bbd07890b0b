"""Runs out to other tools: a CSV table, or an MLflow tracking folder (``flyer runs export``).

``rows(home, ids)``: one flat dict per run: the config's fields (dotted: ``data.universe``,
``model.params.num_leaves``, ``split.test``), the metrics per split (``test.IC``, ...) and the
latest saved backtest's metrics (``backtest.excess_annual_return``, ...).
``export_mlflow(home, target, ids)``: one MLflow run per flyer run in the experiment ``flyer``
of a tracking folder (MLflow's file store) or a tracking URI (``sqlite:///mlflow.db``), named by the run id, with the config as params, the metrics,
tags (run id, factor key, saved backtest id) and the run's ``config.json``, ``metrics.json``
and backtest report as artefacts. MLflow is optional (``pip install 'flyer[mlflow]'``): without
it the export is a one-line error.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import polars as pl

from flyer.core.errors import FlyerError

Home = str | os.PathLike | None


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
    from flyer.backtest import records
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
        latest = records.list_records(home, run.id)
        if latest:
            row["backtest.id"] = latest[0].id
            row.update({f"backtest.{k}": v for k, v in latest[0].metrics.items() if isinstance(v, (int, float, str))})
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


def export_mlflow(home: Home, folder: str | os.PathLike, ids: list[str] | None = None) -> int:
    """Log each run to the MLflow tracking folder ``folder`` (see the module docstring); a
    run already exported (same flyer run id) is replaced, so exporting twice gives one run."""
    try:
        import mlflow
    except ImportError:
        raise FlyerError("MLflow export needs the mlflow package: pip install 'flyer[mlflow]' (or mlflow-skinny)") from None
    from flyer.backtest import records
    from flyer.models.runs import load_run

    text = str(folder)
    if "://" in text:  # a tracking URI: sqlite:///mlflow.db, http://host:5000, ...
        uri = text
    else:  # a folder: MLflow's file store (kept by MLflow in maintenance mode; opted in here)
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        uri = Path(folder).expanduser().resolve().as_uri()
    client = mlflow.tracking.MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("flyer")
    exp_id = exp.experiment_id if exp is not None else client.create_experiment("flyer")
    data = rows(home, ids)
    for row in data:
        old = client.search_runs([exp_id], filter_string=f"tags.flyer_run = '{row['run']}'")
        for r in old:
            client.delete_run(r.info.run_id)
        mrun = client.create_run(exp_id, run_name=row["run"], tags={
            "flyer_run": row["run"], "factor_key": str(row.get("data.factor_key", "")),
            "backtest": str(row.get("backtest.id", ""))})
        rid = mrun.info.run_id
        for k, v in row.items():
            if k.startswith(("train.", "valid.", "test.", "backtest.")) and isinstance(v, (int, float)) and v == v:
                client.log_metric(rid, k.replace(".", "_"), float(v))
            elif not k.startswith(("train.", "valid.", "test.", "backtest.")) and k not in ("run", "created"):
                client.log_param(rid, k, str(v)[:500])
        run = load_run(home, row["run"])
        for name in ("config.json", "metrics.json", "factors.json"):
            if (run.path / name).exists():
                client.log_artifact(rid, str(run.path / name))
        if row.get("backtest.id"):
            rec = records.load(home, row["backtest.id"])
            if rec.report is not None:
                client.log_artifact(rid, str(rec.report))
        client.set_terminated(rid)
    return len(data)
