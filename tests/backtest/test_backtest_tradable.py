"""Finding 11: scores for symbols not listed (or suspended) on the score date are dropped and
counted, so whether a stock lists in the future never changes past trades."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig


def test_future_listings_do_not_change_past_trades(sim_store) -> None:
    start, end = dt.date(2019, 1, 2), dt.date(2019, 12, 31)
    inst = sim_store.instruments()
    late = inst.filter(pl.col("list_date") > dt.date(2019, 6, 1)).sort("list_date")["symbol"][0]
    listed = sim_store.instruments().filter(pl.col("list_date") <= dt.date(2018, 6, 1))["symbol"].to_list()
    bars = sim_store.bars(start, end, symbols=listed, columns=["close"])
    rng = np.random.default_rng(3)
    scores = bars.select("date", "symbol", pl.Series("score", rng.normal(size=bars.height)))
    days = sim_store.calendar(start, end)
    ghost = pl.DataFrame({"date": days, "symbol": [late] * days.len(), "score": [99.0] * days.len()})
    cfg = BacktestConfig(k=10, n_drop=2, start=start, end=end)
    plain = run(sim_store, scores, cfg)
    with_ghost = run(sim_store, pl.concat([scores, ghost]), cfg)
    before = with_ghost.trades().filter(pl.col("date") < inst.filter(pl.col("symbol") == late)["list_date"][0])
    assert late not in before["symbol"].to_list()
    listed_days = sim_store.bars(start, end, symbols=[late], columns=["close"]).height
    assert with_ghost.diagnostics.run.unlisted_scores == days.len() - listed_days > 0
    assert plain.diagnostics.run.unlisted_scores == 0
    # through its listing day the two runs trade identically
    cut = inst.filter(pl.col("symbol") == late)["list_date"][0]
    a = plain.trades().filter(pl.col("date") <= cut)
    b = with_ghost.trades().filter(pl.col("date") <= cut)
    assert a.equals(b) and a.height > 0
