"""Helpers shared by the CLI command modules: home option, dates, store opening, console.

Nothing heavy is imported at module level: ``flyer --help`` imports every command module."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.console import Console

from flyer.core.errors import FlyerError, UsageError

if TYPE_CHECKING:
    from rich.console import RenderableType
    from rich.table import Table

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


def fitted_table(headers: list[str], rows: list[list[str]], title: str | None = None, *,
                 width: int | None = None, keys: int = 1) -> RenderableType:
    """Rows of text as tables whose cells are never cut: each column as wide as its widest
    cell, headers wrapped at spaces onto more lines instead of cut, and, when the columns do
    not fit the console's width (``width``), several tables one under the other, each
    repeating the first ``keys`` columns (rich alone would shorten '100,000,000' to '100,00…');
    a key column of text wider than what is left wraps onto more lines (numbers never do)."""
    from rich.console import Group

    limit = width or console.width
    cells = [max([len(r[k]) for r in rows] + [1]) for k in range(len(headers))]
    heads = [_wrap(h, max(cells[k], 8)) for k, h in enumerate(headers)]
    need = [max(cells[k], *(len(x) for x in heads[k].split("\n"))) for k in range(len(headers))]
    keys = min(keys, len(headers))
    room = limit - (_GAP + max(need[keys:] or [0]))
    if keys and sum(need[:keys]) + _GAP * keys > room:  # text keys wrap so that the widest column still fits
        cut = max(12, room - _GAP * keys - sum(need[1:keys]))
        rows = [[_wrap(r[0], cut), *r[1:]] for r in rows]
        need[0] = min(need[0], max(len(x) for r in rows for x in r[0].split("\n")))
    groups: list[list[int]] = [[]]
    fixed = sum(need[:keys]) + _GAP * keys
    for k in range(keys, len(headers)):
        if groups[-1] and fixed + sum(need[j] + _GAP for j in groups[-1]) + need[k] > limit:
            groups.append([])
        groups[-1].append(k)
    tables = []
    for g, cols in enumerate(groups):
        part = list(range(keys)) + cols
        name = title if len(groups) == 1 or title is None else f"{title} ({g + 1}/{len(groups)})"
        tables.append(_table([heads[k] for k in part], [[r[k] for k in part] for r in rows], name,
                             [need[k] for k in part]))
    return tables[0] if len(tables) == 1 else Group(*tables)


_GAP = 2  # characters between two columns (a right padding of 1 and the box's blank separator)


def _wrap(header: str, width: int) -> str:
    """``header`` on lines of at most max(``width``, its longest word) characters."""
    import textwrap

    words = header.split()
    return "\n".join(textwrap.wrap(header, max([width, 1] + [len(w) for w in words]))) if words else header


def _table(headers: list[str], rows: list[list[str]], title: str | None, widths: list[int]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0), pad_edge=False)
    for k, h in enumerate(headers):
        table.add_column(h, no_wrap=True, min_width=widths[k], max_width=widths[k] if k == 0 else None,
                         justify="left" if k == 0 else "right")
    for r in rows:
        table.add_row(*r)
    return table


def matrix_rows(names: list[str], matrix: list[list[float]] | Any, title: str, width: int | None = None) -> str:
    """A square matrix of values in [-1, 1] (correlations) as compact heatmap-style rows of text:
    each cell is the value x 10 rounded with its sign (+3 = 0.3, -7 = -0.7, ++ = 0.95 or more,
    -- = -0.95 or less, · on the diagonal), three characters a cell, the rows numbered and named,
    the columns numbered in row order; columns past the width (``width``, default the console's)
    go to further blocks, each repeating the names."""
    def code(i: int, j: int, v: float) -> str:
        if i == j:
            return "·"
        if v != v:
            return "?"
        if abs(v) >= 0.95:
            return "++" if v > 0 else "--"
        n = int(round(v * 10))
        return "0" if n == 0 else f"{n:+d}"

    limit = width or console.width
    keys = [f"{i + 1:>{len(str(len(names)))}} {n}" for i, n in enumerate(names)]
    pad = max(len(k) for k in keys) if keys else 0
    per = max(1, (limit - pad) // 3)
    lines = [f"{title} (value x 10: +3 = 0.3; ++ >= 0.95; · the diagonal)"]
    for lo in range(0, len(names), per):
        cols = range(lo, min(lo + per, len(names)))
        lines.append(" " * pad + "".join(f"{j + 1:>3}" for j in cols))
        lines += [keys[i].ljust(pad) + "".join(f"{code(i, j, float(row[j])):>3}" for j in cols)
                  for i, row in enumerate(matrix)]
    return "\n".join(lines)


def research_runner(mode: str, workers: int, address: str | None) -> Any:
    """The runner of ``--mode`` / ``--workers`` / ``--address`` (``flyer.models.parallel``): a
    context manager; ``serial`` runs in this process, ``ray`` on a local Ray on loopback or the
    cluster at ``address``. Checked before any work (one line, exit 2)."""
    from flyer.models.parallel import make_runner

    if workers < 0:
        raise UsageError(f"--workers must be >= 0 (0 = every CPU), not {workers}")
    return make_runner(mode, workers or None, address)
