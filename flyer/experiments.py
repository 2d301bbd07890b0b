"""Experiments: a workflow run, kept in ``$FLYER_HOME/experiments/<key>/``.

``run(home, workflow)`` executes a ``flyer.workflow.Workflow`` in four steps, each reusing what
exists (``flyer run`` / ``flyer demo`` / notebooks call it):

  1. data: ingest the source unless this home already ingested exactly it (``sources.json``
     records each source config's ingest; ``ingest = "always"`` / ``"never"`` override);
  2. factors: ``flyer.factors.pipeline.evaluate`` per ``[[factors]]`` table, the report and the
     tables under the experiment's ``factors/<label>/``;
  3. models: ``flyer.models.train`` per ``[[models]]`` table (a run of the same config is
     reused: run ids are content hashes);
  4. backtests: ``flyer.backtest.run`` of every (backtest, model) pair on the run's
     out-of-sample predictions, saved as ``$FLYER_HOME/backtests/<run id>-<config key>/``
     (``flyer.backtest.records``; reused when present) with its report.

The experiment folder (``key`` = the resolved workflow's content hash, ``Workflow.key``):
``workflow.toml`` (the file as written; ``workflow.json`` for one built in Python), ``resolved.json`` (defaults filled, keys and run ids),
``reports/`` (links to the backtest reports and the factor reports), ``factors/<label>/``
(evaluation tables) and, written last, ``summary.json`` and ``summary.md`` (runs with their
test IC, backtests with their figures and paths). A folder with a ``summary.json`` is complete:
running the same workflow again does nothing (``Experiment.reused``).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import polars as pl

from flyer.core.atomic import atomic_text
from flyer.core.errors import FlyerError
from flyer.workflow import BacktestStep, FactorStep, Workflow

Log = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class Experiment:
    """A saved experiment: ``summary`` is ``summary.json`` (empty while incomplete)."""

    id: str
    path: Path
    summary: dict[str, Any] = field(default_factory=dict)
    reused: bool = False

    @property
    def name(self) -> str:
        return str(self.summary.get("name", ""))

    def runs(self) -> list[dict[str, Any]]:
        return list(self.summary.get("models", []))

    def backtests(self) -> list[dict[str, Any]]:
        return list(self.summary.get("backtests", []))


def root(home: str | os.PathLike | None) -> Path:
    from flyer.data.store import flyer_home

    return flyer_home(home) / "experiments"


def load(home: str | os.PathLike | None, exp_id: str) -> Experiment:
    """The experiment ``exp_id`` (a unique prefix is accepted; ``flyer.core.names.resolve_id``:
    id-shaped, inside ``experiments/``); FlyerError when absent or its summary is unreadable."""
    from flyer.core.names import resolve_id

    path = resolve_id(root(home), exp_id, "experiment")
    return Experiment(path.name, path, _summary(path))


def _summary(path: Path) -> dict[str, Any]:
    """``summary.json`` of an experiment folder ({} while incomplete); FlyerError when damaged."""
    summary = path / "summary.json"
    if not summary.exists():
        return {}
    try:
        data = json.loads(summary.read_text())
    except (OSError, ValueError) as exc:
        raise FlyerError(f"experiment {path.name}: summary.json unreadable ({type(exc).__name__}): "
                         "rerun its workflow with --force, or remove the folder") from None
    if not isinstance(data, dict):
        raise FlyerError(f"experiment {path.name}: summary.json is not a table")
    return data


def list_experiments(home: str | os.PathLike | None) -> pl.DataFrame:
    """One row per experiment, newest first: id, created, name, status, models, backtests, and
    the best backtest's annualised excess return and information ratio."""
    rows = []
    base = root(home)
    for p in sorted(base.iterdir()) if base.exists() else []:
        if not p.is_dir() or p.name.startswith("."):
            continue
        try:
            rows.append(_listing_row(p))
        except (FlyerError, OSError, ValueError, TypeError, AttributeError, KeyError):
            # one damaged folder never breaks the listing: it is shown as such
            rows.append({"id": p.name, "created": "", "name": "", "status": "damaged", "models": 0,
                         "backtests": 0, "best_excess": None, "best_ir": None})
    schema = {"id": pl.Utf8, "created": pl.Utf8, "name": pl.Utf8, "status": pl.Utf8, "models": pl.Int64,
              "backtests": pl.Int64, "best_excess": pl.Float64, "best_ir": pl.Float64}
    return pl.DataFrame(rows, schema=schema).sort("created", descending=True)


