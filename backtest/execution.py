"""How well a backtest's orders executed: fill rate, participation, market impact, unfilled days.

Computed from a ``BacktestResult`` (its trades and ``execution()`` per day), over the whole run
or over a span of days. Conventions: money in CNY; fractions, not percent; ``impact_drag`` is
impact cost / mean NAV / years with the years of ``flyer.core.stats.elapsed_years`` (the calendar's trading days), as
``cost_drag`` in the headline metrics.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from flyer.core.values import as_float

from flyer.core.stats import elapsed_years

if TYPE_CHECKING:
    from flyer.backtest.result import BacktestResult


def summary(result: BacktestResult, start: dt.date | None = None, end: dt.date | None = None
            ) -> dict[str, float | int]:
    """Execution figures of ``result`` over the days in [start, end] (default all):

    * ``fill_rate``: value filled / value of the open orders, summed over days (an order open
      for several days, capped or blocked, counts each day; lot rounding alone keeps it < 1);
    * ``avg_participation``: value-weighted mean over fills of fill shares / the day's volume;
    * ``impact_cost`` (CNY) and ``impact_drag`` (impact / mean NAV / years);
    * ``unfilled_days``: share of days on which an order was cut by the participation limit
      or blocked (limit, suspension); ``capped_orders``, ``blocked_orders``: their counts;
    * ``unpriced_fills``: fills with impact on but no trailing window (new listings: no impact).
    """
    ex = _span(result.execution(), start, end)
    trades = _span(result.trades(), start, end).filter(pl.col("reason") == "trade")
    daily = _span(result.daily(), start, end)
    demand, filled = float(ex["demand"].sum()), float(ex["filled"].sum())
    capped = ex["capped_buys"] + ex["capped_sells"]
    blocked = ex["blocked_buys"] + ex["blocked_sells"]
    value = trades["value"].to_numpy()
    part = trades["participation"].to_numpy()
    ok = np.isfinite(part)
    years = max(elapsed_years(daily["date"].to_list(), result.year_days), 1e-9) if daily.height else float("nan")
    avg_nav = as_float(daily["nav"].mean()) if daily.height else float("nan")
    impact = as_float(trades["impact"].sum())
    return {
        "fill_rate": filled / demand if demand > 0 else float("nan"),
        "avg_participation": float(np.sum(part[ok] * value[ok]) / np.sum(value[ok])) if ok.any() else float("nan"),
        "impact_cost": impact,
        "impact_drag": impact / avg_nav / years if avg_nav else float("nan"),
        "unfilled_days": as_float(((capped + blocked) > 0).mean()) if ex.height else float("nan"),
        "capped_orders": int(capped.sum()),
        "blocked_orders": int(blocked.sum()),
        "unpriced_fills": _unpriced(result, trades),
    }


def _span(frame: pl.DataFrame, start: dt.date | None, end: dt.date | None) -> pl.DataFrame:
    if start is not None:
        frame = frame.filter(pl.col("date") >= start)
    if end is not None:
        frame = frame.filter(pl.col("date") <= end)
    return frame


def _unpriced(result: BacktestResult, trades: pl.DataFrame) -> int:
    """Fills of a run with impact on whose stock had no ADV / sigma window that day."""
    costs = result.config.costs
    if costs.impact != "sqrt" or costs.impact_k <= 0 or trades.height == 0:
        return 0
    row = {d: i for i, d in enumerate(result.market.dates)}
    col = {s: j for j, s in enumerate(result.market.symbols)}
    i = np.array([row[d] for d in trades["date"].to_list()])
    j = np.array([col[s] for s in trades["symbol"].to_list()])
    a = result.market.arrays
    return int((~(a.adv[i, j] > 0) | ~(a.sigma[i, j] >= 0)).sum())
