"""The nightly job: today's close in, tomorrow's orders out. Incremental, idempotent, resumable.

For one trading day D (``run_night``), under a lock file (``flyer.lock``):
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
"""
from __future__ import annotations

import datetime as dt
import os
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


from flyer.data.calendar import sse_calendar
from flyer.data.store import MarketStore, flyer_home
from flyer import progress
from flyer.config import NightlyConfig
from flyer.errors import FlyerError
from flyer.lock import RunLock
from flyer.runlog import RunLog

STAGES = ("ingest", "validate", "factors", "score", "portfolio", "orders")


@dataclass
class Night:
    """The context of one nightly run (what every stage reads and writes)."""

    home: Path
    store: MarketStore
    config: NightlyConfig
    date: dt.date
    next_date: dt.date
    log: RunLog
    outdir: Path
    messages: list[str] = field(default_factory=list)

    def note(self, msg: str) -> None:
        self.messages.append(msg)


@dataclass(frozen=True)
class NightResult:
    """Outcome of ``run_night``: stages run now, stages skipped as already done, messages."""

    date: dt.date
    ran: tuple[str, ...]
    skipped: tuple[str, ...]
    messages: tuple[str, ...]
    outdir: Path
    trading_day: bool = True


def trading_days(store: MarketStore) -> list[dt.date]:
    """The store's calendar joined with the exchange calendar (which knows future days)."""
    days = set(store.calendar().to_list()) | set(sse_calendar())
    return sorted(days)


def default_date(config: NightlyConfig, today: dt.date | None = None) -> dt.date:
    """The latest trading day on or before today (for sim: on or before the feed's end)."""
    today = today or dt.date.today()
    if config.source.kind == "sim":
        today = min(today, config.source.end)
    past = [d for d in sse_calendar(end=today)]
    if not past:
        raise FlyerError(f"no trading day on or before {today}")
    return past[-1]


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
    from flyer import stages  # the stage bodies

    home_path = flyer_home(home)
    date = date or default_date(config)
    with RunLock(home_path / "nightly.lock"), MarketStore.open(home_path) as store:
        days = trading_days(store)
        if date not in days:
            return NightResult(date, (), (), (f"{date} is not a trading day: nothing to do",),
                               home_path / "nightly", trading_day=False)
        nxt = next((d for d in days if d > date), date + dt.timedelta(days=1))
        night = Night(home_path, store, config, date, nxt, RunLog(store), home_path / "nightly" / date.isoformat())
        status = {} if force else night.log.status(date)
        ran, skipped = [], []
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
                    night.log.record(date, stage, "failed", started, config.key(), msg + "\n" + traceback.format_exc()[-1500:])
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                    raise FlyerError(f"nightly {date}: stage {stage} failed: {msg}") from exc
                night.log.record(date, stage, "done", started, config.key(), "; ".join(night.messages[-1:]))
                ran.append(stage)
                bar.advance(info=f"{stage}: {night.messages[-1]}" if night.messages else stage)
        return NightResult(date, tuple(ran), tuple(skipped), tuple(night.messages), night.outdir)
