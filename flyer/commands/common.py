"""Helpers shared by the CLI command modules: home option, dates, store opening, console.

Nothing heavy is imported at module level: ``flyer --help`` imports every command module."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.console import Console

from flyer.core.errors import FlyerError, UsageError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

console = Console(soft_wrap=True)  # long lines (paths) stay on one line when piped

HomeOpt = typer.Option(None, "--home", help="flyer home folder (default $FLYER_HOME or ~/.flyer)")


def parse_date(text: Optional[str], name: str = "date") -> Optional[dt.date]:
    """``YYYY-MM-DD`` (or ``YYYYMMDD``) -> date; None stays None; bad text -> UsageError."""
    if text is None or text == "":
        return None
    for fmt in ("%Y-%m-%d", "%Y%m%d"):
        try:
            return dt.datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise UsageError(f"bad {name} {text!r}: expected YYYY-MM-DD")


def parse_span(text: Optional[str], name: str) -> Optional[tuple[dt.date, dt.date]]:
    """``START:END`` -> (start, end)."""
    if not text:
        return None
    parts = text.split(":")
    if len(parts) != 2:
        raise UsageError(f"bad {name} {text!r}: expected START:END, e.g. 2016-01-01:2020-12-31")
    a, b = parse_date(parts[0], name), parse_date(parts[1], name)
    if a is None or b is None or a > b:
        raise UsageError(f"bad {name} {text!r}: start must be on or before end")
    return a, b


def open_store(home: Optional[Path], read_only: bool = False, must_exist: bool = False) -> MarketStore:
    """Open the market store under ``home``; with ``must_exist`` or ``read_only`` a missing
    store is a FlyerError (and a read-only open creates no folder)."""
    from flyer.data.store import MarketStore, flyer_home

    path = flyer_home(home, create=not read_only) / "market.duckdb"
    if (must_exist or read_only) and not path.exists():
        raise FlyerError(f"no market store at {path}: run `flyer ingest --source sim` first")
    return MarketStore.open(home, read_only=read_only)


def fitted_table(headers: list[str], rows: list[list[str]], title: str | None = None):  # noqa: ANN201 - rich Table
    """A rich table whose cells are never cut: no box padding, columns as wide as their widest
    cell (80-column terminals and pipes get every digit; rich would shorten '-0.0312' to '-0.…')."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1), pad_edge=False)
    for k, h in enumerate(headers):
        width = max([len(h)] + [len(r[k]) for r in rows])
        table.add_column(h, no_wrap=True, min_width=width, justify="left" if k == 0 else "right")
    for r in rows:
        table.add_row(*r)
    return table
