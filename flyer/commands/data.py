"""``flyer ingest`` and ``flyer info``: fill the market store and show what it holds."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer

from flyer.commands.common import HomeOpt, console, open_store, parse_date
from flyer.core.errors import UsageError

if TYPE_CHECKING:
    from flyer.data.store import IngestReport, MarketStore


def print_report(report: IngestReport) -> None:
    """One line per table written, then the first rejection messages."""
    for table, n in report.written.items():
        rej = report.rejected.get(table, 0)
        console.print(f"  {table:<14} {n:>12,} rows written" + (f", {rej:,} rejected" if rej else ""))
    for msg in report.messages[:10]:
        console.print(f"  [yellow]note[/] {msg}")


def print_info(store: MarketStore) -> None:
    """What the store holds: symbols, span, rows, indexes, industries, valuations, from when
    each table is point-in-time and from when back-filled, the span where ST is unknown, and
    the last ingest."""
    from rich.table import Table

    info = store.info()
    console.print(f"[bold]store[/] {info.path}")
    console.print(f"  symbols {info.symbols:,}  bars {info.bar_rows:,}  "
                  f"span {info.first_date} .. {info.last_date}  calendar days {info.calendar_days:,}")
    from flyer.data.markets import held

    markets = held(store)
    console.print("  market: " + ("; ".join(m.describe() for m in markets) if markets else
                                  "not recorded (a store written before markets were recorded)")
                  + (" (mixed on request)" if len(markets) > 1 else ""), markup=False)
    table = Table("index", "first", "last", "bars", "member snapshots", "last snapshot")
    members = {r["index_code"]: r for r in info.memberships.iter_rows(named=True)}
    for r in info.indexes.iter_rows(named=True):
        m = members.get(r["index_code"], {})
        table.add_row(r["index_code"], str(r["first"]), str(r["last"]), f"{r['rows']:,}",
                      str(m.get("snapshots", 0)), str(m.get("last", "-")))
    console.print(table)
    _print_tables(store)
    last = info.last_ingest
    if last:
        console.print(f"  last ingest #{last['id']} {last['source']} {last['status']} at {last['finished_at']:%Y-%m-%d %H:%M}: "
                      f"{last['rows_written']:,} rows written, {last['rows_rejected']:,} rejected")


def _print_tables(store: MarketStore) -> None:
    """Industries, valuations and the coverage lines (point-in-time / back-filled / unknown)."""
    from flyer.data.coverage import summary, valuation_coverage

    for std in store.industry_standards():
        n, first = store.one("SELECT count(DISTINCT symbol), min(start_date) FROM industries WHERE standard = ?", [std])
        console.print(f"  industries {std}: {n:,} stocks, intervals from {first}")
    vals = valuation_coverage(store)
    if vals.height:
        parts = [f"{r['exchange']} PE {r['pe']:.1%} PB {r['pb']:.1%}" for r in vals.iter_rows(named=True)]
        console.print("  valuations (share of traded stock-days): " + ", ".join(parts))
    spans = summary(store)
    if not spans:
        console.print("  coverage: not recorded by this store's sources (sim, or a store from before coverage)")
    for sp in spans:
        console.print(f"  coverage {sp.line()}")


def ingest(
    source: str = typer.Option("sim", "--source", help="sim | files | ashare | akshare | baostock"),
    path: Optional[Path] = typer.Option(None, "--path", help="files: file or folder; ashare: the ../shared/ashare folder"),
    layout: Optional[str] = typer.Option(None, "--layout", help="files layout: auto, long, tushare, akshare, qlib, xbx"),
    start: Optional[str] = typer.Option(None, "--start", help="first date YYYY-MM-DD"),
    end: Optional[str] = typer.Option(None, "--end", help="last date YYYY-MM-DD"),
    stocks: Optional[int] = typer.Option(None, "--stocks", help="sim: number of stocks (10-5000, default 800)"),
    seed: Optional[int] = typer.Option(None, "--seed", help="sim: random seed (default 42)"),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="akshare, baostock: comma-separated codes (default: all)"),
    mix_markets: bool = typer.Option(False, "--mix-markets", help="let a store that holds one market (a sim of "
                                     "another size or seed, or real data) take this one too"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Ingest market data into the store (validated, transactional, idempotent). A store holds
    one market: another sim or real data over a sim is refused unless --mix-markets."""
    import dataclasses

    from flyer.data.sources import base
    from flyer.data.store import DB_NAME, flyer_home

    if source not in base.kinds():
        raise UsageError(f"unknown source {source!r} (--source): choose one of {', '.join(base.kinds())}")
    given = {"path": path, "layout": layout, "start": parse_date(start, "--start"), "end": parse_date(end, "--end"),
             "stocks": stocks, "seed": seed, "symbols": symbols}
    takes = {f.name for f in dataclasses.fields(base.source_class(source))}
    wrong = [k for k, v in given.items() if v is not None and k not in takes]
    if wrong:
        raise UsageError(f"--source {source} does not take {', '.join('--' + k for k in wrong)}")
    src = base.make_source(source, **given)
    home_path = flyer_home(home, create=False)
    fresh = (not home_path.exists(), not (home_path / DB_NAME).exists())
    try:
        with open_store(home) as store:
            console.print(f"ingesting from {source} ...")
            report = base.ingest(store, src, mix=mix_markets)
    except BaseException:
        _undo_created(home_path, *fresh)
        raise
    console.print(f"[green]ingest #{report.ingest_id} from {source} done[/]: "
                  f"{report.rows_written:,} rows written, {report.rows_rejected:,} rejected")
    print_report(report)


