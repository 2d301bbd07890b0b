"""The nightly job: today's close in, tomorrow's orders out. Incremental, idempotent, resumable.

For one trading day D (``run_night``), under a lock file (``flyer.core.lock``):
  1. ``ingest``     the source's rows for D into the store (``flyer.sources_nightly``);
  2. ``validate``   D has bars for the universe and nothing was rejected wholesale;
  3. ``factors``    stored values of the factor sets of the runs scored in 4 (by content key),
                    for the dates after the last stored one up to D
                    (``flyer.factors.pipeline.update``: reads only the lookback they need);
  4. ``score``      the configured run(s) score D from those stored values
                    (``flyer.models.predict.predict_stored``; sequence models from bars,
                    ``predict_day``); several runs are averaged on per-date ranks
                    (``flyer.models.rank_average``); optional retraining on a schedule first;
  5. ``portfolio``  the configured strategy's orders (``[portfolio]``: any backtest strategy,
                    e.g. top-k dropout) in lots for the next trading day from the current
                    book (last night's targets and cash, or a holdings file), via the
                    backtester's ``flyer.backtest.orders``; the resulting holdings and cash ->
                    ``nightly_targets`` / ``nightly_book``;
  6. ``orders``     the orders (symbol, side, shares, reference price, reason) ->
                    ``nightly_orders`` and ``$FLYER_HOME/nightly/D/orders.{csv,parquet}``.
Each stage's status lands in ``nightly_log``; a rerun skips ``done`` stages (so a finished date
changes nothing) and resumes at the first one that is not done. Stage outputs are written
atomically (temp file + rename, or one DuckDB transaction), so a crash never leaves half a file.

Before any stage: the date must lie inside the known trading calendar
(``flyer.data.calendar.known_calendar``: a later date is refused with "calendar ends on D:
update it", never taken for a holiday), and the config is checked against the home
(``preflight``: run ids exist and are safe names, their factor sets match ``factor_set``, ``k``
fits the market). The store is open READ-ONLY between writes: ``Night.writing()`` swaps in the
one read-write connection only around each write (the ingest's upsert, the stage log, targets,
orders), so ``flyer info`` and other readers work while a nightly runs.
"""
from __future__ import annotations

import datetime as dt
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from flyer.data.calendar import KnownCalendar, known_calendar, today

from flyer.data.sources.sim import SimSource
from flyer.data.store import MarketStore, flyer_home
from flyer.core import progress
from flyer.config import NightlyConfig
from flyer.core.errors import FlyerError
from flyer.core.lock import RunLock
from flyer.night import FixedStore, Night, StoreHandle
from flyer.runlog import RunLog

__all__ = ["FixedStore", "Night", "NightResult", "STAGES", "StoreHandle", "default_date", "plan", "run_night",
           "trading_days"]

STAGES = ("ingest", "validate", "factors", "score", "portfolio", "orders")


@dataclass(frozen=True)
class NightResult:
    """Outcome of ``run_night``: stages run now, stages skipped as already done, messages."""

    date: dt.date
    ran: tuple[str, ...]
    skipped: tuple[str, ...]
    messages: tuple[str, ...]
    outdir: Path
    trading_day: bool = True
    seconds: dict[str, float] = field(default_factory=dict)  # wall seconds of each stage run


def trading_days(store: MarketStore) -> list[dt.date]:
    """The known trading calendar (the store's own days and the exchange's, see
    ``flyer.data.calendar.known_calendar``)."""
    return list(known_calendar(store).days)


def default_date(config: NightlyConfig, now: dt.date | None = None, calendar: KnownCalendar | None = None) -> dt.date:
    """The latest trading day on or before today (for sim: on or before the feed's end);
    today beyond the known calendar is a ``CalendarEndError``."""
    now = now or today()
    if isinstance(config.source, SimSource):
        now = min(now, config.source.end)
    cal = calendar or known_calendar()
    cal.require(now)
    day = cal.last_on_or_before(now)
    if day is None:
        raise FlyerError(f"no trading day on or before {now}")
    return day


def plan(store: MarketStore, config: NightlyConfig, date: dt.date) -> list[str]:
    """Stages a run for ``date`` would execute now (for ``--dry-run``)."""
    status = RunLog(store).status(date)
    return [s for s in STAGES if status.get(s) != "done"]


def run_night(home: str | os.PathLike | None, config: NightlyConfig, date: dt.date | None = None,
              *, force: bool = False, hooks: dict[str, Callable[[Night], None]] | None = None) -> NightResult:
    """Run (or resume) the nightly job for ``date``; see the module docstring.

    ``hooks`` maps a stage name to a callable run just before it (tests inject failures here).
    Raises FlyerError naming the stage that failed; the log keeps the failure for the rerun.
    """
    from flyer.stages import preflight

    home_path = flyer_home(home)
    with RunLock(home_path / "nightly.lock"):
        handle = StoreHandle(home_path)
        try:
            cal = known_calendar(handle.store)
            date = date or default_date(config, calendar=cal)
            cal.require(date)
            if date not in set(cal.days):
                return NightResult(date, (), (), (f"{date} is not a trading day: nothing to do",),
                                   home_path / "nightly", trading_day=False)
            night = Night(home_path, handle, config, date, cal.next_after(date), home_path / "nightly" / date.isoformat())
            preflight(night)
            return _run_stages(night, force, hooks)
        finally:
            handle.close()


def _run_stages(night: Night, force: bool, hooks: dict[str, Callable[[Night], None]] | None) -> NightResult:
    """The stages in order, skipping those already done for the date (unless ``force``)."""
    from flyer import stages  # the stage bodies

    date, key = night.date, night.config.key()
    status = {} if force else night.log.status(date)
    ran, skipped, secs = [], [], {}
    with progress.task(f"nightly {date}", total=len(STAGES), unit="stages") as bar:
        for stage in STAGES:
            if status.get(stage) == "done":
                skipped.append(stage)
                bar.advance(info=f"{stage} already done")
                continue
            started = dt.datetime.now()
            try:
                if hooks and stage in hooks:
                    hooks[stage](night)
                getattr(stages, stage)(night)
            except BaseException as exc:
                msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                with night.writing() as store:
                    RunLog(store).record(date, stage, "failed", started, key, msg + "\n" + traceback.format_exc()[-1500:])
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                raise FlyerError(f"nightly {date}: stage {stage} failed: {msg}") from exc
            with night.writing() as store:
                RunLog(store).record(date, stage, "done", started, key, "; ".join(night.messages[-1:]))
            ran.append(stage)
            secs[stage] = (dt.datetime.now() - started).total_seconds()
            bar.advance(info=f"{stage}: {night.messages[-1]}" if night.messages else stage)
    return NightResult(date, tuple(ran), tuple(skipped), tuple(night.messages), night.outdir, seconds=secs)