def _listing_row(p: Path) -> dict[str, Any]:
    s = _summary(p)
    resolved = json.loads((p / "resolved.json").read_text()) if (p / "resolved.json").exists() else {}
    bts = [b for b in s.get("backtests", []) if isinstance(b.get("excess_annual_return"), (int, float))]
    best: dict[str, Any] = max(bts, key=lambda b: b["excess_annual_return"], default={})
    return {"id": p.name, "created": str(s.get("created", "")), "name": str(s.get("name", resolved.get("name", ""))),
            "status": "complete" if s else "incomplete", "models": len(resolved.get("models", [])),
            "backtests": len(s.get("backtests", [])), "best_excess": best.get("excess_annual_return"),
            "best_ir": best.get("information_ratio")}


# --------------------------------------------------------------------------------- running
def experiment_key(store: Any, wf: Workflow) -> str:
    """The experiment's id: ``content_key`` of the resolved workflow (``Workflow.key``) and the
    data each step reads (``flyer.data.identity.data_key`` up to each model's last split date
    and each factor evaluation's end): the same workflow on other data is another experiment,
    and days appended after its spans leave it the same."""
    from flyer.core.config import content_key
    from flyer.data.identity import data_key

    ends = [(m.config.split.test or m.config.split.valid)[1] for m in wf.models] + [f.end for f in wf.factors]
    return content_key({"workflow": wf.key, "data": [data_key(store, end) for end in ends]})


def run(home: str | os.PathLike | None, wf: Workflow, *, force: bool = False, log: Log = print) -> Experiment:
    """Execute ``wf`` (module docstring steps 1-4); a complete experiment of the same key (same
    workflow, same data: ``experiment_key``) is returned as is (``reused``) unless ``force``
    (then every step runs again; runs and saved backtests of the same content are still reused)."""
    from flyer.data.store import MarketStore, flyer_home

    home = flyer_home(home)
    steps = 2 + (1 if wf.factors else 0) + (1 if wf.backtests else 0)
    n = iter(range(1, steps + 1))
    t0, secs = time.perf_counter(), {}
    ingest_data(home, wf, lambda m: log(f"{next(n)}/{steps} {m}"))
    secs["data"] = time.perf_counter() - t0
    with MarketStore.open(home, read_only=True) as store:  # readers never lock the CLI out
        key = experiment_key(store, wf)
        path = root(home) / key
        if (path / "summary.json").exists() and not force:
            exp = dataclasses.replace(load(home, key), reused=True)
            log(f"experiment {key} ({wf.name}) is complete on the same data: nothing to do -> {path}")
            return exp
        (path / "reports").mkdir(parents=True, exist_ok=True)
        atomic_text(wf.text, path / ("workflow.toml" if wf.path else "workflow.json"))  # as written (JSON: built in Python)
        atomic_text(json.dumps({**wf.resolved(), "experiment": key}, indent=1, default=str), path / "resolved.json")
        summary: dict[str, Any] = {"id": key, "workflow_key": wf.key, "name": wf.name, "description": wf.description,
                                   "workflow": wf.path, "factors": [], "models": [], "backtests": []}
        if wf.factors:
            t = time.perf_counter()
            log(f"{next(n)}/{steps} evaluating {len(wf.factors)} factor set(s) ...")
            summary["factors"] = [evaluate_factors(store, home, path, step, wf.reports["factors"], log)
                                  for step in wf.factors]
            secs["factors"] = time.perf_counter() - t
        t = time.perf_counter()
        log(f"{next(n)}/{steps} training {len(wf.models)} model(s) ...")
        runs = {m.name: train_model(store, home, m, log) for m in wf.models}
        summary["models"] = [_run_row(name, r) for name, r in runs.items()]
        secs["train"] = time.perf_counter() - t
        if wf.backtests:
            t = time.perf_counter()
            log(f"{next(n)}/{steps} backtesting ...")
            summary["backtests"] = [backtest_model(store, home, path, step, name, runs[name], wf.reports["backtest"], log)
                                    for step in wf.backtests for name in step.models]
            secs["backtest"] = time.perf_counter() - t
    summary.update(created=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), seconds=secs)
    atomic_text(summary_markdown(summary), path / "summary.md")
    atomic_text(json.dumps(summary, indent=1, default=str), path / "summary.json")
    return Experiment(key, path, summary)


