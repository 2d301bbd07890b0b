"""Compute factor values from a ``MarketStore`` and store them (what the CLI and nightly call).

1. ``load_bars``: the store's adjusted bars for [start, end] plus the ``lookback`` trading days
   before ``start`` that the set needs, with each symbol's industry.
2. ``compute_range``: one calendar half-year (epoch) at a time, each loaded by ``load_bars`` from
   the lookback before the epoch's first day and computed by ``flyer.factors.engine.compute`` as
   float32 (what storage keeps), yielded one by one; a day's value never depends on the range
   asked (incremental == batch); over a universe, a set without cross-sectional operators is
   computed for the universe's stocks only.
3. ``update``: ``compute_range`` -> ``flyer.factors.storage.write`` into the folder of the set's
   content key (``FactorSet.key(qlib_compat)``); without ``start`` it continues after the last
   stored date, so a nightly run computes and appends just the new dates.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass

import polars as pl
from flyer.data.fields import EXTRA_FIELDS, attach
from flyer.data.store import MarketStore
from flyer.data.universe import members
from flyer.factors import storage
from flyer.factors.engine import FactorSpec, as_factor_set, compute
from flyer.factors.evaluation import FactorEvaluation
from flyer.factors.expr import CrossSection, fields_of
from flyer.factors.factorset import FactorSet

from flyer.core import progress
from flyer.core.errors import FlyerError


def load_bars(store: MarketStore, factor_set: FactorSet, start: dt.date | None = None,
              end: dt.date | None = None, symbols: list[str] | None = None) -> pl.DataFrame:
    """Step 1: bars for [start, end] plus the set's lookback in trading days before ``start``
    (only the columns the set reads, ``is_suspended`` and its attached fields)."""
    lo = lookback_start(store.calendar(end=start), start, factor_set.lookback) if start is not None else None
    return _bars(store, factor_set, lo, end, symbols)


def lookback_start(cal: pl.Series, start: dt.date, lookback: int) -> dt.date:
    """The trading day ``lookback`` trading days before ``start`` in the calendar ``cal`` (as
    far back as it goes); ``start`` itself without lookback."""
    before = cal.filter(cal < start)
    return as_day(before[max(before.len() - lookback, 0)]) if before.len() and lookback else start


def _bars(store: MarketStore, fs: FactorSet, lo: dt.date | None, end: dt.date | None,
          symbols: list[str] | None) -> pl.DataFrame:
    fields = set().union(*(fields_of(e) for e in fs.exprs))
    for n in (n for e in fs.exprs for n in e.walk() if isinstance(n, CrossSection)):
        fields |= set(n.by)                      # Neutralize(x, industry, cap) reads both
    columns = sorted((fields - set(EXTRA_FIELDS)) | {"is_suspended"})
    bars = store.bars(start=lo, end=end, symbols=symbols, columns=columns)
    return attach(store, bars, fields & set(EXTRA_FIELDS))


def as_day(value: object) -> dt.date:
    """A date from a polars aggregate of a date column (``Series.min()`` / ``.max()``) or a store's
    info; ``FlyerError`` when it is something else."""
    if not isinstance(value, dt.date):
        raise FlyerError(f"expected a date, got {value!r}")
    return value


def epoch_start(day: dt.date) -> dt.date:
    """The first calendar day of ``day``'s epoch (a calendar half-year: Jan-Jun, Jul-Dec)."""
    return dt.date(day.year, 1 if day.month <= 6 else 7, 1)


#: epochs read from the store by one query, then sliced in memory (fewer round trips)
EPOCHS_PER_LOAD = 4


