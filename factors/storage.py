"""Factor values on disk: Parquet partitioned by date under ``$FLYER_HOME/factors/<key>/``.

A folder holds the values of ONE factor set content (``FactorSet.key(qlib_compat)``: formulas,
their names and order, the qlib-compat mode, the engine version), so values of an edited TOML or
of the other mode never share a folder. Layout::

    <home>/factors/<key>/manifest.json            # name, key, qlib_compat, engine, formulas, created
    <home>/factors/<key>/date=YYYY-MM-DD/part.parquet   # [symbol, <factor columns>] of that date

Writing a date replaces only that date's folder (written to a temp file, then renamed), so a
nightly run appends one date without rewriting history. Reads scan only the folders inside the
requested date range. A folder without a ``manifest.json`` (the old ``factors/<set name>/``
layout) is never read: ``list_sets`` reports it as ``legacy``.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from flyer.factors.factorset import ENGINE_VERSION, FactorSet

from flyer.core.errors import FlyerError

PART = "part.parquet"
MANIFEST = "manifest.json"


def set_root(home: str | os.PathLike, factor_set: FactorSet, qlib_compat: bool = False) -> Path:
    """The folder of a factor set's values: ``<home>/factors/<key>``."""
    return Path(home) / "factors" / factor_set.key(qlib_compat)


def manifest(factor_set: FactorSet, qlib_compat: bool = False) -> dict[str, Any]:
    """What ``manifest.json`` holds for this set and mode (``created`` is added on write)."""
    return {"name": factor_set.name, "key": factor_set.key(qlib_compat), "qlib_compat": bool(qlib_compat),
            "engine": ENGINE_VERSION, "formulas": factor_set.formulas()}


def read_manifest(root: Path) -> dict[str, Any] | None:
    """The folder's manifest, or None when it has none (old layout) or it is unreadable."""
    try:
        data = json.loads((root / MANIFEST).read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def ensure_manifest(root: Path, factor_set: FactorSet, qlib_compat: bool = False) -> None:
    """Write ``manifest.json`` if absent; if present it must describe the same content."""
    want = manifest(factor_set, qlib_compat)
    have = read_manifest(root)
    if have is not None:
        formulas = have.get("formulas")
        same = all(have.get(k) == want[k] for k in ("key", "qlib_compat", "engine")) and \
            isinstance(formulas, dict) and list(formulas.items()) == list(want["formulas"].items())
        if not same:
            raise FlyerError(f"{root / MANIFEST} describes other factors than set {factor_set.name!r} "
                             f"(key {want['key']}): the folder was edited by hand; move it away")
        return
    root.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**want, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")},
                      indent=1)
    tmp = root / f".{MANIFEST}.tmp{os.getpid()}"
    tmp.write_text(text)
    os.replace(tmp, root / MANIFEST)


def stored_dates(root: Path) -> list[dt.date]:
    """Dates with a stored partition, ascending (none for a folder without a manifest)."""
    if not (root / MANIFEST).exists():
        return []
    out = []
    for p in root.iterdir():
        if p.name.startswith("date=") and (p / PART).exists():
            out.append(dt.date.fromisoformat(p.name[5:]))
    return sorted(out)


def write(values: pl.DataFrame, root: Path) -> int:
    """Write ``[date, symbol, <factors>]`` into one partition per date; returns dates written.
    The folder must have its manifest (``ensure_manifest``)."""
    if values.height == 0:
        return 0
    if not (root / MANIFEST).exists():
        raise FlyerError(f"{root} has no {MANIFEST}: write it first (storage.ensure_manifest)")
    n = 0
    for (day,), part in values.sort("date", "symbol").group_by("date", maintain_order=True):
        folder = root / f"date={day.isoformat()}"
        tmp = folder / f".{PART}.tmp"
        try:
            folder.mkdir(exist_ok=True)
            part.drop("date").write_parquet(tmp, compression="zstd", statistics=True)
            os.replace(tmp, folder / PART)
        except OSError as exc:  # a full disk, a read-only home: nothing half-written stays
            tmp.unlink(missing_ok=True)
            if folder.exists() and not any(folder.iterdir()):
                folder.rmdir()
            raise FlyerError(f"cannot write factor values for {day} to {root}: {exc.strerror or exc} "
                             f"({n} date(s) written before)") from exc
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


@dataclass(frozen=True)
class StoredSet:
    """One folder under ``<home>/factors``: its manifest (None for the old layout) and dates."""

    root: Path
    manifest: dict[str, Any] | None
    dates: tuple[dt.date, ...]

    @property
    def legacy(self) -> bool:
        return self.manifest is None


def list_sets(home: str | os.PathLike) -> list[StoredSet]:
    """Every folder under ``<home>/factors`` (sorted by name, then key); old-layout folders
    have ``manifest None`` and no dates (they are never read)."""
    base = Path(home) / "factors"
    if not base.exists():
        return []
    out = [StoredSet(p, read_manifest(p), tuple(stored_dates(p)))
           for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return sorted(out, key=lambda s: ((s.manifest or {}).get("name", s.root.name), s.root.name))


def remove(root: Path) -> None:
    """Delete a factor set's stored values."""
    if root.exists():
        shutil.rmtree(root)
