"""The bodies of the nightly stages (orchestrated by ``flyer.nightly.run_night``).

Each takes the ``Night`` context, reads what earlier stages left in the store or in
``night.outdir``, and writes its own output atomically.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from flyer.core.atomic import atomic_text, atomic_write
from flyer.core.errors import FlyerError
from flyer.runlog import RunLog


# ------------------------------------------------------------------------------- preflight
def preflight(night: Night) -> None:
    """Before any stage: the config checked against the home, so a bad value fails in one line
    before ingest, factors and scoring have run: every run id is a safe name that exists and
    was trained on ``factor_set`` (when given), something is scored, the holdings file
    exists, and ``k`` fits the stocks trading on the store's last day."""
    cfg = night.config
    if not cfg.runs and cfg.retrain.schedule == "never":
        raise FlyerError("config: no model run configured: set runs = [\"<id>\"] (see `flyer runs`) "
                         "or [retrain] schedule = \"monthly\"")
    from flyer.data import markets

    markets.check(night.store, markets.market_of(cfg.source))  # another market than the store's: refused now
    _configured_runs(night)
    if cfg.portfolio.holdings_file is not None and not Path(cfg.portfolio.holdings_file).is_file():
        raise FlyerError(f"config: portfolio.holdings_file {cfg.portfolio.holdings_file} is not a file")
    last = night.store.one("SELECT max(date) FROM bars")[0]
    if last is not None:
        n = night.store.one("SELECT count(*) FROM bars WHERE date = ? AND NOT is_suspended", [last])[0]
        bt = cfg.portfolio.backtest
        from flyer.backtest.strategy import strategy_for

        if strategy_for(bt.strategy).holds_k and bt.k > n:
            raise FlyerError(f"config: portfolio.k = {bt.k} exceeds the {n:,} stocks trading on {last}")

if TYPE_CHECKING:
    from flyer.factors.factorset import FactorSet
    from flyer.night import Night


# ---------------------------------------------------------------------------------- ingest
def ingest(night: Night) -> None:
    """Stage 1: the source's rows after the store's last bar date, through ``night.date``
    (read with the read-only store, then written with ``flyer.data.sources.write_batch``, the
    same write as ``flyer ingest``)."""
    from flyer.data.sources.base import write_batch

    src, store, day = night.config.source, night.store, night.date
    last = store.one("SELECT max(date) FROM bars")[0]  # None on an empty store
    if last is not None and last >= day and src.kind == "sim":
        night.note(f"store already holds {day}")
        return
    batch = src.read(store, last, day)
    with night.writing() as writer:
        report = write_batch(writer, src, batch)
    night.note(f"ingested {report.rows_written:,} rows ({report.rows_rejected:,} rejected)")


# -------------------------------------------------------------------------------- validate
def validate(night: Night) -> None:
    """Stage 2: the day has bars, and the last ingest did not reject more than it kept."""
    n = night.store.one("SELECT count(*) FROM bars WHERE date = ?", [night.date])[0]
    if n == 0:
        raise FlyerError(f"no bars for {night.date} in the store (source {night.config.source.kind})")
    last = night.store.ingest_log().row(0, named=True)
    if last["rows_rejected"] > max(last["rows_written"], 100):
        raise FlyerError(f"ingest #{last['id']} rejected {last['rows_rejected']:,} rows (kept {last['rows_written']:,})")
    night.note(f"{n:,} bars on {night.date}")


# --------------------------------------------------------------------------------- factors
def factors(night: Night) -> None:
    """Stage 3: stored factor values, for the dates after the last stored one through the day,
    of exactly the sets the score stage reads: those of the runs it scores (and of scheduled
    retraining), each under its content key."""
    from flyer.factors.pipeline import update

    sets = _stored_sets(night)
    if not sets:
        night.note("no run scores from stored factor values: nothing to compute")
        return
    for key, fs in sets.items():
        rep = update(night.store, night.home, fs, end=night.date)
        if rep.dates_written == 0:
            night.note(f"factors {fs.name} ({key}): already stored through {night.date}")
        else:
            night.note(f"factors {fs.name} ({key}): {rep.dates_written} date(s) computed in {rep.seconds:.1f}s")


def _configured_runs(night: Night) -> list:
    """The configured runs, checked against ``factor_set`` when the config names one."""
    from flyer.models import load_run
    from flyer.models.config import NO_FACTORS

    runs = [load_run(night.home, rid) for rid in night.config.runs]
    if night.config.factor_set is not None:
        from flyer.models.features import resolve

        want = resolve(night.config.factor_set)
        for run in runs:
            key = run.config.data.factor_key
            if key != NO_FACTORS and key != want.key:
                raise FlyerError(f"config: factor_set {night.config.factor_set!r} (key {want.key}) is not the "
                                 f"factor set of run {run.id} ({run.config.data.factors!r}, key {key}): "
                                 "drop factor_set or score runs trained on it")
    return runs


