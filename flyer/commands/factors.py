"""``flyer factors compute | eval | list``: factor values into storage, evaluation, libraries."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from flyer.commands.common import HomeOpt, console, open_store, parse_date
from flyer.core.errors import FlyerError, UsageError

sub = typer.Typer(no_args_is_help=True, help="Factor values: compute, evaluate, list libraries.")


def _load(set_name: str, factors: Optional[str], formulas: Optional[list[str]] = None):
    """The set to work on: ``--formula`` texts (``name=formula`` or a bare formula) when given,
    else the library set or file ``set_name`` (a ``--factors`` subset of it)."""
    from flyer.factors.factorset import FactorSet
    from flyer.factors.library import load

    if formulas:
        named = {}
        for i, text in enumerate(formulas, 1):
            name, sep, body = text.partition("=")
            plain = not sep or not name.strip().isidentifier() or body.startswith("=")
            named[f"f{i}" if plain else name.strip()] = text if plain else body
        return FactorSet.from_formulas("formula", named)
    fs = load(set_name)
    return fs.select([f.strip() for f in factors.split(",")]) if factors else fs


@sub.command("compute")
def compute_cmd(
    set_name: str = typer.Option("alpha158", "--set", help="alpha158 | alpha360 | wq101 | a .toml/.yaml file"),
    start: Optional[str] = typer.Option(None, "--start", help="first date (default: after the last stored date)"),
    end: Optional[str] = typer.Option(None, "--end", help="last date (default: the store's last day)"),
    qlib_compat: bool = typer.Option(False, "--qlib-compat", help="qlib's partial windows and float32 values"),
    chunk_rows: int = typer.Option(750_000, "--chunk-rows", help="rows per computed date chunk (memory bound)"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Compute a factor set and write it under $FLYER_HOME/factors/<key>/date=YYYY-MM-DD/ (key: the
    set's content hash: formulas, names, order, --qlib-compat mode, engine version)."""
    from flyer.data.store import flyer_home
    from flyer.factors.pipeline import update

    fs = _load(set_name, None)
    with open_store(home, read_only=True, must_exist=True) as store:
        console.print(f"computing {fs.name} ({len(fs)} factors) ...")
        rep = update(store, flyer_home(home), fs, parse_date(start, "--start"), parse_date(end, "--end"),
                     qlib_compat=qlib_compat, chunk_rows=chunk_rows)
    mode = ", qlib-compat" if qlib_compat else ""
    if rep.dates_written == 0:
        console.print(f"{fs.name} (key {rep.key}{mode}): nothing to compute (already up to date in {rep.root})")
        return
    console.print(f"[green]{fs.name}[/] (key {rep.key}{mode}): {rep.dates_written:,} dates {rep.first}..{rep.last}, "
                  f"{rep.rows:,} rows x {len(fs)} factors in {rep.seconds:.1f}s -> {rep.root}")


