"""A weighted pool used directly as a score: ``[date, symbol, score]`` from the market store.

``combined_scores(store, pool, start, end)`` computes, for the pool's universe (its ``[pool]``
table; ``all`` when the file does not say), every member formula point in time exactly as the
miner did (``flyer.factors.mining.nodes``: cross sections over that date's members), then per
date standardises each member over the members with a value (the pool's ``norm``: ranks or
z-scores; a missing value counts as the mean) and sums them with the pool's weights. The
score of date t uses bars up to t only (the scores contract: it trades on the next day).
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from flyer.factors.expr import fields_of
from flyer.factors.mining.evaluate import NORMS
from flyer.factors.mining.kernels import standardize_nb
from flyer.factors.mining.nodes import NodeCache, tree_values
from flyer.factors.mining.panel import build_scoring_data, load_bars
from flyer.factors.mining.poolfile import PoolFile

from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore


def combined_scores(store: MarketStore, pool: PoolFile, start: dt.date | None = None,
                    end: dt.date | None = None) -> pl.DataFrame:
    """``[date, symbol, score]`` of the pool's combined signal on ``[start, end]`` (default: the store's span)."""
    fs = pool.factor_set
    if not len(fs):
        raise FlyerError(f"pool {fs.name!r} is empty: nothing to score (mine again with a larger budget)")
    if pool.norm not in NORMS:
        raise FlyerError(f"pool {fs.name!r}: unknown norm {pool.norm!r} in its [pool] table")
    cal = store.calendar()
    if cal.len() == 0:
        raise FlyerError("the market store has no trading days")
    span = (start or cal[0], end or cal[-1])
    fields = tuple(sorted(set().union(*(fields_of(e) for e in fs.exprs))))
    bars, members = load_bars(store, pool.universe, span[0], span[1], fs.lookback, 0, fields)
    data = build_scoring_data(bars, members, span, fields)
    cache = NodeCache(512 * 2**20)
    score = np.zeros(data.n_cells)
    for expr, w in zip(fs.exprs, pool.weights):
        v = tree_values(data, expr, cache)[data.cell_rows]
        z, _ = standardize_nb(np.where(np.isfinite(v), v, np.nan), data.segments, NORMS[pool.norm])
        score += w * z
    rows = data.cell_rows
    dates = pl.Series("date", data.dates, dtype=pl.Date).gather(data.panel["date"].to_numpy()[rows])
    symbols = pl.Series("symbol", data.symbols, dtype=pl.String).gather(data.panel["symbol"].to_numpy()[rows])
    return pl.DataFrame([dates, symbols, pl.Series("score", score)]).sort("date", "symbol")
