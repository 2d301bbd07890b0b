"""Compute factor values from a ``MarketStore`` and store them (what the CLI and nightly call).

1. ``load_bars``: the store's adjusted bars for [start, end] plus the ``lookback`` trading days
   before ``start`` that the set needs, with each symbol's industry.
2. ``compute_range``: date chunks of about ``chunk_rows`` rows, each loaded by ``load_bars`` and
   computed by ``flyer.factors.engine.compute``, yielded one by one (memory bounded by a chunk).
3. ``update``: ``compute_range`` -> ``flyer.factors.storage.write`` into the folder of the set's
   content key (``FactorSet.key(qlib_compat)``); without ``start`` it continues after the last
   stored date, so a nightly run computes and appends just the new dates.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass
from typing import Iterator

import polars as pl

from flyer import progress
from flyer.data.fields import attach
from flyer.data.store import MarketStore
from flyer.data.universe import members
from flyer.factors import storage
from flyer.factors.expr import fields_of
from flyer.factors.engine import FactorSpec, as_factor_set, compute
from flyer.factors.factorset import FactorSet
from flyer.errors import FlyerError


def load_bars(store: MarketStore, factor_set: FactorSet, start: dt.date | None = None,
              end: dt.date | None = None, symbols: list[str] | None = None) -> pl.DataFrame:
    """Step 1: bars for [start, end] plus the set's lookback in trading days before ``start``."""
    lo = start
    if start is not None:
        before = store.calendar(end=start)
        before = before.filter(before < start)
        lo = before[max(before.len() - factor_set.lookback, 0)] if before.len() and factor_set.lookback else start
    bars = store.bars(start=lo, end=end, symbols=symbols)
    return attach(store, bars, set().union(*(fields_of(e) for e in factor_set.exprs)) | {"industry"})


def compute_range(store: MarketStore, factor_set: FactorSpec, start: dt.date | None = None,
                  end: dt.date | None = None, *, qlib_compat: bool = False,
                  chunk_rows: int = 750_000) -> Iterator[pl.DataFrame]:
    """Step 2: factor values for trading days in [start, end], one date chunk at a time."""
    fs = as_factor_set(factor_set)
    days = store.calendar(start, end)
    if days.len() == 0:
        return
    n_sym = max(store.instruments().height, 1)  # an upper bound: cheaper than counting bars
    step = max(chunk_rows // n_sym, 20)
    with progress.task(f"factors {fs.name}", total=-(-days.len() // step), unit="chunks") as bar:
        for i in range(0, days.len(), step):
            d0, d1 = days[i], days[min(i + step, days.len()) - 1]
            bars = load_bars(store, fs, d0, d1)
            if bars.height == 0:
                bar.advance()
                continue
            out = compute(bars, fs, qlib_compat=qlib_compat)
            bar.advance(info=f"{d0}..{d1}")
            yield out.filter(pl.col("date") >= d0)


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


def update(store: MarketStore, home: str | os.PathLike, factor_set: FactorSpec,
           start: dt.date | None = None, end: dt.date | None = None, *,
           qlib_compat: bool = False, chunk_rows: int = 750_000) -> UpdateReport:
    """Step 3: compute and write; ``start`` defaults to the day after the last stored date."""
    t0 = time.perf_counter()
    fs = as_factor_set(factor_set)
    root = storage.set_root(home, fs, qlib_compat)
    storage.ensure_manifest(root, fs, qlib_compat)
    if start is None:
        have = storage.stored_dates(root)
        start = have[-1] + dt.timedelta(days=1) if have else None
    if start is not None and end is not None and start > end:
        raise FlyerError(f"start {start} is after end {end}")
    n_dates = rows = 0
    first = last = None
    for chunk in compute_range(store, fs, start, end, qlib_compat=qlib_compat, chunk_rows=chunk_rows):
        if chunk.height == 0:
            continue
        n_dates += storage.write(chunk, root)
        rows += chunk.height
        first = first or chunk["date"].min()
        last = chunk["date"].max()
    return UpdateReport(fs.name, fs.key(qlib_compat), str(root), n_dates, rows, first, last, time.perf_counter() - t0)


def universe_frame(store: MarketStore, universe: str, start: dt.date | None,
                   end: dt.date | None) -> pl.DataFrame | None:
    """Point-in-time ``[date, symbol]`` of ``universe`` (all | csi500 | csi300 | an index code)."""
    return members(store, universe, start, end)


def factor_values(store: MarketStore, home: str | os.PathLike, factor_set: FactorSpec,
                  start: dt.date | None = None, end: dt.date | None = None, *,
                  universe: pl.DataFrame | None = None) -> pl.DataFrame:
    """Values ``[date, symbol, <factors>]`` for [start, end]: read from storage when every
    trading day is stored (default mode, under the set's key), else computed from the store
    (kept to ``universe`` rows if given)."""
    fs = as_factor_set(factor_set)
    root = storage.set_root(home, fs)
    info = store.info()
    if info["last_date"] is None:
        raise FlyerError("the market store holds no bars")
    end = min(end or info["last_date"], info["last_date"])
    start = max(start or info["first_date"], info["first_date"])
    days = store.calendar(start, end)
    have = set(storage.stored_dates(root))
    if days.len() and all(d in have for d in days):
        lf = storage.scan(root, days[0], days[-1], factors=list(fs.names))
        if universe is not None:
            lf = lf.join(universe.lazy(), on=["date", "symbol"], how="semi")
        out = lf.sort("date", "symbol").collect()
    else:
        parts = []
        for chunk in compute_range(store, fs, start, end):
            if universe is not None:
                chunk = chunk.join(universe, on=["date", "symbol"], how="semi")
            parts.append(chunk)
        if not parts:
            raise FlyerError(f"no bars in the store for {start or '...'}..{end or '...'}")
        out = pl.concat(parts)
    return out.join(universe, on=["date", "symbol"], how="semi") if universe is not None else out


def evaluate(store: MarketStore, home: str | os.PathLike, factor_set: FactorSpec, *,
             start: dt.date | None = None, end: dt.date | None = None, universe: str = "all",
             horizon: int = 5, quantiles: int = 5):  # -> tuple[dict[str, FactorEvaluation], pl.DataFrame]
    """Evaluate a set over a universe: ``(evaluations by factor, factor values)``."""
    from flyer.factors import evaluation as ev

    fs = as_factor_set(factor_set)
    univ = universe_frame(store, universe, start, end)
    values = factor_values(store, home, fs, start, end, universe=univ)
    horizons = tuple(sorted({*ev.HORIZONS, horizon}))
    last = values["date"].max()
    after = store.calendar(start=last)
    end_ret = after[min(max(horizons) + 1, after.len() - 1)] if after.len() else last
    bars = store.bars(start=values["date"].min(), end=end_ret).select("symbol", "date", "close")
    fwd = ev.forward_returns(bars, horizons)
    evals = ev.evaluate_set(values, fwd, horizon=horizon, universe=univ, quantiles=quantiles, horizons=horizons)
    return evals, values