@sub.command("eval")
def eval_cmd(
    set_name: str = typer.Option("alpha158", "--set", help="alpha158 | alpha360 | wq101 | a .toml/.yaml file"),
    factors: Optional[str] = typer.Option(None, "--factors", help="comma-separated subset of the set"),
    formula: Optional[list[str]] = typer.Option(None, "--formula", help="evaluate this formula instead of a set: "
                                                "'Mean($close, 5) / $close' or 'rev5=-Delta($close, 5)' (repeatable)"),
    universe: str = typer.Option("all", "--universe", help="all | csi500 | csi300 | an index code"),
    horizon: int = typer.Option(5, "--horizon", help="forward-return horizon in trading days"),
    quantiles: int = typer.Option(5, "--quantiles", help="quantile groups per date (5 or 10)"),
    start: Optional[str] = typer.Option(None, "--start", help="first date"),
    end: Optional[str] = typer.Option(None, "--end", help="last date"),
    report: Optional[Path] = typer.Option(None, "--report", help="write an HTML report here (plotly.js beside it)"),
    detail: str = typer.Option("5", "--detail", help="report: per-factor sheets for the N best by |RankIC ICIR|, "
                               "for named factors (KMID,ROC5) or for all (at most 40)"),
    absolute: bool = typer.Option(False, "--absolute-returns", help="report: quantile returns as they are "
                                  "(default: demeaned, minus the date's universe mean)"),
    self_contained: bool = typer.Option(False, "--self-contained", help="report: one file with plotly.js inlined"),
    out: Optional[Path] = typer.Option(None, "--out", help="write the evaluation tables (summary, daily IC, "
                                       "quantiles, turnover, ...) into this folder"),
    fmt: str = typer.Option("csv", "--format", help="--out files: csv | parquet"),
    top: int = typer.Option(20, "--top", help="rows of the ranked table to print"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Evaluate factors (IC, RankIC, quantiles, turnover) and print a table ranked by |RankIC ICIR|."""
    from flyer.data.store import flyer_home
    from flyer.factors import evaluation as ev
    from flyer.factors import report as rep
    from flyer.factors.pipeline import evaluate
    from flyer.factors.tearsheet import report_sheets

    if horizon < 1 or quantiles < 2:
        raise FlyerError("--horizon must be >= 1 and --quantiles >= 2")
    picked: int | str = int(detail) if detail.strip().isdigit() else detail
    fs = _load(set_name, factors, formula)
    if report and isinstance(picked, str) and picked.strip() != "all":  # names checked before any work
        unknown = [n.strip() for n in picked.split(",") if n.strip() and n.strip() not in {name for name, _ in fs}]
        if unknown:
            raise UsageError(f"--detail: no factor {', '.join(unknown)} in {fs.name}")
    t0 = time.perf_counter()
    with open_store(home, read_only=True, must_exist=True) as store:
        console.print(f"evaluating {fs.name} ({len(fs)} factors) on {universe} ...")
        evals, values = evaluate(store, flyer_home(home), fs, start=parse_date(start, "--start"),
                                 end=parse_date(end, "--end"), universe=universe, horizon=horizon,
                                 quantiles=quantiles)
        page = ""
        if report:
            sheets, note = report_sheets(store, evals, values, picked, demean=not absolute)
            page = rep.build(evals, title=f"{fs.name}: {universe}, {horizon}-day horizon", values=values,
                             sheets=sheets, detail_note=note)
    summary = ev.summary_table(evals)
    _print_summary(summary.head(top), f"{fs.name} on {universe}, {horizon}-day forward return")
    dropped = sum(e.cleaning.rows_in - e.cleaning.rows_kept for e in evals.values())
    kept = sum(e.cleaning.rows_kept for e in evals.values())
    console.print(f"factor-rows kept {kept:,}, dropped {dropped:,} (missing factor value or forward return; "
                  f"per factor in the report; the universe is applied when loading) in {time.perf_counter() - t0:.1f}s")
    if report:
        console.print(f"report -> {rep.write(report, page, self_contained=self_contained)}", markup=False)
    if out:
        from flyer.factors.tables import export_tables

        console.print(f"tables -> {export_tables(evals, out, fmt)}", markup=False)


#: (summary column, header, format) of the printed ranked table
_COLUMNS = (("rank_ic_mean", "RankIC", "{:.4f}"), ("rank_icir", "RankICIR", "{:.3f}"), ("rank_ic_t", "t NW", "{:.2f}"),
            ("ic_mean", "IC", "{:.4f}"), ("icir", "ICIR", "{:.3f}"), ("top_minus_bottom", "Q5-Q1", "{:.2%}"),
            ("top_excess", "top-univ", "{:.2%}"), ("turnover", "turn", "{:.0%}"),
            ("rank_autocorr", "autoc", "{:.2f}"), ("dropped", "drop", "{:.1%}"))


def _print_summary(summary, title: str) -> None:  # noqa: ANN001 - pl.DataFrame
    from flyer.commands.common import fitted_table

    rows = [[r["factor"], *[_fmt(f, r[c]) for c, _, f in _COLUMNS]] for r in summary.iter_rows(named=True)]
    console.print(fitted_table(["factor", *[h for _, h, _ in _COLUMNS]], rows,
                               title=f"{title} (t: Newey-West, horizon lags)"))


def _fmt(fmt: str, v: object) -> str:
    return fmt.format(v) if isinstance(v, (int, float)) and v == v else "-"


@sub.command("list")
def list_cmd(
    set_name: Optional[str] = typer.Option(None, "--set", help="show this set's factors and formulas"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """List factor libraries and stored sets (name, content key, mode, dates), or one set's factors."""
    from flyer.data.store import flyer_home
    from flyer.factors import storage
    from flyer.factors.factorset import ENGINE_VERSION
    from flyer.factors.library import load, names

    from rich import box

    if set_name:
        fs = load(set_name)
        table = Table("factor", "lookback", "formula", title=f"{fs.name}: {len(fs)} factors")
        for n, e in fs:
            table.add_row(n, str(e.lookback), str(e))
        console.print(table)
        return
    table = Table("set", "key", "mode", "factors", "lookback", "dates", "first", "last", box=box.SIMPLE_HEAD,
                  show_edge=False, padding=(0, 0), title="factor sets (stored values: $FLYER_HOME/factors/<key>/)")
    stored = storage.list_sets(flyer_home(home))
    by_key = {st.root.name: st for st in stored if not st.legacy}
    for n in names():
        fs = load(n)
        st = by_key.pop(fs.key(), None)
        table.add_row(n, fs.key(), "default", str(len(fs)), str(fs.lookback), *_span(st.dates if st else ()))
    for st in by_key.values():
        m = st.manifest or {}
        mode = "qlib-compat" if m.get("qlib_compat") else "default"
        if m.get("engine") != ENGINE_VERSION:
            mode += f" (stale: engine {m.get('engine')})"
        table.add_row(str(m.get("name", "?")), st.root.name, mode, str(len(m.get("formulas") or {})),
                      _lookback(m), *_span(st.dates))
    console.print(table)
    legacy = [st.root.name for st in stored if st.legacy]
    if legacy:
        console.print(f"old layout, not read (no manifest.json; recompute, then delete): "
                      f"{', '.join(f'factors/{n}/' for n in legacy)}")


def _lookback(manifest: dict) -> str:
    from flyer.factors.factorset import FactorSet
    from flyer.factors.parser import FormulaError

    try:
        return str(FactorSet.from_formulas(str(manifest.get("name")), manifest["formulas"]).lookback)
    except (FormulaError, KeyError, TypeError, ValueError):
        return "?"


def _span(days: tuple) -> tuple[str, str, str]:
    """(count, first, last) of stored dates."""
    return (f"{len(days):,}", str(days[0]), str(days[-1])) if days else ("-", "", "")


def register(app: typer.Typer) -> None:
    app.add_typer(sub, name="factors")
