"""``flyer mine``: genetic-programming factor mining on the local store (``flyer.factors.mining``).

Loads the market panel once, evaluates candidates serially or on Ray, shows a progress bar per
generation, checkpoints every generation next to ``--out`` (``<out>.ckpt.json``; a rerun with
the same arguments resumes) and writes the accepted pool as a TOML formula file.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from flyer.commands.common import HomeOpt, console, open_store, parse_span
from flyer.errors import FlyerError


def mine_cmd(
    universe: str = typer.Option("csi500", "--universe", help="all | csi500 | csi300 (point-in-time members)"),
    horizon: int = typer.Option(5, "--horizon", help="label: forward return close(t+1+h) / close(t+1) - 1 over h days (adjusted)"),
    generations: int = typer.Option(20, "--generations"),
    population: int = typer.Option(500, "--population"),
    train_span: str = typer.Option("2016-01-01:2020-12-31", "--train", help="START:END"),
    valid_span: str = typer.Option("2021-01-01:2022-12-31", "--valid", help="START:END"),
    out: Optional[Path] = typer.Option(None, "--out", help="pool file (.toml); default $FLYER_HOME/mining/mined.toml"),
    mode: str = typer.Option("ray", "--mode", help="ray | serial"),
    address: Optional[str] = typer.Option(None, "--address", help="existing Ray cluster (implies --mode ray)"),
    workers: int = typer.Option(0, "--workers", help="local Ray CPUs (0 = all cores)"),
    batch_size: int = typer.Option(16, "--batch-size", help="candidates per evaluation task"),
    seed: int = typer.Option(0, "--seed"),
    max_pool: int = typer.Option(20, "--max-pool", help="stop accepting after this many factors"),
    fresh: bool = typer.Option(False, "--fresh", help="ignore an existing checkpoint"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Mine formulaic factors by genetic programming; writes the accepted ones to --out."""
    from flyer.data.store import flyer_home
    from flyer.factors.mining import SearchConfig, load_data, make_evaluator, mine, write_pool

    train, valid = parse_span(train_span, "--train"), parse_span(valid_span, "--valid")
    assert train is not None and valid is not None
    if horizon < 1:
        raise FlyerError(f"--horizon must be >= 1, got {horizon}")
    cfg = SearchConfig(population=population, generations=generations, seed=seed, max_pool=max_pool)
    out = (out or flyer_home(home) / "mining" / "mined.toml").expanduser()
    if out.suffix.lower() != ".toml":
        raise FlyerError(f"--out must be a .toml file, got {out}")
    ckpt = out.with_name(out.name + ".ckpt.json")
    if fresh and ckpt.exists():
        ckpt.unlink()
    identity = {"universe": universe, "horizon": horizon, "train": str(train), "valid": str(valid)}
    with open_store(home, read_only=True, must_exist=True) as store:
        with console.status(f"loading {universe} bars ..."):
            data = load_data(store, universe, horizon, train, valid, cfg.grammar.fields,
                             cfg.grammar.max_lookback)
    console.print(f"panel: {data.shape[0]} days x {data.shape[1]} symbols, {data.train_idx.size} training "
                  f"and {data.valid_idx.size} validation dates; checkpoint {ckpt}")
    evaluator = make_evaluator(data, mode, num_cpus=workers or None, address=address, batch_size=batch_size)
    try:
        result = _run(evaluator, cfg, ckpt, identity)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: rerun the same command to resume from {ckpt}")
        raise typer.Abort() from None
    finally:
        evaluator.close()
    write_pool(out, result.pool, header=f"flyer mine: {universe}, horizon {horizon}, train {train_span}, "
                                        f"valid {valid_span}, seed {seed}")
    if result.resumed_from:
        console.print(f"resumed from the checkpoint after generation {result.resumed_from}")
    _print_pool(result.pool)
    console.print(f"{len(result.pool)} factor(s) -> {out} ({result.evaluated} candidates evaluated in this run)")


def _run(evaluator, cfg, ckpt: Path, identity: dict):
    """The search with a rich progress bar per generation and one summary line after each."""
    from flyer.factors.mining import mine

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=False) as bar:
        tasks: dict[int, int] = {}

        def progress(gen: int, done: int, total: int) -> None:
            if gen not in tasks:
                tasks[gen] = bar.add_task(f"generation {gen + 1}/{cfg.generations}", total=total)
            bar.update(tasks[gen], completed=done, total=total)

        def report(r) -> None:
            acc = f", accepted {', '.join(r.accepted)}" if r.accepted else ""
            bar.console.print(f"  gen {r.generation + 1}: {r.evaluated} evaluated ({r.failed} failed), "
                              f"best {r.best_fitness:.3f} {r.best_formula}{acc}; pool {r.pool_size}")

        return mine(evaluator, cfg, checkpoint=ckpt, identity=identity, on_generation=report,
                    progress=progress)


def _print_pool(pool) -> None:
    table = Table()
    table.add_column("name", no_wrap=True)
    table.add_column("formula", overflow="fold", ratio=1)
    for head in ("train RankIC", "train ICIR", "valid RankIC", "valid ICIR", "gen"):
        table.add_column(head, justify="right")
    for p in pool:
        row = dataclasses.asdict(p)
        table.add_row(p.name, p.formula, *(f"{row[k]:.4f}" for k in ("train_ic", "train_icir", "valid_ic", "valid_icir")),
                      str(p.generation + 1))
    console.print(table)


def register(app: typer.Typer) -> None:
    app.command("mine")(mine_cmd)
