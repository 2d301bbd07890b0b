"""Strategies as objects: a small protocol and a registry (top-k, benchmark tilt, enhance).

A strategy turns a run's scores (and, for tomorrow's orders, tonight's book) into a plan:

    class Strategy(Protocol):
        name: ClassVar[str]          # its ``BacktestConfig.strategy`` value
        mode: ClassVar[int]          # the engine kernel's code (``strategies.MODE_*``)
        holds_k: ClassVar[bool]      # holds ``k`` names (``k`` must fit the scored stocks)
        settings: ClassVar[str|None] # the config table of its own settings (``enhance``), if any
        reads_data: ClassVar[bool]   # False: it plans nothing (StrategyPlan(name)), so a cached run loads no data
        index_codes(config)          # membership it reads besides the benchmark's
        sized_by_capital(config)     # whether its plan depends on the capital (capacity re-plans)
        plan(ctx) -> StrategyPlan    # the run's per-date target weights (or none), notes
        day_weights(...)             # tomorrow's given weights [symbol, weight] (or none)

The engine (``flyer.backtest.engine``), the backtest (``flyer.backtest.api``), tomorrow's orders
(``flyer.backtest.orders``), the slow reference and the nightly ask the registry
(``strategy_for``), never compare strategy names. Adding a strategy is one class here (and its
kernel branch when it is neither top-k nor given weights).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Protocol

import polars as pl

from flyer.backtest.plan import WEIGHT_SCHEMA, StrategyPlan
from flyer.backtest.strategies import MODE_TOPK, MODE_WEIGHTS, benchmark_tilt
from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.backtest.config import BacktestConfig
    from flyer.backtest.loader import RunData
    from flyer.backtest.market import Market
    from flyer.data.store import MarketStore


@dataclass(frozen=True, eq=False)
class PlanContext:
    """What a strategy plans from: the store (for a risk model), the run's loaded data, its
    tradable scores [date, symbol, score] in [start, end] and the resolved config."""

    store: MarketStore
    data: RunData
    scores: pl.DataFrame
    config: BacktestConfig

    def market(self) -> Market:
        """The market over every loaded symbol (scored names and members): what the engine will
        be able to trade, day by day (built from the loaded data, cached by store content)."""
        from flyer.backtest.market import cached

        return cached(self.store, self.data, self.data.bars["symbol"].unique().sort().to_list(), self.config.rules)


class Strategy(Protocol):
    """See the module docstring."""

    name: ClassVar[str]
    mode: ClassVar[int]
    holds_k: ClassVar[bool]
    settings: ClassVar[str | None]
    reads_data: ClassVar[bool]

    def index_codes(self, config: BacktestConfig) -> tuple[str, ...]: ...

    def sized_by_capital(self, config: BacktestConfig) -> bool:
        """True when the plan depends on ``config.capital`` (so a capacity curve must plan each
        capital level anew); False when one plan serves every level."""
        ...

    def plan(self, ctx: PlanContext) -> StrategyPlan: ...

    def day_weights(self, store: MarketStore, scores: pl.DataFrame, holdings: pl.DataFrame, cash: float,
                    config: BacktestConfig, date: dt.date) -> pl.DataFrame | None:
        """Tomorrow's target weights [symbol, weight] from tonight's scores [symbol, score] and
        book (holdings [symbol, shares], cash CNY), or None for a strategy that chooses in the
        kernel (top-k); ``flyer.backtest.orders.targets`` turns them into actions."""
        ...


class TopK:
    """qlib's TopkDropout: hold ``k`` names, swap the ``n_drop`` worst each rebalance
    (``strategies.topk_dropout_nb``, inside the engine)."""

    name: ClassVar[str] = "topk"
    mode: ClassVar[int] = MODE_TOPK
    holds_k: ClassVar[bool] = True
    settings: ClassVar[str | None] = None
    reads_data: ClassVar[bool] = False

    def index_codes(self, config: BacktestConfig) -> tuple[str, ...]:
        return ()

    def sized_by_capital(self, config: BacktestConfig) -> bool:
        return False

    def plan(self, ctx: PlanContext) -> StrategyPlan:
        return StrategyPlan(self.name)

    def day_weights(self, store: MarketStore, scores: pl.DataFrame, holdings: pl.DataFrame, cash: float,
                    config: BacktestConfig, date: dt.date) -> pl.DataFrame | None:
        return None


class BenchmarkTilt:
    """The universe's point-in-time weights tilted by score within ``active_limit``
    (``strategies.benchmark_tilt``)."""

    name: ClassVar[str] = "benchmark"
    mode: ClassVar[int] = MODE_WEIGHTS
    holds_k: ClassVar[bool] = False
    settings: ClassVar[str | None] = None
    reads_data: ClassVar[bool] = True

    def index_codes(self, config: BacktestConfig) -> tuple[str, ...]:
        return (config.universe,)

    def sized_by_capital(self, config: BacktestConfig) -> bool:
        return False

    def plan(self, ctx: PlanContext) -> StrategyPlan:
        members = ctx.data.members_of(ctx.config.universe)
        if members.height == 0:
            raise FlyerError(f"no membership of {ctx.config.universe} in the store for "
                             f"{ctx.data.days[0]}..{ctx.data.days[-1]}")
        return StrategyPlan(self.name, benchmark_tilt(members, ctx.scores, ctx.config.active_limit))

    def day_weights(self, store: MarketStore, scores: pl.DataFrame, holdings: pl.DataFrame, cash: float,
                    config: BacktestConfig, date: dt.date) -> pl.DataFrame | None:
        members = store.membership(config.universe, date, date)
        if members.height == 0:
            raise FlyerError(f"no membership of {config.universe} in the store for {date}")
        day = scores.select(pl.lit(date).alias("date"), "symbol", "score")
        return benchmark_tilt(members, day, config.active_limit).select("symbol", "weight")


class Enhance:
    """CSI 500 enhanced-index weights from an optimiser with a risk model and a tracking-error
    target (``flyer.backtest.enhance``)."""

    name: ClassVar[str] = "enhance"
    mode: ClassVar[int] = MODE_WEIGHTS
    holds_k: ClassVar[bool] = False
    settings: ClassVar[str | None] = "enhance"
    reads_data: ClassVar[bool] = True

    def index_codes(self, config: BacktestConfig) -> tuple[str, ...]:
        return (config.universe,)

    def sized_by_capital(self, config: BacktestConfig) -> bool:
        """The optimiser prices impact on the NAV and bounds trades by participation x ADV / NAV."""
        return config.charged_impact_k > 0 or config.participation > 0

    def plan(self, ctx: PlanContext) -> StrategyPlan:
        from flyer.backtest.enhance import plan

        p = plan(ctx.store, ctx.scores, ctx.config, market=ctx.market())
        return StrategyPlan(self.name, p.weights, p.diagnostics, p.notes)

    def day_weights(self, store: MarketStore, scores: pl.DataFrame, holdings: pl.DataFrame, cash: float,
                    config: BacktestConfig, date: dt.date) -> pl.DataFrame | None:
        from flyer.backtest.enhance import day_weights

        return day_weights(store, scores, holdings, cash, config, date)[0]


STRATEGIES: dict[str, Strategy] = {s.name: s for s in (TopK(), BenchmarkTilt(), Enhance())}


def strategy_for(name: str) -> Strategy:
    """The registered strategy ``name`` (a ``FlyerError`` naming the known ones otherwise)."""
    try:
        return STRATEGIES[name]
    except KeyError:
        raise FlyerError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}") from None


def empty_weights() -> pl.DataFrame:
    """A [date, symbol, weight] frame with no rows."""
    return pl.DataFrame(schema=WEIGHT_SCHEMA)
