"""``flyer train``, ``flyer predict`` and ``flyer runs``: train models, score a day, list runs."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, TypeVar

import typer

from flyer.commands.common import HomeOpt, console, open_store, parse_date, parse_span, research_runner
from flyer.core.errors import FlyerError, UsageError

if TYPE_CHECKING:
    from flyer.models.parallel import Runner


def train(
    model: str = typer.Option("lgbm", "--model",
                              help="lgbm | linear | mlp | gru | lstm | transformer | dens (DoubleEnsemble) | ensemble | stack"),
    factors: str = typer.Option("alpha158", "--factors", help="factor set (alpha158, ...; 'basic' is built in)"),
    universe: str = typer.Option("all", "--universe", help="all | csi500 | csi300 (point-in-time members)"),
    label_horizon: int = typer.Option(1, "--label-horizon", help="label: close[t+1+h]/close[t+1]-1, h days"),
    train_span: str = typer.Option("2016-01-01:2019-12-31", "--train", help="START:END"),
    valid_span: str = typer.Option("2020-01-01:2020-12-31", "--valid", help="START:END"),
    test_span: str = typer.Option("2021-01-01:2024-12-31", "--test", help="START:END"),
    walk_forward: bool = typer.Option(False, "--walk-forward", help="retrain every --retrain-months over the test span"),
    retrain_months: int = typer.Option(6, "--retrain-months"),
    window: str = typer.Option("rolling", "--window", help="walk-forward window: rolling | expanding"),
    objective: Optional[str] = typer.Option(None, "--objective", help="lgbm: regression | lambdarank; nets: mse | ic"),
    preset: Optional[str] = typer.Option(None, "--preset", help="named parameters: lgbm: qlib (qlib's benchmark)"),
    members: Optional[str] = typer.Option(None, "--members", help="ensemble/stack: member models, e.g. lgbm,linear,mlp"),
    combine: str = typer.Option("rank", "--combine", help="ensemble: rank (equal) | ic (validation RankIC weights)"),
    horizons: Optional[str] = typer.Option(None, "--horizons", help="stack: label horizons, e.g. 1,5,20"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help="torch models: maximum epochs"),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(0, "--threads", help="LightGBM threads (0 = all cores)"),
    mode: str = typer.Option("serial", "--mode", help="serial | ray: walk-forward folds, ensemble members and "
                             "stacked horizons as Ray tasks (a local Ray on loopback, or --address); same results"),
    address: Optional[str] = typer.Option(None, "--address", help="existing Ray cluster HOST:PORT (implies --mode ray)"),
    workers: int = typer.Option(0, "--workers", help="Ray workers (0 = every CPU of the machine or cluster)"),
    force: bool = typer.Option(False, "--force", help="retrain even when a run of the same config exists"),
    refuse_null: bool = typer.Option(False, "--refuse-null-features", help="refuse to train when a feature is mostly "
                                     "null in the test span but not in training (default: warn)"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Train a model; writes runs/<id>/ with config, model, processors, metrics and predictions.
    The id hashes the whole config (factor set content included): the same config reuses its run.
    ``ensemble`` / ``stack`` train (or reuse) one run per member (per horizon) and combine them."""
    from flyer.models.config import TORCH_KINDS, make_config
    from flyer.models.pipeline import train as train_run

    kinds = _member_kinds(model, members, horizons, combine)
    if epochs is not None and not set(kinds) & set(TORCH_KINDS):
        raise UsageError(f"--epochs applies to torch models ({', '.join(TORCH_KINDS)}), not {model}")
    hs = _horizons(horizons) if model == "stack" else [label_horizon]

    def cfg_for(kind: str, h: int):  # noqa: ANN202 - TrainConfig
        params = {"epochs": epochs} if epochs is not None and kind in TORCH_KINDS else None
        return make_config(kind, _required(parse_span(train_span, "--train"), "--train"),
                           _required(parse_span(valid_span, "--valid"), "--valid"),
                           parse_span(test_span, "--test"), objective=objective if kind == model else None,
                           params=params, seed=seed, walk_forward=walk_forward, retrain_months=retrain_months,
                           window=window, preset=preset if kind == "lgbm" else None, factors=factors,
                           universe=universe, label_horizon=h)

    cfgs = [cfg_for(k, h) for k in kinds for h in hs]
    with open_store(home, read_only=True, must_exist=True) as store, research_runner(mode, workers, address) as runner:
        console.print(f"training {model} on {factors} ({universe}) ..."
                      + (f" on {runner.describe()}" if runner.workers > 1 else ""))
        if model in ("ensemble", "stack"):
            _train_combined(store, model, cfgs, home, combine, threads, force, runner)
            return
        run = train_run(store, cfgs[0], home=home, threads=threads, force=force,  # progress: per fold and round
                        log=_warnings_only, null_features="refuse" if refuse_null else "warn", runner=runner)
    if run.reused:
        console.print(f"run {run.id} exists with the same config and data: reused (--force retrains it) -> {run.path}")
    else:
        console.print(f"[green]run {run.id}[/] -> {run.path}")
    print_metrics(run.metrics)


