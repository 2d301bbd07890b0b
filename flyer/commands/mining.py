"""``flyer mine``: factor mining that builds a weighted pool, with a held-out report.

Loads the market panel once (point-in-time universe), evaluates candidates serially or on Ray
(a local instance or a cluster at ``--address``), shows a progress bar per generation,
checkpoints every generation next to ``--out`` (``<out>.ckpt.json``; a rerun with the same
arguments resumes), writes the pool with its weights (``--out``, a factor-set TOML file that
``flyer factors eval``, ``flyer train --factors`` and ``flyer backtest --factor-set --combined``
read) and the held-out report next to it (``<out stem>.report.md``): the combined IC / RankIC
on train, validation and test and per year, per-member ICs, the correlation matrix, and the
same for a baseline pool of the top Alpha158 factors by validation IC.
"""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any, Optional

import typer

from flyer.commands.common import HomeOpt, console, open_store, parse_span
from flyer.core.errors import FlyerError, UsageError


def mine_cmd(
    universe: str = typer.Option("csi500", "--universe", help="all | csi500 | csi300 (point-in-time members)"),
    horizon: int = typer.Option(20, "--horizon", help="label: forward return close(t+1+h) / close(t+1) - 1 over h days (adjusted)"),
    objective: str = typer.Option("pool", "--objective", help="pool (combined-IC gain of a weighted pool) | single (one formula's ICIR)"),
    generations: int = typer.Option(20, "--generations"),
    population: int = typer.Option(200, "--population"),
    train_span: str = typer.Option("2016-01-01:2020-12-31", "--train", help="START:END (weights and fitness)"),
    valid_span: str = typer.Option("2021-01-01:2022-06-30", "--valid", help="START:END (acceptance)"),
    test_span: Optional[str] = typer.Option(None, "--test", help="START:END held out: only the report reads it"),
    out: Optional[Path] = typer.Option(None, "--out", help="pool file (.toml); default $FLYER_HOME/mining/mined.toml"),
    mode: str = typer.Option("ray", "--mode", help="ray | serial"),
    address: Optional[str] = typer.Option(None, "--address", help="existing Ray cluster, e.g. 10.0.0.5:6379 (implies --mode ray)"),
    workers: int = typer.Option(0, "--workers", help="Ray workers (0 = every CPU of the local machine or cluster)"),
    batch_size: int = typer.Option(8, "--batch-size", help="candidates per evaluation task"),
    seed: int = typer.Option(0, "--seed"),
    max_pool: int = typer.Option(20, "--max-pool", help="pool size (pool: the weakest leaves beyond it)"),
    min_valid_gain: float = typer.Option(0.0, "--min-valid-gain", help="pool: accept only if the validation IC rises by more"),
    norm: str = typer.Option("rank", "--norm", help="per-date standardisation of formulas and label: rank | zscore"),
    cache_mb: int = typer.Option(1024, "--cache-mb", help="node cache per worker, MB"),
    baseline: int = typer.Option(-1, "--baseline", help="Alpha158 baseline pool size (-1 = --max-pool, 0 = none)"),
    fresh: bool = typer.Option(False, "--fresh", help="ignore an existing checkpoint"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Mine a weighted pool of formulaic factors; writes it to --out with a held-out report."""
    from flyer.data.store import flyer_home
    from flyer.factors.mining import Grammar, SearchConfig, load_data, make_evaluator

    t_start = time.perf_counter()
    train, valid = parse_span(train_span, "--train"), parse_span(valid_span, "--valid")
    test = parse_span(test_span, "--test") if test_span else None
    assert train is not None and valid is not None
    _check_options(horizon=horizon, population=population, generations=generations, batch_size=batch_size,
                   workers=workers, max_pool=max_pool, cache_mb=cache_mb)
    if address:
        from flyer.factors.mining.parallel import check_reachable

        check_reachable(address)   # seconds, before loading anything: Ray would retry for minutes
    cfg = SearchConfig(objective=objective, population=population, generations=generations, seed=seed,
                       max_pool=max_pool, norm=norm, min_valid_gain=min_valid_gain, grammar=Grammar())
    out = (out or flyer_home(home) / "mining" / "mined.toml").expanduser()
    if out.suffix.lower() != ".toml":
        raise FlyerError(f"--out must be a .toml file, got {out}")
    ckpt = out.with_name(out.name + ".ckpt.json")
    if fresh and ckpt.exists():
        ckpt.unlink()
    identity = {"universe": universe, "horizon": horizon, "train": str(train), "valid": str(valid)}
    with open_store(home, read_only=True, must_exist=True) as store:
        with console.status(f"loading {universe} bars ..."):
            data = load_data(store, universe, horizon, train, valid, test, cfg.grammar.fields,
                             cfg.grammar.max_lookback)
    counts = [data.period_dates(p).size for p in range(3)]
    console.print(f"panel: {len(data.dates)} days x {len(data.symbols)} symbols ({data.panel.height:,} rows), "
                  f"{data.n_cells:,} labelled member cells; {counts[0]} train / {counts[1]} valid / {counts[2]} "
                  f"test dates; checkpoint {ckpt}")
    if test is None:
        console.print("[yellow]no --test span[/]: the report has no held-out figures beyond validation")
    evaluator = make_evaluator(data, mode, workers=workers or None, address=address, batch_size=batch_size,
                               norm=norm, cache_mb=cache_mb)
    try:
        console.print(f"evaluation: {evaluator.describe()}")
        result = _run(evaluator, cfg, ckpt, identity)
        meta = {"objective": objective, "universe": universe, "norm": norm, "horizon": horizon,
                "train": train_span, "valid": valid_span, "test": test_span or "", "seed": seed,
                "ridge": cfg.ridge, "train_ic": result.history[-1].train_ic if result.history else 0.0,
                "valid_ic": result.history[-1].valid_ic if result.history else 0.0}
        _write(out, result, meta)
        _report(out, evaluator.local, result, cfg, baseline if baseline >= 0 else max_pool, meta)
    except KeyboardInterrupt:
        console.print(f"[yellow]interrupted[/]: rerun the same command to resume from {ckpt}")
        raise typer.Abort() from None
    finally:
        evaluator.close()
    c = result.cache
    console.print(f"run: {result.evaluated:,} candidates evaluated in {result.seconds:.1f} s "
                  f"({result.per_second:.2f} candidates/s, node cache hit rate {c.hit_rate:.1%}); "
                  f"wall time {time.perf_counter() - t_start:.1f} s")


def _check_options(**values: int) -> None:
    """``UsageError`` (exit 2) naming the option when a count is out of range."""
    from flyer.factors.mining import SearchConfig

    elite = SearchConfig.elite  # the best formulas carried unchanged into each next generation
    low = {"horizon": 1, "population": elite + 1, "generations": 1, "batch_size": 1, "workers": 0,
           "max_pool": 1, "cache_mb": 1}
    why = {"population": f" (the {elite} elites carried into each next generation plus one new formula)"}
    for name, value in values.items():
        if value < low[name]:
            raise UsageError(f"--{name.replace('_', '-')} must be >= {low[name]}{why.get(name, '')}, got {value}")


def _run(evaluator: Any, cfg: Any, ckpt: Path, identity: dict) -> Any:
    """The search with a progress task per generation (``flyer.core.progress``: a bar on a terminal,
    plain lines when not) and one summary line after each generation."""
    from flyer.core import progress as bars
    from flyer.factors.mining import mine

    open_task: dict[int, Any] = {}

    def progress(gen: int, done: int, total: int) -> None:
        if gen not in open_task:
            for old in open_task.values():
                old.close()
            open_task.clear()
            open_task[gen] = bars.task(f"generation {gen + 1}/{cfg.generations}", total=total, unit="candidates")
        open_task[gen].update(done, total=total)

    def report(r: Any, timing: Any) -> None:
        for t in open_task.values():
            t.close()
        open_task.clear()
        acc = f", accepted {', '.join(r.accepted)}" if r.accepted else ""
        acc += f", dropped {', '.join(r.dropped)}" if r.dropped else ""
        console.print(f"  gen {r.generation + 1}: {r.evaluated} evaluated ({r.failed} failed, "
                      f"{timing.per_second:.1f}/s, cache hit rate {timing.cache.hit_rate:.0%}), best "
                      f"{r.best_fitness:.4f} {r.best_formula}{acc}; pool {r.pool_size}, combined IC "
                      f"train {r.train_ic:.4f} valid {r.valid_ic:.4f}")

    try:
        result = mine(evaluator, cfg, checkpoint=ckpt, identity=identity, on_generation=report, progress=progress)
    finally:
        for t in open_task.values():
            t.close()
    if result.resumed_from:
        console.print(f"resumed from the checkpoint after generation {result.resumed_from}")
    return result


def _write(out: Path, result: Any, meta: dict) -> None:
    from flyer.factors.mining import write_pool

    header = (f"flyer mine ({meta['objective']} objective): {meta['universe']} point in time, horizon "
              f"{meta['horizon']}, norm {meta['norm']}, train {meta['train']}, valid {meta['valid']}, "
              f"seed {meta['seed']}\ncombined IC (closed form, training weights): train {meta['train_ic']:.4f}, "
              f"valid {meta['valid_ic']:.4f}")
    write_pool(out, result.pool, result.weights, meta, header=header)
    if not result.pool:
        console.print(f"[yellow]no formula was accepted[/]: wrote an empty (loadable) pool to {out}; "
                      "try more --generations or a larger --population")
    else:
        console.print(f"{len(result.pool)} factor(s) with weights -> {out}")


def _report(out: Path, scorer: Any, result: Any, cfg: Any, baseline: int, meta: dict) -> None:
    """Held-out figures of the pool and the Alpha158 baseline: printed and written as markdown."""
    from flyer.core.atomic import atomic_text
    from flyer.factors.library import load
    from flyer.factors.mining import baseline_pool, pool_figures
    from flyer.factors.mining.report import to_markdown

    pools = [pool_figures(scorer, "mined pool", tuple(p.name for p in result.pool),
                          tuple(p.formula for p in result.pool), result.weights)]
    note = ""
    if baseline > 0:
        with console.status(f"baseline: evaluating Alpha158 for the top {baseline} by validation IC ..."):
            names, formulas, weights, n_ok = baseline_pool(scorer, load("alpha158").formulas(), baseline,
                                                           cfg.corr_bound, cfg.ridge)
        pools.append(pool_figures(scorer, f"baseline: top {len(names)} Alpha158 by validation IC", names,
                                  formulas, weights))
        note = (f"baseline: the {len(names)} Alpha158 factors with the largest |validation IC| among {n_ok} that "
                f"evaluate, skipping any correlated >= {cfg.corr_bound} with one already chosen; weights "
                "fitted on training as the miner's")
    notes = _notes(meta, note)
    path = out.with_name(out.stem + ".report.md")
    atomic_text(to_markdown(f"flyer mine report: {out.name}", notes, pools), path)
    for p in pools:
        _print_pool(p, path)
    console.print(f"report -> {path}")


def _notes(meta: dict, baseline_note: str) -> list[str]:
    notes = [f"{meta['objective']} objective on {meta['universe']} (point-in-time members; cross sections "
             f"rank over that date's members), label: {meta['horizon']}-day forward return close(t+1+h) / "
             "close(t+1) - 1 on adjusted prices",
             f"train {meta['train']} (weights, fitness), valid {meta['valid']} (acceptance), test "
             f"{meta['test'] or '(none)'} (read only by this report); training and validation dates stop "
             f"{meta['horizon'] + 1} days before their span ends",
             f"members standardised per date ({meta['norm']}) over the labelled members, a missing value counting "
             "as the mean; combined signal = sum of weight x standardised member",
             "IC = mean daily Pearson correlation with the forward return, RankIC = Spearman; ICIR = mean / sd of "
             f"the daily values; t(NW) = Newey-West t-statistic with {meta['horizon']} lags (overlapping labels)",
             f"generated {dt.date.today()}"]
    if baseline_note:
        notes.append(baseline_note)
    return notes


def _print_pool(p: Any, report: Path | None = None) -> None:
    """The pool's figures as tables that fit the terminal (``fitted_table``; numbers never cut),
    the members' formulas one per line, the correlation matrix as compact heatmap rows."""
    from flyer.commands.common import fitted_table, matrix_rows

    for title, figs in ((f"{p.title}: combined signal per period", p.periods),
                        (f"{p.title}: combined signal per year", p.years)):
        rows = [[f.label, str(f.days), f"{f.ic:.4f}", f"{f.icir:.3f}", f"{f.ic_t:.2f}", f"{f.rank_ic:.4f}",
                 f"{f.rank_icir:.3f}", f"{f.rank_ic_t:.2f}"] for f in figs]
        console.print(fitted_table(["", "days", "IC", "ICIR", "IC t(NW)", "RankIC", "RankICIR", "RankIC t(NW)"],
                                   rows, title=title))
    if not p.names:
        return
    rows = [[n, f"{w:+.4f}", *(f"{x.ic:.4f} / {x.rank_ic:.4f}" for x in figs)]
            for n, w, figs in zip(p.names, p.weights, p.members)]
    console.print(fitted_table(["name", "weight", *(f.label for f in p.members[0])], rows,
                               title=f"{p.title}: members (own IC / RankIC)"))
    for n, f in zip(p.names, p.formulas):
        console.print(f"  {n} = {f}", markup=False, highlight=False)
    console.print(matrix_rows(list(p.names), p.corr, f"{p.title}: correlation matrix (training dates)"),
                  markup=False, highlight=False)
    if report is not None:
        console.print(f"every figure with two decimals: {report}", markup=False)


def register(app: typer.Typer) -> None:
    app.command("mine")(mine_cmd)