def _undo_created(home: Path, created_home: bool, created_store: bool) -> None:
    """After a failed first ingest: remove the store this command created when nothing was
    logged in it (the source failed before writing), empty cache folders, and the home folder
    when this command created it and it is empty: a failure leaves nothing behind."""
    from flyer.data.store import DB_NAME

    store = home / DB_NAME
    if created_store and store.exists() and not _logged(store):
        for path in (store, store.with_name(store.name + ".wal")):
            path.unlink(missing_ok=True)
    cache = home / "cache"
    if cache.is_dir():
        for folder in sorted((p for p in cache.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
            if not any(folder.iterdir()):
                folder.rmdir()
        if not any(cache.iterdir()):
            cache.rmdir()
    if created_home and home.is_dir() and not any(home.iterdir()):
        home.rmdir()


def _logged(path: Path) -> bool:
    """Whether the store at ``path`` has any ingest logged (a failed write is kept, with its log)."""
    from flyer.data.store import MarketStore, StoreError

    try:
        with MarketStore(path, read_only=True, wait_s=0) as store:
            return bool(store.one("SELECT count(*) FROM ingest_log")[0])
    except StoreError:
        return True  # cannot tell: keep it


def info(home: Optional[Path] = HomeOpt) -> None:
    """Show what the market store holds."""
    with open_store(home, read_only=True, must_exist=True) as store:
        print_info(store)


def check(
    area: Optional[str] = typer.Option(None, "--area", help="only these areas (comma-separated): store, fields, "
                                       "trading, adjustment, calendar, membership, index, coverage"),
    factors: Optional[str] = typer.Option(None, "--factors", help="also a factor set's null share per factor and "
                                          "year (alpha158, a .toml file, ...)"),
    universe: str = typer.Option("all", "--universe", help="--factors: over this universe (all | csi500 | ...)"),
    start: Optional[str] = typer.Option(None, "--start", help="--factors: first date"),
    end: Optional[str] = typer.Option(None, "--end", help="--factors: last date"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Data-health report of the store: null shares per field and year with regime changes
    (a field that vanishes), suspended and limit-day shares, moves beyond the price limit that
    no adjustment explains, calendar gaps and how far the calendar reaches, membership counts,
    index coverage, coverage spans, and with --factors a factor set's null shares by year.
    Exits 1 when a check reports an error or the store is damaged."""
    from rich.table import Table

    from flyer.data import health

    areas = tuple(a.strip() for a in area.split(",")) if area else None
    with open_store(home, read_only=True, must_exist=True) as store:
        findings = health.run(store, areas) if areas or not factors else health.run(store)
        if factors:
            findings += _factor_findings(store, home, factors, universe, parse_date(start, "--start"),
                                         parse_date(end, "--end"))
    findings = sorted(findings, key=lambda f: health.LEVELS.index(f.level))  # errors, then warnings
    style = {"error": "red", "warning": "yellow", "info": "cyan"}
    for f in findings:
        console.print(f"[{style[f.level]}]{f.level:<7}[/] {f.area:<10} {f.message}")
        if f.table is not None and f.table.height:
            table = Table()
            for i, c in enumerate(f.table.columns):
                table.add_column(c, no_wrap=i == 0)
            for row in f.table.iter_rows():
                table.add_row(*(f"{v:.4f}" if isinstance(v, float) else f"{v:,}" if isinstance(v, int)
                                and not isinstance(v, bool) and abs(v) >= 10_000 else str(v) for v in row))
            console.print(table)
    if any(f.level == "error" for f in findings):
        raise typer.Exit(1)


def _factor_findings(store, home, name, universe, start, end):  # noqa: ANN001, ANN202 - -> list[Finding]
    from flyer.data.store import flyer_home
    from flyer.data.universe import members
    from flyer.factors import health as fh
    from flyer.factors.library import load

    fs = load(name)
    shares = fh.null_shares(store, flyer_home(home), fs, start, end, universe=members(store, universe, start, end))
    return fh.findings(shares, f"{fs.name} ({fs.key()}) on {universe}")


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("info")(info)
    app.command("check")(check)