def _warnings_only(message: str) -> None:
    """``train``'s log in the CLI: warnings are printed; fold lines come from the progress bars."""
    if message.startswith("warning:"):
        console.print(message, style="yellow", markup=False, highlight=False)


def _member_kinds(model: str, members: Optional[str], horizons: Optional[str], combine: str) -> list[str]:
    """The model kinds to train: ``model`` itself, or the ``--members`` of an ensemble/stack."""
    from flyer.models.config import MODEL_KINDS
    from flyer.models.ensemble import COMBINES

    if model not in ("ensemble", "stack"):
        if members or horizons:
            raise UsageError("--members and --horizons apply to --model ensemble or stack")
        return [model]
    if combine not in COMBINES:
        raise UsageError(f"--combine must be {' or '.join(COMBINES)}, not {combine!r}")
    kinds = [k.strip() for k in (members or ("lgbm" if model == "stack" else "")).split(",") if k.strip()]
    bad = [k for k in kinds if k not in MODEL_KINDS]
    if bad or not kinds:
        raise UsageError(f"--members: give models among {', '.join(MODEL_KINDS)}" + (f" (not {', '.join(bad)})" if bad else ""))
    if model == "ensemble" and len(kinds) < 2:
        raise UsageError("an ensemble needs at least two --members")
    if model == "stack" and (len(kinds) != 1 or not horizons):
        raise UsageError("--model stack takes one --members model and --horizons, e.g. --members lgbm --horizons 1,5,20")
    return kinds


def _horizons(text: Optional[str]) -> list[int]:
    try:
        hs = [int(h) for h in (text or "").split(",") if h.strip()]
    except ValueError:
        raise UsageError(f"--horizons must be comma-separated days, e.g. 1,5,20, not {text!r}") from None
    if len(hs) < 2 or min(hs) < 1:
        raise UsageError("--horizons needs at least two horizons >= 1")
    return hs


def _train_combined(store, model: str, cfgs: list, home: Optional[Path], combine: str, threads: int,  # noqa: ANN001
                    force: bool, runner: Runner) -> None:
    """Train the members, combine them, print members and combined test metrics."""
    import json

    from flyer.models.ensemble import train_ensemble, train_stack

    if model == "ensemble":
        path, runs = train_ensemble(store, cfgs, home, combine, threads, _warnings_only, force, runner=runner)
    else:
        path, runs = train_stack(store, cfgs, home, 1.0, threads, _warnings_only, force, runner=runner)
    for r in runs:
        state = "reused" if r.reused else "trained"
        console.print(f"member {r.id} {r.config.model.kind} h={r.config.data.label_horizon} ({state}): "
                      f"test RankIC {r.metrics.get('test', {}).get('RankIC', float('nan')):.4f}")
    met = json.loads((path / "metrics.json").read_text())
    console.print(f"[green]{model} {path.name}[/] -> {path}  (weights per fold: "
                  + "; ".join(", ".join(f"{w:.2f}" for w in ws) for ws in met.get("weights", [])) + ")")
    print_metrics(met)


