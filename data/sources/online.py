"""What the online sources (``akshare``, ``baostock``) share: the per-window fetch cache, the
factor continuation across runs, the ``symbols`` setting and per-symbol progress.

* ``Cache``: Parquet files under ``$FLYER_HOME/cache/<source>/<range>/``, written atomically and
  only when a fetch completed (a failed or short answer is never cached), so a rerun resumes
  where a run stopped; the folder is created by the first write (a run that fetched nothing
  leaves nothing behind);
* ``previous_day`` / ``continue_factors``: a window read from the store's previous trading day,
  its factors scaled to continue the stored ones;
* ``parse_symbols``: the ``symbols`` setting (codes in any spelling) in canonical form.
"""
from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
from flyer.data.symbols import normalize_symbols

if TYPE_CHECKING:
    from flyer.data.store import MarketStore


class Cache:
    """Parquet files under one range-key folder; ``get`` returns None when absent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def get(self, name: str) -> pl.DataFrame | None:
        path = self.folder / f"{name}.parquet"
        return pl.read_parquet(path) if path.exists() else None

    def put(self, name: str, df: pl.DataFrame) -> pl.DataFrame:
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.folder / f".{name}.parquet.tmp"
        df.write_parquet(tmp)
        os.replace(tmp, self.folder / f"{name}.parquet")  # atomic: a crash never leaves half a file
        return df

    def through(self, name: str, fetch: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        """The cached frame ``name``, else ``fetch()`` (cached only when it returns)."""
        cached = self.get(name)
        return cached if cached is not None else self.put(name, fetch())


def previous_day(store: MarketStore, lo: dt.date) -> dt.date | None:
    """The store's last bar day before ``lo`` (None when the store holds none)."""
    got = store.one("SELECT max(date) FROM bars WHERE date < ?", [lo])
    return got[0] if got and got[0] is not None else None


def continue_factors(store: MarketStore, bars: pl.DataFrame, anchor: dt.date | None, lo: dt.date,
                     notes: list[str] | None = None, prefix: str = "akshare") -> pl.DataFrame:
    """Rows from ``lo`` on, their factors scaled per symbol so that they continue the store's
    factor on ``anchor`` (the vendor's own anchor-day row gives the ratio; symbols the store
    does not hold on ``anchor`` keep the vendor's factor). The anchor day is the one day two
    vendors may both have answered: a raw close that differs by a cent or more is noted."""
    if anchor is None or bars.height == 0:
        return bars.filter(pl.col("date") >= lo) if bars.height else bars
    stored = store.query("SELECT symbol, adj_factor AS _stored, close AS _close FROM bars WHERE date = ?", [anchor])
    overlap = bars.filter(pl.col("date") == anchor).join(stored, on="symbol")
    if notes is not None:
        off = overlap.filter((pl.col("close") - pl.col("_close")).abs() > 0.005 + 1e-9)
        if off.height:
            notes.append(f"{prefix}: {off.height} symbol(s) disagree with the stored close of {anchor} (the stored row "
                         f"is kept; factors chained anyway): " + ", ".join(
                             f"{r['symbol']} {r['_close']} vs {r['close']}" for r in off.head(10).iter_rows(named=True)))
    scale = overlap.select("symbol", (pl.col("_stored") / pl.col("adj_factor")).alias("_scale"))
    return (bars.filter(pl.col("date") >= lo).join(scale, on="symbol", how="left", maintain_order="left")
            .with_columns((pl.col("adj_factor") * pl.col("_scale").fill_null(1.0)).alias("adj_factor"))
            .drop("_scale"))


def parse_symbols(symbols: Iterable[str] | str | None) -> tuple[str, ...] | None:
    """The ``symbols`` setting (a comma-separated text or a list, any spelling) in canonical form."""
    if symbols is None:
        return None
    items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    return tuple(normalize_symbols(pl.Series([s.strip() for s in items if s.strip()], dtype=pl.Utf8)).to_list())


def progress_items(items: list[str], desc: str, show: bool) -> Iterable[str]:
    """Per-symbol progress (``flyer.core.progress``: bars on a terminal, lines in logs)."""
    if not show:
        return items
    from flyer.core import progress

    return progress.tracked(items, desc, "symbols", info=str)


def args_text(kwargs: dict[str, object], hide: tuple[str, ...] = ()) -> str:
    """``k='v', ...`` of a vendor call's arguments, for messages."""
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items() if k not in hide)
