"""Capacity curve: the same strategy at a ladder of capital levels.

``capacity_curve(store, scores, config, capitals)``:
  1. ``flyer.backtest.api.prepare`` once (one market, one signal) when the strategy's plan does
     not depend on capital (top-k, the benchmark tilt: ``Strategy.sized_by_capital``);
  2. then ``flyer.backtest.api.execute`` with one config per capital level (a sweep over
     ``Params.capital``: G portfolios side by side in one kernel call), each under the config's
     participation limit and impact model;
     a strategy whose plan depends on capital (``enhance`` with impact or a participation limit:
     its optimiser prices the impact of each trade on the NAV and bounds it by participation x
     ADV / NAV) is prepared and planned anew at every level, then executed - a curve that
     re-used the small portfolio's plan at 1e10 CNY would trade a book no one would choose
     at that size and overstate the loss (or, without impact in the plan, hide it);
  3. per level (:func:`level_row`): annual excess return, tracking error, information ratio,
     impact drag, total cost drag, annual turnover, average participation, fill rate and the
     share of days with unfilled orders (``flyer.backtest.execution.summary``);
  4. :func:`half_excess_aum`: the capital at which the annual excess return has fallen to
     half of its value at the smallest level, interpolated in log capital between the two
     levels that bracket it (None, with the reason, when it does not fall that far).
A curve without market impact or a participation limit is flat by construction: the CLI
turns impact on for it by default.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Sequence

import polars as pl

from flyer.backtest import execution
from flyer.backtest.api import execute, prepare
from flyer.backtest.config import BacktestConfig
from flyer.backtest.strategy import strategy_for
from flyer.core import progress
from flyer.core.errors import FlyerError
from flyer.core.values import as_float

if TYPE_CHECKING:
    from flyer.backtest.result import BacktestResult
    from flyer.data.store import MarketStore
    from flyer.models.parallel import Runner

DEFAULT_CAPITALS = (1e7, 1e8, 5e8, 1e9, 5e9, 1e10)
COLUMNS = ("capital", "excess_annual_return", "tracking_error", "information_ratio", "annual_return", "impact_drag",
           "cost_drag", "annual_turnover", "avg_participation", "fill_rate", "unfilled_days")


@dataclass(frozen=True)
class Capacity:
    """A capacity curve: ``table`` (one row per capital level, ``COLUMNS``), ``half_aum`` (CNY,
    the capital where excess return halves, None when not within the ladder), ``note`` (how
    it was found, or why not), the ``results`` of every level (same order as the table) and
    ``replanned`` (True when the strategy was planned anew at each level)."""

    table: pl.DataFrame
    half_aum: float | None
    note: str
    results: tuple[BacktestResult, ...]
    replanned: bool = False


def capacity_curve(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig,
                   capitals: Sequence[float] = DEFAULT_CAPITALS, runner: Runner | None = None) -> Capacity:
    """Run ``config`` at every capital in ``capitals`` (CNY, sorted ascending): one engine call
    (or one task per level on a ``runner``: ``flyer.models.parallel``, the same records), or one
    plan and run per level for a strategy sized by capital (module docstring)."""
    levels = sorted({float(c) for c in capitals})
    if len(levels) < 2 or levels[0] <= 0:
        raise FlyerError(f"a capacity curve needs at least two positive capital levels, got {list(capitals)}")
    replan = strategy_for(config.strategy).sized_by_capital(config)
    if replan:
        results = []
        for c in progress.tracked(levels, "capacity levels", "levels"):
            prep = prepare(store, scores, config.replace(capital=c))
            results += execute(prep, [prep.config])
    else:
        prep = prepare(store, scores, config)
        results = execute(prep, [prep.config.replace(capital=c) for c in levels], runner=runner)
    table = pl.DataFrame([level_row(r) for r in results]).select(COLUMNS)
    half, note = half_excess_aum(table["capital"].to_list(), table["excess_annual_return"].to_list())
    if replan:
        note += "; the strategy was planned anew at each level (its optimiser sizes trades on the NAV)"
    return Capacity(table, half, note, tuple(results), replan)


def level_row(result: BacktestResult) -> dict[str, float]:
    """One capital level's row of the curve (see ``COLUMNS``)."""
    m = result.metrics()
    ex = execution.summary(result)
    return {"capital": result.config.capital, **{k: as_float(m[k]) for k in (
        "excess_annual_return", "tracking_error", "information_ratio", "annual_return", "cost_drag",
        "annual_turnover")},
        **{k: ex[k] for k in ("impact_drag", "avg_participation", "fill_rate", "unfilled_days")}}


def half_excess_aum(capitals: Sequence[float], excess: Sequence[float]) -> tuple[float | None, str]:
    """(capital at which ``excess`` first falls to half its first value, how it was found).

    Linear interpolation in log capital between the last level above half and the first at or
    below it. None when the first excess return is not positive or never halves."""
    base = excess[0]
    if not base > 0:
        return None, f"excess return at {capitals[0]:,.0f} CNY is {base:.2%}: no positive excess to halve"
    target = base / 2
    for i in range(1, len(capitals)):
        if excess[i] <= target:
            hi, lo = excess[i - 1], excess[i]
            f = (hi - target) / (hi - lo) if hi != lo else 0.0
            log_c = math.log(capitals[i - 1]) + f * (math.log(capitals[i]) - math.log(capitals[i - 1]))
            return math.exp(log_c), (f"excess return halves ({base:.2%} -> {target:.2%}) between "
                                     f"{capitals[i - 1]:,.0f} and {capitals[i]:,.0f} CNY (interpolated in log capital)")
    return None, f"excess return stays above half of {base:.2%} up to {capitals[-1]:,.0f} CNY"
