"""The saved backtest that speaks for a run: its canonical backtest.

A run may have many saved backtests (other strategies, spans, costs); ``flyer runs``, ``flyer
compare`` and ``flyer runs export`` show one figure per run, so they must not follow whichever
was saved last (a demo's 8.7 % excess became 2.5 % after an enhance backtest of the same run).
The canonical backtest is the one the user marked (``mark``: ``flyer runs mark <backtest id>``),
else the first saved for the run: ``pin_first`` records it when the session saves the run's first
backtest, and later saves never change it. A run whose backtests predate pins falls back to its
oldest saved record. ``canonical`` says which rule chose it (``Canonical.how``).

Marks live apart from the records, in ``$FLYER_HOME/backtests/.canonical/<run id>.json``
(``{"backtest": <record id>, "how": "marked" | "first", "at": <UTC time>}``, written atomically):
a mark never rewrites a saved backtest, and a listing skips the folder (its name starts with a dot).
"""
from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from flyer.backtest.records import Record, find, list_records, load, root
from flyer.core.errors import FlyerError

How = Literal["marked", "first"]


@dataclass(frozen=True)
class Canonical:
    """A run's canonical backtest (None when the run has none) and the rule that chose it."""

    run: str
    record: Record | None
    how: How | Literal["none"]

    def describe(self) -> str:
        """One phrase: ``<record id> (marked)`` / ``(first saved)`` / ``no saved backtest``."""
        if self.record is None:
            return "no saved backtest"
        return f"{self.record.id} ({'marked' if self.how == 'marked' else 'first saved'})"


def _path(home: str | os.PathLike | None, run_id: str) -> Path:
    from flyer.core.names import safe_name

    return root(home) / ".canonical" / f"{safe_name(run_id, 'run id')}.json"


def _write(home: str | os.PathLike | None, run_id: str, record_id: str, how: How) -> None:
    from flyer.core.atomic import atomic_text

    body = {"backtest": record_id, "how": how, "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
    atomic_text(json.dumps(body, indent=1), _path(home, run_id))


def _read(home: str | os.PathLike | None, run_id: str) -> dict[str, str] | None:
    path = _path(home, run_id)
    try:
        body = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return body if isinstance(body, dict) and isinstance(body.get("backtest"), str) else None


def pin_first(home: str | os.PathLike | None, run_id: str, record_id: str) -> None:
    """Pin ``record_id`` as the run's canonical backtest unless the run already has one
    (pinned or marked): what a session calls after saving a backtest of the run."""
    if _read(home, run_id) is None:
        _write(home, run_id, record_id, "first")


def mark(home: str | os.PathLike | None, record: str) -> Record:
    """Make the saved backtest ``record`` (an id or unique prefix) its run's canonical one;
    ``FlyerError`` when it has no run behind it."""
    rec = load(home, record)
    run = rec.meta.get("run")
    if not run:
        raise FlyerError(f"saved backtest {rec.id} has no run behind it (scores from a file or a pool): "
                         "nothing to mark it canonical for")
    _write(home, str(run), rec.id, "marked")
    return rec


def canonical(home: str | os.PathLike | None, run_id: str) -> Canonical:
    """The run's canonical backtest (module docstring); a pin or mark whose record is gone
    falls back to the oldest saved record of the run."""
    pin = _read(home, run_id)
    if pin is not None:
        rec = find(home, pin["backtest"])
        if rec is not None:
            return Canonical(run_id, rec, "marked" if pin.get("how") == "marked" else "first")
    records = list_records(home, run_id)  # newest first
    return Canonical(run_id, records[-1], "first") if records else Canonical(run_id, None, "none")


def canonical_all(home: str | os.PathLike | None) -> dict[str, Canonical]:
    """``canonical`` of every run with a saved backtest, read in one listing."""
    by_run: dict[str, list[Record]] = {}
    for rec in list_records(home):  # newest first
        if rec.meta.get("run"):
            by_run.setdefault(str(rec.meta["run"]), []).append(rec)
    out = {}
    for run, recs in by_run.items():
        pin = _read(home, run)
        chosen = next((r for r in recs if pin is not None and r.id == pin["backtest"]), None)
        out[run] = (Canonical(run, chosen, "marked" if pin and pin.get("how") == "marked" else "first")
                    if chosen is not None else Canonical(run, recs[-1], "first"))
    return out
