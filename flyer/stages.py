"""The bodies of the nightly stages (orchestrated by ``flyer.nightly.run_night``).

Each takes the ``Night`` context, reads what earlier stages left in the store or in
``night.outdir``, and writes its own output atomically.
"""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl

from flyer.atomic import atomic_text, atomic_write
from flyer.errors import FlyerError


# ---------------------------------------------------------------------------------- ingest
def ingest(night) -> None:  # noqa: ANN001 - flyer.nightly.Night
    """Stage 1: the source's rows after the store's last bar date, through ``night.date``
    (``flyer.data.sources.ingest``, the same call as ``flyer ingest``)."""
    from flyer.data.sources import ingest as ingest_source

    src, store, day = night.config.source, night.store, night.date
    last = store.one("SELECT max(date) FROM bars")[0]  # None on an empty store
    if last is not None and last >= day and src.kind == "sim":
        night.note(f"store already holds {day}")
        return
    report = ingest_source(store, src, since=last, until=day)
    night.note(f"ingested {report.rows_written:,} rows ({report.rows_rejected:,} rejected)")


# -------------------------------------------------------------------------------- validate
def validate(night) -> None:  # noqa: ANN001
    """Stage 2: the day has bars, and the last ingest did not reject more than it kept."""
    n = night.store.one("SELECT count(*) FROM bars WHERE date = ?", [night.date])[0]
    if n == 0:
        raise FlyerError(f"no bars for {night.date} in the store (source {night.config.source.kind})")
    last = night.store.ingest_log().row(0, named=True)
    if last["rows_rejected"] > max(last["rows_written"], 100):
        raise FlyerError(f"ingest #{last['id']} rejected {last['rows_rejected']:,} rows (kept {last['rows_written']:,})")
    night.note(f"{n:,} bars on {night.date}")


# --------------------------------------------------------------------------------- factors
def factors(night) -> None:  # noqa: ANN001
    """Stage 3: factor values for the dates after the last stored one, through the day."""
    from flyer.factors.library import load
    from flyer.factors.pipeline import update

    rep = update(night.store, night.home, load(night.config.factor_set), end=night.date)
    night.note(f"factors {rep.set_name}: {rep.dates_written} date(s) computed in {rep.seconds:.1f}s")


# ----------------------------------------------------------------------------------- score
def score(night) -> None:  # noqa: ANN001
    """Stage 4: scores for the day from the configured runs (rank-averaged when several)."""
    from flyer.models import load_run

    run_ids = list(night.config.runs) + _retrained(night)
    if not run_ids:
        raise FlyerError("no model run configured: set runs = [\"<id>\"] in the config (see `flyer runs`) "
                         "or [retrain] schedule = \"monthly\"")
    parts = []
    for rid in run_ids:
        s = load_run(night.home, rid).predict(night.store, night.date)
        parts.append(s.with_columns(pl.col("score").rank("average").truediv(pl.len()).alias("score"),
                                    pl.lit(rid).alias("run")))
    scores = (pl.concat(parts).group_by("date", "symbol").agg(pl.col("score").mean())
              .sort("score", "symbol", descending=[True, False]))

    atomic_write(scores, night.outdir / "scores.parquet")
    night.note(f"scored {scores.height} stocks with {len(run_ids)} run(s)")


def _retrained(night) -> list[str]:  # noqa: ANN001
    """Run ids from scheduled retraining (``[retrain] schedule = "monthly"``): the first night
    of each month trains a new run on a rolling window that ends ``horizon`` days before the
    night; the other nights reuse it. The run id is the config's content hash, so a rerun of a
    failed night trains the same run again."""
    from flyer.models import make_config, train

    cfg = night.config.retrain
    if cfg.schedule == "never":
        return []
    marker = night.home / "nightly" / "retrained_run.json"
    month = f"{night.date:%Y-%m}"
    if marker.exists():
        last = json.loads(marker.read_text())
        if last.get("month") == month:
            return [last["run"]]
    pad = dt.timedelta(days=10)  # keeps every label (t+1..t+2 closes) inside its window
    valid_start = night.date - dt.timedelta(days=30 * cfg.valid_months)
    train_start = valid_start - dt.timedelta(days=365 * cfg.train_years)
    mc = make_config(cfg.model, train=(train_start, valid_start - pad), valid=(valid_start, night.date - pad),
                     test=None, factors=night.config.factor_set)
    run = train(night.store, mc, home=night.home)
    atomic_text(json.dumps({"month": month, "run": run.id}), marker)
    night.note(f"retrained {cfg.model} run {run.id}")
    return [run.id]


# ------------------------------------------------------------------------------- portfolio
def portfolio(night) -> None:  # noqa: ANN001
    """Stage 5: orders and target holdings for the next trading day (``flyer.portfolio``);
    targets and the cash left are stored in one transaction, the orders kept for stage 6."""
    from flyer.portfolio import plan_book

    scores = pl.read_parquet(night.outdir / "scores.parquet")
    orders, targets, cash = plan_book(night, scores)
    atomic_write(orders, night.outdir / "orders_plan.parquet")
    night.log.replace("nightly_targets", night.date, targets,
                      book=pl.DataFrame({"date": [night.date], "trade_date": [night.next_date], "cash": [cash]}))
    night.note(f"{targets.height} target holdings for {night.next_date}, cash {cash:,.0f} CNY")


# ---------------------------------------------------------------------------------- orders
def orders(night) -> None:  # noqa: ANN001
    """Stage 6: the orders (lots) into the store and ``orders.csv`` / ``orders.parquet``."""

    book = pl.read_parquet(night.outdir / "orders_plan.parquet")
    night.log.replace("nightly_orders", night.date, book)
    atomic_write(book, night.outdir / "orders.parquet")
    atomic_write(book, night.outdir / "orders.csv")
    atomic_write(night.log.read("nightly_targets", night.date), night.outdir / "targets.parquet")
    night.note(f"{book.height} orders for {night.next_date} -> {night.outdir / 'orders.csv'}")