def source_key(wf: Workflow) -> str:
    from flyer.core.config import content_key

    return content_key(wf.data.source)


def ingest_data(home: Path, wf: Workflow, log: Log) -> None:
    """Step 1: ingest ``wf.data`` unless ``sources.json`` says this home already did (and the
    store's ingest log still has that ingest) or ``ingest = "never"``."""
    from flyer.data.sources.base import ingest, source_from_dict
    from flyer.data.store import MarketStore

    kind = wf.data.source["kind"]
    marker = home / "sources.json"
    done = json.loads(marker.read_text()) if marker.exists() else {}
    key = source_key(wf)
    have = False
    if (home / "market.duckdb").exists():
        with MarketStore.open(home, read_only=True) as store:
            ok = set(store.ingest_log().filter(pl.col("status") == "ok")["id"].to_list())
        have = done.get(key, {}).get("ingest") in ok
    if wf.data.ingest == "never" or (wf.data.ingest == "missing" and have):
        why = "ingest = never" if wf.data.ingest == "never" else f"ingest #{done[key]['ingest']}"
        log(f"data: the store already holds the {kind} source ({why}): not ingested again")
        return
    with MarketStore.open(home) as store:
        report = ingest(store, source_from_dict(dict(wf.data.source), "[data]"), mix=wf.data.mix_markets)
    done[key] = {"ingest": report.ingest_id, "source": wf.data.source,
                 "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    atomic_text(json.dumps(done, indent=1, default=str), marker)
    log(f"data: ingested {kind}: {report.rows_written:,} rows written, {report.rows_rejected:,} rejected")


def evaluate_factors(store: Any, home: Path, path: Path, step: FactorStep, report: bool, log: Log) -> dict[str, Any]:
    """Step 2 for one ``[[factors]]`` table: tables (and the report) under ``factors/<label>/``."""
    from flyer.factors import evaluation as ev
    from flyer.factors import report as rep
    from flyer.factors.pipeline import evaluate
    from flyer.factors.tables import export_tables

    evals, values = evaluate(store, home, step.factor_set, start=step.start, end=step.end, universe=step.universe,
                             horizon=step.horizon, quantiles=step.quantiles)
    out = path / "factors" / step.label
    export_tables(evals, out)
    row: dict[str, Any] = {"label": step.label, "key": step.factor_set.key(), "factors": len(evals),
                           "universe": step.universe, "horizon": step.horizon, "tables": str(out)}
    best = ev.summary_table(evals).head(3)
    row["best"] = best.select("factor", "rank_ic_mean", "rank_icir").to_dicts()
    if report:
        from flyer.factors.tearsheet import report_sheets

        sheets, note = report_sheets(store, evals, values)
        page = rep.build(evals, title=f"{step.label}: {step.universe}, {step.horizon}-day horizon", values=values,
                         sheets=sheets, detail_note=note)
        row["report"] = str(rep.write(path / "reports" / f"factors_{step.label}.html", page))
    log(f"    {step.label} ({step.factor_set.key()}): {len(evals)} factors, best "
        + ", ".join(f"{r['factor']} RankIC {r['rank_ic_mean']:.4f}" for r in row["best"]))
    return row


def train_model(store: Any, home: Path, step: Any, log: Log) -> Any:
    """Step 3 for one ``[[models]]`` table: the run (reused when it exists)."""
    from flyer import models

    run = models.train(store, step.config, home=home)
    test = run.metrics.get("test", {})
    how = "exists with the same config and data: reused" if run.reused else "trained"
    log(f"    {step.name}: run {run.id} {how} (test, all folds out of sample: IC {_f(test.get('IC'))}, "
        f"RankIC {_f(test.get('RankIC'))})")
    return run


def _f(v: Any, fmt: str = "{:.4f}") -> str:
    return fmt.format(v) if isinstance(v, (int, float)) and v == v else "-"


def _run_row(name: str, run: Any) -> dict[str, Any]:
    test = run.metrics.get("test", {})
    d, s = run.config.data, run.config.split
    return {"name": name, "run": run.id, "path": str(run.path), "model": run.config.model.kind,
            "factors": d.factors, "factor_key": d.factor_key, "universe": d.universe, "horizon": d.label_horizon,
            "test": [str(x) for x in s.test] if s.test else None, "walk_forward": s.walk_forward,
            "reused": run.reused, **{k: test.get(k) for k in ("IC", "RankIC", "ICIR", "RankICIR")}}


def backtest_model(store: Any, home: Path, path: Path, step: BacktestStep, name: str, run: Any, report: bool,
                   log: Log) -> dict[str, Any]:
    """Step 4 for one (backtest, model) pair: a backtest session (``flyer.backtest.session``, the
    one ``flyer backtest`` runs) of the run's predictions, its saved record reused when the same
    run, config and data were backtested before; its report linked from ``reports/``."""
    from flyer.backtest.session import RunScores, SessionOptions, backtest

    cfg = step.config
    span = run.config.split.test or run.config.split.valid
    cfg = cfg.replace(start=cfg.start or span[0], end=cfg.end or span[1])
    title = f"{step.name} on {name} (run {run.id}): {cfg.strategy}"
    session = backtest(home, store, RunScores((run.id,)), cfg,
                       SessionOptions(record_report=report, report_title=title, reuse=True))
    rec = session.record
    assert rec is not None
    how = "saved backtest reused (same run, config and data)" if session.reused else "ran"
    m = rec.metrics
    row = {"name": step.name, "model": name, "run": run.id, "backtest": rec.id, "path": str(rec.path),
           **{k: m.get(k) for k in ("annual_return", "excess_annual_return", "information_ratio", "max_drawdown",
                                    "sharpe", "annual_turnover", "cost_drag", "benchmark")}}
    if rec.report is not None:
        row["report"] = str(_link(rec.report, path / "reports" / f"backtest_{step.name}_{name}.html"))
    log(f"    {step.name} on {name}: {how} ({rec.id}): excess {_f(m.get('excess_annual_return'), '{:.2%}')}/yr, "
        f"IR {_f(m.get('information_ratio'), '{:.2f}')}, max drawdown {_f(m.get('max_drawdown'), '{:.2%}')}")
    return row


def _link(target: Path, link: Path) -> Path:
    """A relative symlink ``link`` -> ``target`` (a copy where links are not possible)."""
    if link.is_symlink() or link.exists():
        link.unlink()
    try:
        link.symlink_to(os.path.relpath(target, link.parent))
    except OSError:
        shutil.copyfile(target, link)
    if target.suffix == ".html":  # a browser resolves the page's plotly.js beside the link
        from flyer.core.pages import ensure_script

        ensure_script(link.parent)
    return link


def summary_markdown(s: dict[str, Any]) -> str:
    """``summary.md``: the experiment at a glance."""
    lines = [f"# experiment {s['id']}: {s['name']}", "", s.get("description") or "", ""]
    if s.get("factors"):
        lines += ["## factor evaluations", "", "| set | key | factors | universe | horizon | best (RankIC) |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for f in s["factors"]:
            best = ", ".join(f"{b['factor']} {_f(b['rank_ic_mean'])}" for b in f.get("best", []))
            lines.append(f"| {f['label']} | {f['key']} | {f['factors']} | {f['universe']} | {f['horizon']} | {best} |")
        lines.append("")
    lines += ["## models (test period)", "", "| name | run | model | factors | universe | IC | RankIC | ICIR |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for m in s.get("models", []):
        lines.append(f"| {m['name']} | {m['run']} | {m['model']} | {m['factors']} | {m['universe']} | "
                     f"{_f(m.get('IC'))} | {_f(m.get('RankIC'))} | {_f(m.get('ICIR'), '{:.3f}')} |")
    if s.get("backtests"):
        lines += ["", "## backtests", "", "| backtest | model | annual return | excess / yr | IR | max drawdown | "
                  "turnover / yr | report |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
        for b in s["backtests"]:
            lines.append(f"| {b['name']} | {b['model']} | {_f(b.get('annual_return'), '{:.2%}')} | "
                         f"{_f(b.get('excess_annual_return'), '{:.2%}')} | {_f(b.get('information_ratio'), '{:.2f}')} | "
                         f"{_f(b.get('max_drawdown'), '{:.2%}')} | {_f(b.get('annual_turnover'), '{:.1f}x')} | "
                         f"{b.get('report', '')} |")
    return "\n".join(lines) + "\n"
