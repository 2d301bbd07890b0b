"""``flyer ingest`` and ``flyer info``: fill the market store and show what it holds."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from flyer.data.store import IngestReport, MarketStore
from flyer.commands.common import HomeOpt, console, open_store, parse_date
from flyer.errors import FlyerError

SOURCES = ("sim", "files", "ashare", "akshare")


def ingest_source(store: MarketStore, source: str, *, path: Optional[Path] = None, layout: str = "auto",
                  start: Optional[dt.date] = None, end: Optional[dt.date] = None,
                  stocks: int = 800, seed: int = 42, symbols: Optional[list[str]] = None) -> IngestReport:
    """Run one ingest from ``source`` into ``store`` (the function the CLI and nightly job share)."""
    if source == "sim":
        from flyer.data.sources.sim import SimConfig, ingest

        cfg = SimConfig(n_stocks=stocks, seed=seed, **{k: v for k, v in (("start", start), ("end", end)) if v})
        return ingest(store, cfg)
    if source == "files":
        if path is None:
            raise FlyerError("--source files needs --path (a CSV/Parquet file or a folder of them)")
        from flyer.data.sources import files

        return files.ingest(store, path, layout=layout)
    if source == "ashare":
        from flyer.data.sources import ashare

        root = path or Path(__file__).resolve().parents[3] / "shared" / "ashare"
        return ashare.ingest(store, root, start=start, end=end)
    if source == "akshare":
        from flyer.data.sources import akshare_source

        return akshare_source.ingest(store, start=start, end=end, symbols=symbols)
    raise FlyerError(f"unknown source {source!r}: choose one of {', '.join(SOURCES)}")


def print_report(report: IngestReport) -> None:
    """One line per table written, then the first rejection messages."""
    for table, n in report.written.items():
        rej = report.rejected.get(table, 0)
        console.print(f"  {table:<14} {n:>12,} rows written" + (f", {rej:,} rejected" if rej else ""))
    for msg in report.messages[:10]:
        console.print(f"  [yellow]rejected[/] {msg}")


def print_info(store: MarketStore) -> None:
    """What the store holds: symbols, span, rows, indexes, last ingest."""
    info = store.info()
    console.print(f"[bold]store[/] {info['path']}")
    console.print(f"  symbols {info['symbols']:,}  bars {info['bar_rows']:,}  "
                  f"span {info['first_date']} .. {info['last_date']}  calendar days {info['calendar_days']:,}")
    table = Table("index", "first", "last", "bars", "member snapshots", "last snapshot")
    members = {r["index_code"]: r for r in info["memberships"].iter_rows(named=True)}
    for r in info["indexes"].iter_rows(named=True):
        m = members.get(r["index_code"], {})
        table.add_row(r["index_code"], str(r["first"]), str(r["last"]), f"{r['rows']:,}",
                      str(m.get("snapshots", 0)), str(m.get("last", "-")))
    console.print(table)
    last = info["last_ingest"]
    if last:
        console.print(f"  last ingest #{last['id']} {last['source']} {last['status']} at {last['finished_at']:%Y-%m-%d %H:%M}: "
                      f"{last['rows_written']:,} rows written, {last['rows_rejected']:,} rejected")


def ingest(
    source: str = typer.Option("sim", "--source", help="sim | files | ashare | akshare"),
    path: Optional[Path] = typer.Option(None, "--path", help="files: file or folder; ashare: the ../shared/ashare folder"),
    layout: str = typer.Option("auto", "--layout", help="files layout: auto, long, tushare, akshare, qlib, xbx"),
    start: Optional[str] = typer.Option(None, "--start", help="first date YYYY-MM-DD"),
    end: Optional[str] = typer.Option(None, "--end", help="last date YYYY-MM-DD"),
    stocks: int = typer.Option(800, "--stocks", help="sim: number of stocks (10-5000)"),
    seed: int = typer.Option(42, "--seed", help="sim: random seed"),
    symbols: Optional[str] = typer.Option(None, "--symbols", help="akshare: comma-separated codes (default: all)"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Ingest market data into the store (validated, transactional, idempotent)."""
    with open_store(home) as store:
        with console.status(f"ingesting from {source} ..."):
            report = ingest_source(store, source, path=path, layout=layout, start=parse_date(start, "--start"),
                                   end=parse_date(end, "--end"), stocks=stocks, seed=seed,
                                   symbols=symbols.split(",") if symbols else None)
        console.print(f"[green]ingest #{report.ingest_id} from {source} done[/]: "
                      f"{report.rows_written:,} rows written, {report.rows_rejected:,} rejected")
        print_report(report)


def info(home: Optional[Path] = HomeOpt) -> None:
    """Show what the market store holds."""
    with open_store(home, read_only=True, must_exist=True) as store:
        print_info(store)


def register(app: typer.Typer) -> None:
    app.command("ingest")(ingest)
    app.command("info")(info)
