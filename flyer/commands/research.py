"""``flyer run``, ``flyer experiments``, ``flyer compare``: workflow files, experiments, side by side."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer
from rich import box
from rich.table import Table

from flyer.commands.common import HomeOpt, console


def run_cmd(
    workflow: Path = typer.Argument(..., help="workflow file (.toml), e.g. examples/demo.toml"),
    overrides: Optional[list[str]] = typer.Option(None, "--set", help="override a key: --set data.stocks=150 "
                                                  "--set models.0.retrain_months=6 (repeatable)"),
    force: bool = typer.Option(False, "--force", help="run every step again (same runs/backtests are still reused)"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Run a workflow: data -> factor evaluations -> models -> backtests -> reports, saved as an
    experiment under $FLYER_HOME/experiments/<key>/ (key: the content hash of the resolved workflow
    and of the data its steps read). Rerunning an unchanged workflow on the same data does nothing."""
    from flyer import experiments
    from flyer.workflow import load

    wf = load(workflow, tuple(overrides or ()))
    console.print(f"[bold]workflow {wf.name}[/] (workflow key {wf.key}): {len(wf.factors)} factor set(s), "
                  f"{len(wf.models)} model(s), {len(wf.backtests)} backtest(s)")
    exp = experiments.run(home, wf, force=force, log=lambda m: console.print(m, markup=False, highlight=False))
    print_summary(exp.summary)
    console.print(f"experiment {exp.id} -> {exp.path}")


def print_summary(s: dict[str, Any]) -> None:
    """The experiment's models and backtests as two tables."""
    fmt = lambda v, f="{:.4f}": "-" if v is None or v != v else f.format(v)  # noqa: E731
    if s.get("models"):
        t = Table("model", "run", "factors", "universe", "test IC", "RankIC", "ICIR", box=box.SIMPLE_HEAD,
                  title="models (test period)")
        for m in s["models"]:
            t.add_row(m["name"], m["run"], str(m["factors"]), m["universe"], fmt(m.get("IC")), fmt(m.get("RankIC")),
                      fmt(m.get("ICIR"), "{:.3f}"))
        console.print(t)
    if s.get("backtests"):
        t = Table("backtest", "model", "annual return", "excess / yr", "IR", "max drawdown", "turnover / yr",
                  box=box.SIMPLE_HEAD, title=f"backtests vs {s['backtests'][0].get('benchmark', '')}")
        for b in s["backtests"]:
            t.add_row(b["name"], b["model"], fmt(b.get("annual_return"), "{:.2%}"),
                      fmt(b.get("excess_annual_return"), "{:.2%}"), fmt(b.get("information_ratio"), "{:.2f}"),
                      fmt(b.get("max_drawdown"), "{:.2%}"), fmt(b.get("annual_turnover"), "{:.1f}x"))
        console.print(t)
        for b in s["backtests"]:
            if b.get("report"):
                console.print(f"report {b['name']}/{b['model']}: {b['report']}", markup=False, highlight=False)
    for f in s.get("factors", []):
        if f.get("report"):
            console.print(f"factor report {f['label']}: {f['report']}", markup=False, highlight=False)


def experiments_cmd(home: Optional[Path] = HomeOpt) -> None:
    """List experiments, newest first, with their best backtest's excess return and IR."""
    from flyer.experiments import list_experiments

    df = list_experiments(home)
    if df.height == 0:
        console.print("no experiments yet: `flyer run examples/demo.toml` creates one")
        return
    t = Table(title=f"{df.height} experiment(s) (newest first, created in UTC; best: the backtest with the "
              "highest excess)", box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 0))
    for c in ("id", "created", "name", "status", "models", "backtests", "excess", "IR"):
        t.add_column(c, no_wrap=True, overflow="ellipsis", min_width=8 if c == "name" else None,
                     max_width=16 if c == "name" else None)
    fmt = lambda v, f: "-" if v is None else f.format(v)  # noqa: E731
    for r in df.iter_rows(named=True):
        t.add_row(r["id"], r["created"][2:16].replace("T", " "), r["name"], "done" if r["status"] == "complete" else
                  "partial", str(r["models"]), str(r["backtests"]), fmt(r["best_excess"], "{:.1%}"),
                  fmt(r["best_ir"], "{:.2f}"))
    console.print(t)


def compare_cmd(
    ids: list[str] = typer.Argument(..., help="two or more run ids, saved backtest ids or experiment ids"),
    out: Optional[Path] = typer.Option(None, "--out", help="HTML page (default $FLYER_HOME/reports/compare_<ids>.html)"),
    csv: Optional[Path] = typer.Option(None, "--csv", help="also write the raw values here (CSV)"),
    self_contained: bool = typer.Option(False, "--self-contained", help="one page file with plotly.js inlined"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Side-by-side table of runs / backtests / experiments, and an HTML page with their NAV,
    excess and cumulative RankIC curves overlaid."""
    from flyer.compare import items, table, values, write_page
    from flyer.data.store import flyer_home

    its = items(home, list(ids))
    from flyer.commands.common import fitted_table

    t = table(its)
    console.print(fitted_table(list(t.columns), [list(r) for r in t.iter_rows()], title=f"compare {len(its)} item(s)"))
    path = out or flyer_home(home) / "reports" / f"compare_{'_'.join(i[:8] for i in ids)[:80]}.html"
    page = write_page(its, path, title="flyer compare: " + ", ".join(ids), self_contained=self_contained)
    console.print(f"page -> {page}", markup=False)
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        values(its).write_csv(csv)
        console.print(f"values -> {csv}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("run")(run_cmd)
    app.command("experiments")(experiments_cmd)
    app.command("compare")(compare_cmd)