def print_metrics(metrics: dict) -> None:
    """Per split IC, RankIC, their IRs, RankIC t (Newey-West), distinct scores per date; the
    trees each fold kept; a loud warning per collapsed fold."""
    from flyer.commands.common import fitted_table

    rows = []
    for name in ("train", "valid", "test"):
        m = metrics.get(name, {})
        f = lambda k, p=".4f": "-" if m.get(k) is None or m[k] != m[k] else format(m[k], p)  # noqa: E731
        rows.append([name, f("IC"), f("RankIC"), f("ICIR", ".3f"), f("RankICIR", ".3f"), f("RankIC_t", ".2f"),
                     f("distinct", ".1%"), f("MSE"), str(m.get("n_dates", "")), f"{m.get('n', 0):,}"])
    console.print(fitted_table(["split", "IC", "RankIC", "ICIR", "RankICIR", "t NW", "distinct", "MSE", "dates",
                                "samples"], rows))
    trees = [f.get("info", {}).get("best_iteration") for f in metrics.get("folds", [])]
    if any(t is not None for t in trees):
        console.print("trees kept per fold (best iteration): " + ", ".join(str(t) for t in trees))
    print_warnings(metrics.get("warnings", []))


T = TypeVar("T")


def _required(value: T | None, flag: str) -> T:
    if value is None:
        raise UsageError(f"{flag} is required")
    return value


def print_warnings(warnings: list[str]) -> None:
    """Collapsed folds, loudly (they make top-k pick from ties)."""
    for w in warnings:
        console.print(f"[bold red]WARNING[/] {w}", soft_wrap=True)


