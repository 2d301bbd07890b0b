"""Factor values on disk: Parquet partitioned by date under ``$FLYER_HOME/factors/<set>/``.

Layout: ``<root>/date=YYYY-MM-DD/part.parquet`` holding ``[symbol, <factor columns>]`` for that
date (the date lives in the folder name, hive style). Writing a date replaces only that date's
folder (written to a temp file, then renamed), so a nightly run appends one date without
rewriting history. Reads scan only the folders inside the requested date range.
"""
from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import polars as pl

from flyer.errors import FlyerError

PART = "part.parquet"


def set_root(home: str | os.PathLike, set_name: str) -> Path:
    """The folder of a factor set's values: ``<home>/factors/<set_name>``."""
    return Path(home) / "factors" / set_name


def stored_dates(root: Path) -> list[dt.date]:
    """Dates with a stored partition, ascending."""
    if not root.exists():
        return []
    out = []
    for p in root.iterdir():
        if p.name.startswith("date=") and (p / PART).exists():
            out.append(dt.date.fromisoformat(p.name[5:]))
    return sorted(out)


def write(values: pl.DataFrame, root: Path) -> int:
    """Write ``[date, symbol, <factors>]`` into one partition per date; returns dates written."""
    if values.height == 0:
        return 0
    root.mkdir(parents=True, exist_ok=True)
    n = 0
    for (day,), part in values.sort("date", "symbol").group_by("date", maintain_order=True):
        folder = root / f"date={day.isoformat()}"
        folder.mkdir(exist_ok=True)
        tmp = folder / f".{PART}.tmp"
        part.drop("date").write_parquet(tmp, compression="zstd", statistics=True)
        os.replace(tmp, folder / PART)
        n += 1
    return n


def scan(root: Path, start: dt.date | None = None, end: dt.date | None = None,
         factors: list[str] | None = None) -> pl.LazyFrame:
    """Lazy ``[date, symbol, <factors>]`` over the partitions with dates in [start, end]."""
    days = [d for d in stored_dates(root) if (start is None or d >= start) and (end is None or d <= end)]
    if not days:
        raise FlyerError(f"no stored factor values in {root} for {start or '...'}..{end or '...'}")
    files = [str(root / f"date={d.isoformat()}" / PART) for d in days]
    lf = pl.scan_parquet(files, hive_partitioning=True, hive_schema={"date": pl.Date})
    cols = ["date", "symbol", *(factors or [c for c in lf.collect_schema().names() if c not in ("date", "symbol")])]
    return lf.select(cols)


def read(root: Path, start: dt.date | None = None, end: dt.date | None = None,
         factors: list[str] | None = None, symbols: list[str] | None = None) -> pl.DataFrame:
    """Stored values ``[date, symbol, <factors>]`` for dates in [start, end], sorted by (date, symbol)."""
    lf = scan(root, start, end, factors)
    if symbols is not None:
        lf = lf.filter(pl.col("symbol").is_in(symbols))
    return lf.sort("date", "symbol").collect()


def remove(root: Path) -> None:
    """Delete a factor set's stored values."""
    if root.exists():
        shutil.rmtree(root)
