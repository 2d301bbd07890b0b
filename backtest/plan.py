"""What a strategy decides before execution: its ``StrategyPlan`` (a typed seam, no dicts).

A plan is the strategy's per-date target weights (none for top-k, which chooses names inside
the engine), one row per rebalance of what its optimiser did (enhance), and the notes it wants
printed. ``flyer.backtest.strategy`` builds it; the engine, the result's diagnostics, the
report and the CLI read it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

from flyer.core.values import as_float

WEIGHT_SCHEMA = {"date": pl.Date, "symbol": pl.Utf8, "weight": pl.Float64}


@dataclass(frozen=True, eq=False)
class StrategyPlan:
    """``strategy``: its registry name. ``weights``: [date, symbol, weight] targets by signal
    date (fractions of NAV), None for a strategy that chooses inside the engine (top-k).
    ``rebalances``: one row per rebalance of an optimising strategy [date, trade_date, status,
    relaxed, predicted_te, turnover, member_share, n_names, n_fixed, seconds, nav, invested,
    expected_cost, expected_impact, capped] (empty otherwise): ``predicted_te`` annual, the
    optimiser's; ``nav`` the paper NAV the rebalance was sized on (CNY); ``invested`` the
    book's weight (below 1 when the participation bounds kept cash); ``expected_cost`` /
    ``expected_impact`` the linear costs and market impact the optimiser expected its trades
    to pay (fractions of NAV); ``capped`` names traded up to their participation bound.
    ``notes``: what it assumed or relaxed, one line each."""

    strategy: str
    weights: pl.DataFrame | None = None
    rebalances: pl.DataFrame = field(default_factory=pl.DataFrame)
    notes: tuple[str, ...] = ()

    @property
    def optimised(self) -> bool:
        """True when an optimiser made the weights (its ``rebalances`` table has rows)."""
        return self.rebalances.height > 0

    def summary(self) -> str:
        """One line on the optimiser's rebalances (empty for a plan without them)."""
        d = self.rebalances
        if d.height == 0:
            return ""
        te, top, turn = as_float(d["predicted_te"].mean()), as_float(d["predicted_te"].max()), as_float(d["turnover"].mean())
        impact = (f", expected impact {as_float(d['expected_impact'].sum()):.2%} of NAV in all, "
                  f"{int(d['capped'].sum()):,} trades at their participation bound"
                  if "expected_impact" in d.columns and as_float(d["expected_impact"].sum()) > 0 else "")
        return (f"{self.strategy}: {d.height} rebalances, predicted TE mean {te:.2%} (max {top:.2%}), turnover mean "
                f"{turn:.2%}, member share min {as_float(d['member_share'].min()):.1%}{impact}, "
                f"solve {as_float(d['seconds'].sum()):.1f}s")