def compute_range(store: MarketStore, factor_set: FactorSpec, start: dt.date | None = None,
                  end: dt.date | None = None, *, qlib_compat: bool = False,
                  chunk_rows: int = 750_000, symbols: list[str] | None = None,
                  universe: pl.DataFrame | None = None,
                  dtype: type[pl.DataType] = pl.Float32) -> Iterator[pl.DataFrame]:
    """Step 2: factor values (``dtype``, float32 by default: what storage holds) for trading days
    in [start, end], one epoch at a time. ``symbols``: compute only these; ``universe``
    (``[date, symbol]``): compute each epoch for the stocks that are members on one of its
    dates (both only for a set without cross-sectional operators, whose values do not depend
    on the other stocks: a member's values are exactly those of the whole market).

    Incremental equals batch EXACTLY: a value at day t is always computed from the same panel,
    the bars from the set's lookback before the first stored trading day of t's epoch (a
    calendar half-year, ``epoch_start``) through t, whatever [start, end] was asked. Rolling
    sums and kernels carry state from the panel's first row, so a panel started elsewhere would
    round differently (up to 1e-5 relative was measured on Alpha158's RESI/BETA). A nightly
    therefore recomputes its epoch so far (up to ~125 rows per symbol, plus the lookback);
    ``chunk_rows`` bounds the instrument blocks of a set without cross-sectional operators
    (exact); a set with one is computed as one panel per epoch. ``EPOCHS_PER_LOAD`` epochs are
    read by one store query and sliced by date (the same rows as one query per epoch).
    Non-finite outputs (inf from an overflow) become null (counted by ``update``)."""
    fs = as_factor_set(factor_set)
    if (symbols is not None or universe is not None) and fs.cross_sectional:
        raise FlyerError(f"factor set {fs.name!r} has cross-sectional operators: compute it on every stock")
    check_span(store, fs)
    days = store.calendar(start, end)
    if days.len() == 0:
        return
    cal = store.calendar()
    d = pl.col("date")
    half = pl.date(d.dt.year(), pl.when(d.dt.month() <= 6).then(1).otherwise(7), 1).alias("_e")  # epoch_start
    epochs = days.to_frame().group_by(half, maintain_order=True).agg(d.min().alias("d0"), d.max().alias("d1"))
    spans = [(lookback_start(cal, as_day(cal.filter(cal >= e0)[0]), fs.lookback), d0, d1)
             for e0, d0, d1 in epochs.iter_rows()]
    with progress.task(f"factors {fs.name}", total=len(spans), unit="half-years") as bar:
        for i in range(0, len(spans), EPOCHS_PER_LOAD):
            block = spans[i:i + EPOCHS_PER_LOAD]
            wanted = _members(universe, block[0][1], block[-1][2]) if universe is not None else symbols
            loaded = _bars(store, fs, block[0][0], block[-1][2], wanted)
            for lo, d0, d1 in block:
                bars = loaded.filter(pl.col("date").is_between(lo, d1))
                if universe is not None:
                    bars = bars.filter(pl.col("symbol").is_in(pl.Series(_members(universe, d0, d1)).implode()))
                bar.advance(info=f"{d0}..{d1}")
                if bars.height == 0:
                    continue
                # a cross-sectional set is one panel (date chunks would round differently); others are
                # cut into blocks of whole instruments, which gives exactly the one-panel values
                rows = bars.height + 1 if fs.cross_sectional else chunk_rows
                out = compute(bars, fs, qlib_compat=qlib_compat, chunk_rows=rows, dtype=dtype)
                yield out.filter(pl.col("date") >= d0)


def _members(universe: pl.DataFrame, d0: dt.date, d1: dt.date) -> list[str]:
    """The stocks that are ``universe`` members on some date of [d0, d1]."""
    return universe.filter(pl.col("date").is_between(d0, d1))["symbol"].unique().sort().to_list()


def check_span(store: MarketStore, fs: FactorSet) -> None:
    """``FormulaError`` naming the first factor whose windows need more trading days than the
    store holds (it could only ever be null)."""
    from flyer.factors.parser import FormulaError

    span = store.calendar().len()
    for name, expr in zip(fs.names, fs.exprs):
        if expr.lookback + 1 > span:
            raise FormulaError(f"factor {name}: its windows need {expr.lookback + 1:,} trading days, "
                               f"the store holds {span:,}: use shorter windows")