def _stored_sets(night: Night) -> dict:
    """``{content key: FactorSet}`` the score stage will read from storage."""
    from flyer.models.predict import stored_set

    sets = {}
    for fs in [stored_set(run)[0] for run in _configured_runs(night)] + [_retrain_set(night)]:
        if fs is not None:
            sets[fs.key()] = fs
    return sets


# ----------------------------------------------------------------------------------- score
def score(night: Night) -> None:
    """Stage 4: scores for the day from the configured runs (rank-averaged when several,
    ``flyer.models.rank_average``): tabular runs from the factor values the factors stage
    stored, sequence models (and runs whose features are not stored) from bars."""
    from flyer.models import predict_day, rank_average
    from flyer.models.predict import predict_stored, stored_set

    runs = _configured_runs(night) + _retrained(night)
    parts, from_bars = [], 0
    for run in runs:
        fs, why = stored_set(run)
        if fs is not None:
            parts.append(predict_stored(run, night.store, night.home, night.date))
        else:
            night.note(f"run {run.id}: {why}: scored from bars")
            parts.append(predict_day(run, night.store, night.date))
            from_bars += 1
    scores = rank_average(parts).sort("score", "symbol", descending=[True, False])
    atomic_write(scores, night.outdir / "scores.parquet")
    night.note(f"scored {scores.height} stocks with {len(runs)} run(s) "
               f"({len(runs) - from_bars} from stored factor values, {from_bars} from bars)")


def _retrain_set(night: Night) -> FactorSet | None:
    """The factor set scheduled retraining trains a tabular model on (None: no retraining, or
    a sequence model)."""
    from flyer.models.config import SEQ_KINDS
    from flyer.models.features import resolve

    if night.config.retrain.schedule == "never" or night.config.retrain.model in SEQ_KINDS:
        return None
    return resolve(night.config.factor_set or "alpha158").factor_set


def _retrained(night: Night) -> list:
    """The run of scheduled retraining: the first night of each month trains it, the other
    nights reuse it (``retrained_run.json``). The run id is the config's content hash, so a
    rerun of a failed night finds the run already saved and reuses it."""
    from flyer.models import load_run, make_config, train

    cfg = night.config.retrain
    if cfg.schedule == "never":
        return []
    marker = night.home / "nightly" / "retrained_run.json"
    month = f"{night.date:%Y-%m}"
    if marker.exists():
        last = json.loads(marker.read_text())
        if last.get("month") == month:
            return [load_run(night.home, last["run"])]
    pad = dt.timedelta(days=10)  # keeps every label (t+1..t+2 closes) inside its window
    valid_start = night.date - dt.timedelta(days=30 * cfg.valid_months)
    train_start = valid_start - dt.timedelta(days=365 * cfg.train_years)
    mc = make_config(cfg.model, train=(train_start, valid_start - pad), valid=(valid_start, night.date - pad),
                     test=None, factors=night.config.factor_set or "alpha158")
    run = train(night.store, mc, home=night.home)
    atomic_text(json.dumps({"month": month, "run": run.id}), marker)
    night.note(f"{'reused' if run.reused else 'retrained'} {cfg.model} run {run.id}")
    return [run]


# ------------------------------------------------------------------------------- portfolio
def portfolio(night: Night) -> None:
    """Stage 5: orders and target holdings for the next trading day (``flyer.portfolio``);
    targets and the cash left are stored in one transaction, the orders kept for stage 6."""
    from flyer.portfolio import plan_book

    scores = pl.read_parquet(night.outdir / "scores.parquet")
    orders, targets, cash = plan_book(night, scores)
    atomic_write(orders, night.outdir / "orders_plan.parquet")
    with night.writing() as store:
        RunLog(store).replace("nightly_targets", night.date, targets,
                              book=pl.DataFrame({"date": [night.date], "trade_date": [night.next_date], "cash": [cash]}))
    night.note(f"{targets.height} target holdings for {night.next_date}, cash {cash:,.0f} CNY")


# ---------------------------------------------------------------------------------- orders
def orders(night: Night) -> None:
    """Stage 6: the orders (lots) into the store and ``orders.csv`` / ``orders.parquet``."""

    book = pl.read_parquet(night.outdir / "orders_plan.parquet")
    with night.writing() as store:
        RunLog(store).replace("nightly_orders", night.date, book)
    atomic_write(book, night.outdir / "orders.parquet")
    atomic_write(book, night.outdir / "orders.csv")
    atomic_write(night.log.read("nightly_targets", night.date), night.outdir / "targets.parquet")
    night.note(f"{book.height} orders for {night.next_date} -> {night.outdir / 'orders.csv'}")
