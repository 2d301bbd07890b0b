"""Backtest exports and saved backtests.

* ``export(result, out, fmt)``: the tables of one backtest in a folder: ``daily`` (NAV, cash,
  holdings count, traded value, turnover, costs, benchmark), ``trades``, ``positions``,
  ``yearly`` and ``monthly`` as CSV or Parquet, and ``metrics.json`` (``flyer backtest --out``).
* Saved backtests: ``$FLYER_HOME/backtests/<id>/`` where ``id`` = ``<source>-<key>``: the
  source of the scores (a run id, ``blend-<key>`` for blended runs, ``scores-<hash of the
  scores>`` for a file or frame, ``pool-<key>`` for a factor pool) and ``content_key`` of the
  backtest config's identity and the data it read (``flyer.data.identity.data_key`` up to its
  last day): the same scores under the same config on the same data name the same folder, and
  nothing is ever reused across different data. It holds the export (Parquet), ``meta.json``
  (id, run id, config, data key, benchmark, created) and, when written, ``report.html``.
  ``flyer runs`` shows each run's canonical saved backtest (``flyer.backtest.canonical``: the
  one marked, else the first saved); ``flyer compare`` overlays their curves.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import polars as pl

from flyer.backtest.config import BacktestConfig
from flyer.backtest.metrics import monthly
from flyer.backtest.result import BacktestResult
from flyer.core.config import content_key, digest
from flyer.core.errors import FlyerError

Format = Literal["csv", "parquet"]
TABLES = ("daily", "trades", "positions", "yearly", "monthly")


def tables(result: BacktestResult) -> dict[str, pl.DataFrame]:
    """The exported tables of a result by name (see the module docstring)."""
    daily = result.daily()
    return {"daily": daily, "trades": result.trades(), "positions": result.positions(),
            "yearly": result.yearly(), "monthly": monthly(daily)}


def _json_ready(metrics: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in metrics.items()}


def export(result: BacktestResult, out: str | os.PathLike, fmt: Format = "csv") -> Path:
    """Write ``tables(result)`` as ``<name>.csv`` / ``<name>.parquet`` and ``metrics.json``
    (NaN as null) into ``out``; returns the folder."""
    from flyer.core.atomic import write_tables

    folder = write_tables(tables(result), out, fmt)
    meta = {"metrics": _json_ready(result.metrics()), "config": result.config.to_dict(),
            "benchmark": result.benchmark_name, "diagnostics": result.diagnostics.to_json()}
    (folder / "metrics.json").write_text(json.dumps(meta, indent=1, default=str))
    return folder


def root(home: str | os.PathLike | None) -> Path:
    from flyer.data.store import flyer_home

    return flyer_home(home) / "backtests"


def scores_key(scores: pl.DataFrame) -> str:
    """12 hex digits naming a scores frame by content (sorted rows hashed)."""
    df = scores.select("date", "symbol", "score").sort("date", "symbol")
    return digest(df.hash_rows(seed=0).to_numpy().tobytes(), 12)


def record_id(source: str, config: BacktestConfig, data_key: str) -> str:
    """``<source>-<content key of the config's identity and the data key>`` (module docstring)."""
    return f"{source}-{content_key({'config': config.identity(), 'data': data_key})}"


@dataclass(frozen=True)
class Record:
    """A saved backtest: its folder and ``meta.json``."""

    id: str
    path: Path
    meta: dict[str, Any]

    @property
    def metrics(self) -> dict[str, Any]:
        return json.loads((self.path / "metrics.json").read_text()).get("metrics", {})

    def table(self, name: str) -> pl.DataFrame:
        """One exported table (``daily``, ``trades``, ``positions``, ``yearly``, ``monthly``)."""
        return pl.read_parquet(self.path / f"{name}.parquet")

    @property
    def report(self) -> Path | None:
        path = self.path / "report.html"
        return path if path.exists() else None


def save(home: str | os.PathLike | None, result: BacktestResult, rid: str, data_key: str,
         meta: dict[str, Any] | None = None, report_html: str | None = None) -> Record:
    """Write the saved backtest ``rid`` of ``result`` (replacing the folder of the same id: same
    scores, same config, same data); ``report_html`` (a rendered page) as its ``report.html``.
    Written in a temp folder and renamed into place."""
    final = root(home) / rid
    tmp = final.with_name(f".{rid}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    export(result, tmp, "parquet")
    if report_html is not None:
        from flyer.core.pages import write

        write(report_html, tmp / "report.html")  # plotly.js beside it (a hard link where possible)
    info = {"id": rid, "run": None, **(meta or {}), "config_key": result.config.key(),
            "config": result.config.to_dict(), "data_key": data_key, "benchmark": result.benchmark_name,
            "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    (tmp / "meta.json").write_text(json.dumps(info, indent=1, default=str))
    old = final.with_name(f".{rid}.old{os.getpid()}")
    if final.exists():
        final.rename(old)
    tmp.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return Record(rid, final, info)


def load(home: str | os.PathLike | None, record: str) -> Record:
    """The saved backtest ``record`` (a unique prefix is accepted; ``flyer.core.names.resolve_id``:
    id-shaped and inside ``backtests/``, else a ``UsageError``)."""
    from flyer.core.names import resolve_id

    base = root(home)
    path = resolve_id(base, record, "saved backtest")
    try:
        meta = json.loads((path / "meta.json").read_text())
    except (OSError, ValueError) as exc:
        raise FlyerError(f"saved backtest {path.name}: meta.json unreadable ({type(exc).__name__}): "
                         "remove the folder or rerun the backtest") from None
    if not isinstance(meta, dict):
        raise FlyerError(f"saved backtest {path.name}: meta.json is not a table")
    return Record(path.name, path, meta)


def find(home: str | os.PathLike | None, rid: str) -> Record | None:
    """The saved backtest ``rid`` (exact id), or None."""
    path = root(home) / rid
    return load(home, path.name) if (path / "meta.json").exists() else None


def list_records(home: str | os.PathLike | None, run_id: str | None = None) -> list[Record]:
    """Saved backtests, newest first (only those of ``run_id`` when given)."""
    base = root(home)
    if not base.exists():
        return []
    out = []
    for p in base.iterdir():
        if p.name.startswith(".") or not (p / "meta.json").exists():
            continue
        try:
            meta = json.loads((p / "meta.json").read_text())
        except (OSError, ValueError):
            continue  # a damaged record is left out of listings (``load`` names it)
        if not isinstance(meta, dict):
            continue
        if run_id is None or meta.get("run") == run_id:
            out.append(Record(p.name, p, meta))
    return sorted(out, key=lambda r: (r.meta.get("created", ""), (r.path / "meta.json").stat().st_mtime_ns),
                  reverse=True)