def finite(values: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """``values`` with +-inf factor values set to null, and how many there were."""
    cols = [c for c, t in values.schema.items() if c not in ("date", "symbol") and t.is_float()]
    if not cols:
        return values, 0
    n = int(values.select(pl.sum_horizontal(pl.col(c).is_infinite().sum() for c in cols)).item() or 0)
    if n == 0:
        return values, 0
    return values.with_columns(pl.when(pl.col(c).is_infinite()).then(None).otherwise(pl.col(c)).alias(c)
                               for c in cols), n


@dataclass(frozen=True)
class UpdateReport:
    """What ``update`` did (``key``: the content key naming the folder ``root``)."""

    set_name: str
    key: str
    root: str
    dates_written: int
    rows: int
    first: dt.date | None
    last: dt.date | None
    seconds: float
    non_finite: int = 0  # +-inf values stored as null


def update(store: MarketStore, home: str | os.PathLike, factor_set: FactorSpec,
           start: dt.date | None = None, end: dt.date | None = None, *,
           qlib_compat: bool = False, chunk_rows: int = 1_500_000) -> UpdateReport:
    """Step 3: compute and write; ``start`` defaults to the day after the last stored date."""
    t0 = time.perf_counter()
    fs = as_factor_set(factor_set)
    check_span(store, fs)  # before any folder is created
    root = storage.set_root(home, fs, qlib_compat)
    storage.ensure_manifest(root, fs, qlib_compat)
    if start is not None and end is not None and start > end:
        raise FlyerError(f"start {start} is after end {end}")
    if start is None:
        have = storage.stored_dates(root)
        start = have[-1] + dt.timedelta(days=1) if have else None
        if start is not None and end is not None and start > end:  # stored through ``end``: up to date
            return UpdateReport(fs.name, fs.key(qlib_compat), str(root), 0, 0, None, None,
                                time.perf_counter() - t0, 0)
    n_dates = rows = nulled = 0
    first = last = None
    for chunk in compute_range(store, fs, start, end, qlib_compat=qlib_compat, chunk_rows=chunk_rows):
        if chunk.height == 0:
            continue
        chunk, n = finite(chunk)
        nulled += n
        n_dates += storage.write(chunk, root)
        rows += chunk.height
        first = first or as_day(chunk["date"].min())
        last = as_day(chunk["date"].max())
    return UpdateReport(fs.name, fs.key(qlib_compat), str(root), n_dates, rows, first, last, time.perf_counter() - t0,
                        nulled)


def universe_frame(store: MarketStore, universe: str, start: dt.date | None,
                   end: dt.date | None) -> pl.DataFrame | None:
    """Point-in-time ``[date, symbol]`` of ``universe`` (all | csi500 | csi300 | an index code)."""
    return members(store, universe, start, end)


def factor_values(store: MarketStore, home: str | os.PathLike, factor_set: FactorSpec,
                  start: dt.date | None = None, end: dt.date | None = None, *,
                  universe: pl.DataFrame | None = None) -> pl.DataFrame:
    """Values ``[date, symbol, <factors>]`` for [start, end] sorted by (date, symbol): read from
    storage when every trading day is stored (default mode, under the set's key), else computed
    from the store (kept to ``universe`` rows if given)."""
    fs = as_factor_set(factor_set)
    root = storage.set_root(home, fs)
    info = store.info()
    if info["last_date"] is None:
        raise FlyerError("the market store holds no bars")
    first_day, last_day = as_day(info["first_date"]), as_day(info["last_date"])
    end = min(end or last_day, last_day)
    start = max(start or first_day, first_day)
    days = store.calendar(start, end)
    have = set(storage.stored_dates(root))
    if days.len() and all(d in have for d in days):
        lf = storage.scan(root, days[0], days[-1], factors=list(fs.names))
        if universe is not None:
            lf = lf.join(universe.lazy(), on=["date", "symbol"], how="semi")
        return lf.sort("date", "symbol").collect()
    parts = []
    members = None if fs.cross_sectional else universe  # then each epoch computes its members only
    for chunk in compute_range(store, fs, start, end, universe=members):
        chunk = finite(chunk)[0]
        if universe is not None and chunk.height:  # the members of the chunk's dates only (a small hash table)
            days_in = pl.col("date").is_between(as_day(chunk["date"].min()), as_day(chunk["date"].max()))
            chunk = chunk.join(universe.filter(days_in), on=["date", "symbol"], how="semi")
        parts.append(chunk.sort("date", "symbol"))  # epochs come in date order: the whole is sorted
    if not parts:
        raise FlyerError(f"no bars in the store for {start or '...'}..{end or '...'}")
    return pl.concat(parts, rechunk=False)


def member_returns(store: MarketStore, universe: pl.DataFrame | None, start: dt.date, end: dt.date,
                   horizons: tuple[int, ...], batch: int = 300) -> pl.DataFrame:
    """``evaluation.forward_returns`` over [start, end] on the rows of ``universe`` (all rows when
    None), computed ``batch`` stocks at a time from each stock's whole series (a stock's returns
    are its own), so the whole market's closes are never held at once."""
    from flyer.factors.evaluation import forward_returns

    if universe is None:
        return forward_returns(store.bars(start=start, end=end, columns=["close"]), horizons)
    members = universe.select("date", "symbol").unique()
    symbols = members["symbol"].unique().sort().to_list()
    parts = []
    for i in range(0, len(symbols), batch):
        bars = store.bars(start=start, end=end, symbols=symbols[i:i + batch], columns=["close"])
        parts.append(forward_returns(bars, horizons).join(members, on=["date", "symbol"], how="semi"))
    return pl.concat(parts) if parts else forward_returns(store.bars(start=start, end=start, columns=["close"]),
                                                          horizons)


def evaluate(store: MarketStore, home: str | os.PathLike, factor_set: FactorSpec, *,
             start: dt.date | None = None, end: dt.date | None = None, universe: str = "all",
             horizon: int = 5, quantiles: int = 5) -> tuple[dict[str, FactorEvaluation], pl.DataFrame]:
    """Evaluate a set over a universe: ``(evaluations by factor, factor values)``: values read
    or computed (``factor_values``), forward returns of the universe's stocks, then the streamed
    ``evaluation.evaluate_set``."""
    from flyer.factors import evaluation as ev

    fs = as_factor_set(factor_set)
    univ = universe_frame(store, universe, start, end)
    values = factor_values(store, home, fs, start, end, universe=univ)
    horizons = tuple(sorted({*ev.HORIZONS, horizon}))
    last = as_day(values["date"].max())
    after = store.calendar(start=last)
    end_ret = as_day(after[min(max(horizons) + 1, after.len() - 1)]) if after.len() else last
    fwd = member_returns(store, univ, as_day(values["date"].min()), end_ret, horizons)
    evals = ev.evaluate_set(values, fwd, horizon=horizon, universe=univ, quantiles=quantiles, horizons=horizons)
    return evals, values