def predict(
    run_id: str = typer.Option(..., "--run", help="run id (or a unique prefix)"),
    date: str = typer.Option(..., "--date", help="trading day YYYY-MM-DD"),
    out: Optional[Path] = typer.Option(None, "--out", help="write date,symbol,score here (.parquet or .csv)"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Score one trading day with a saved run (features recomputed from the store)."""
    from flyer.models.predict import predict_day
    from flyer.models.runs import load_run

    day = _required(parse_date(date, "--date"), "--date")
    run = load_run(home, run_id)
    with open_store(home, read_only=True, must_exist=True) as store:
        scores = predict_day(run, store, day)
    if out is not None:
        if out.suffix == ".csv":
            scores.write_csv(out)
        elif out.suffix == ".parquet":
            scores.write_parquet(out)
        else:
            raise FlyerError(f"--out must end in .parquet or .csv, not {out.name!r}")
        console.print(f"{scores.height} scores for {day} -> {out}")
        return
    from flyer.commands.common import fitted_table

    top = scores.sort("score", descending=True)
    rows = [[str(i), r["symbol"], f"{r['score']:.5f}"] for i, r in enumerate(top.head(20).iter_rows(named=True), 1)]
    console.print(fitted_table(["rank", "symbol", "score"], rows,
                               title=f"run {run.id} scores for {day} ({scores.height} stocks)"))


runs_app = typer.Typer(invoke_without_command=True, no_args_is_help=False,
                       help="List saved runs (newest first); `flyer runs mark` picks the backtest a run shows; "
                            "`flyer runs export` writes them to CSV or MLflow.")


@runs_app.callback()
def runs(ctx: typer.Context, home: Optional[Path] = HomeOpt) -> None:
    """List the saved runs, newest first: creation time, key config fields, test-period IC and
    RankIC, and the excess return and information ratio of the run's canonical saved backtest
    (the one marked with `flyer runs mark`, else the first saved: a later backtest of the same
    run never changes them)."""
    if ctx.invoked_subcommand is not None:
        return
    from flyer.commands.common import fitted_table
    from flyer.compare import runs_overview

    df = runs_overview(home)
    if df.height == 0:
        console.print("no runs yet: `flyer train ...` or `flyer run workflow.toml` creates one")
        return
    fmt = lambda v, f="{:.3f}": "-" if v is None or v != v else f.format(v)  # noqa: E731
    rows = []
    for r in df.iter_rows(named=True):
        test = f"{r['test'][2:4]}-{r['test'][13:15]}" if r["test"] else "-"
        created = r["created"][2:16].replace("T", " ")  # YY-MM-DD HH:MM
        mark = {"marked": "*", "first": ""}.get(r["how"] or "", "")
        rows.append([r["id"], created, r["model"] + ("/wf" if r["walk_forward"] else ""), r["factors"],
                     r["universe"], str(r["horizon"] or ""), test, fmt(r["RankIC"]),
                     fmt(r["excess"], "{:.1%}") + mark, fmt(r["IR"], "{:.2f}"), _fit(r)])
    console.print(fitted_table(["id", "created", "model", "factors", "univ.", "h", "test", "test RankIC",
                                "excess", "IR", "fit"], rows,
                               title=f"{df.height} runs (newest first; created in UTC; test: years)"))
    console.print("excess / yr (geometric) and IR: the run's canonical backtest, the first saved"
                  + (" (* = marked with `flyer runs mark`)" if (df["how"] == "marked").any() else "")
                  + "; fit = fewest trees a fold kept / distinct test scores per date (%)"
                  + ("; [bold red]![/] = collapsed folds (`flyer train` prints which)" if df["warnings"].sum() else ""))


@runs_app.command("mark")
def mark_cmd(backtest: str = typer.Argument(..., help="a saved backtest id (or a unique prefix)"),
             home: Optional[Path] = HomeOpt) -> None:
    """Make a saved backtest the one its run shows in `flyer runs`, `flyer compare` and the exports
    (its canonical backtest; no record is rewritten)."""
    from flyer.backtest.canonical import mark

    rec = mark(home, backtest)
    console.print(f"run {rec.meta.get('run')}: canonical backtest {rec.id} (marked)", markup=False)


def _fit(r: dict) -> str:
    """``trees/uniq`` of a run row: fewest trees a fold kept (- for no trees), distinct test
    scores per date in percent (capped at 99 to fit), ``!`` when a fold collapsed."""
    trees = "-" if r["trees"] is None else str(r["trees"])
    uniq = "-" if r["distinct"] is None else str(min(int(round(r["distinct"] * 100)), 99))
    return f"{trees}/{uniq}" + ("!" if r["warnings"] else "")


@runs_app.command("export")
def export_cmd(
    ids: Optional[list[str]] = typer.Argument(None, help="run ids (default: every run)"),
    csv: Optional[Path] = typer.Option(None, "--csv", help="one row per run (config fields, metrics, canonical backtest)"),
    mlflow: Optional[str] = typer.Option(None, "--mlflow", help="an MLflow tracking folder or URI (sqlite:///m.db); "
                                         "needs `pip install 'flyer[mlflow]'`"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Export runs: a CSV table (--csv) and/or MLflow runs (--mlflow) with params, metrics per split, per fold
    and per day (NAV, excess, IC of the canonical backtest and the scores), model files, predictions and the
    backtest report as artefacts."""
    from flyer import tracking

    if csv is None and mlflow is None:
        raise FlyerError("give --csv FILE and/or --mlflow DIR")
    if csv is not None:
        n = tracking.export_csv(home, csv, ids or None)
        console.print(f"{n} run(s) -> {csv}", markup=False)
    if mlflow is not None:
        n = tracking.export_mlflow(home, mlflow, ids or None)
        console.print(f"{n} run(s) -> MLflow tracking folder {mlflow} (`mlflow ui --backend-store-uri {mlflow}`)",
                      markup=False)


def register(app: typer.Typer) -> None:
    app.command("train")(train)
    app.command("predict")(predict)
    app.add_typer(runs_app, name="runs")
