"""Atomic file writes: a temp file in the same folder, then a rename, so readers and reruns
never see half a file."""
from __future__ import annotations

import os
from pathlib import Path

import polars as pl


def atomic_write(frame: pl.DataFrame, path: Path) -> None:
    """Write Parquet or CSV (by suffix) through a temp file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".csv":
        frame.write_csv(tmp)
    else:
        frame.write_parquet(tmp)
    os.replace(tmp, path)


def atomic_text(text: str, path: Path) -> None:
    """Write a small text file through a temp file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_tables(frames: dict[str, pl.DataFrame], out: str | os.PathLike, fmt: str = "csv") -> Path:
    """Write each frame as ``<name>.csv`` or ``<name>.parquet`` (``fmt``) into the folder ``out``
    (created; each file atomically); returns the folder."""
    from flyer.core.errors import FlyerError

    if fmt not in ("csv", "parquet"):
        raise FlyerError(f"export format must be csv or parquet, not {fmt!r}")
    folder = Path(out).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        atomic_write(frame, folder / f"{name}.{fmt}")
    return folder
