"""Orchestration: scores + store + config -> ``BacktestResult`` (``run``) or many (``sweep``).

  1. ``check_scores``: validate the [date, symbol, score] frame (one-line ``FlyerError``s);
  2. ``flyer.backtest.loader``: the store's calendar (``reference``, one read) resolves the run's
     dates (``window``); the rest of what the run reads (membership, bars, benchmark closes:
     ``RunData``) is loaded once, and only when something below needs it (``LazyData``);
  3. ``flyer.backtest.universe.cached``: what any scores on the loaded universe share (bar
     status, the benchmark and its total-return estimate, members without bars), keyed by the
     store's state and the request: from the process memo, the disk cache or built from the
     data; ``Universe.tradable`` drops scores of symbols not trading on their date;
  4. the strategy (``flyer.backtest.strategy.strategy_for``) plans: top-k nothing, the benchmark
     tilt and the enhance optimiser their per-date weights (``StrategyPlan``, from the data);
  5. ``flyer.backtest.market.cached``: dense execution arrays of the scored and weighted
     symbols (memo, memory-mapped disk cache, or built from the data) and the run's
     diagnostics (``flyer.backtest.diagnostics.RunDiagnostics``: days per year, scores
     dropped, members without bars, coverage notes) -> ``RunInputs``;
  6. ``flyer.backtest.engine.simulate``: one kernel call for all parameter sets (column groups,
     ``flyer.backtest.params.Params.from_configs``; a sweep's groups run in parallel threads);
  7. ``execute``: one immutable ``BacktestResult`` per parameter set; its ``diagnostics`` (picks
     made from ties, holdings without bars, orders blocked and capped, notes) are derived from
     its records on demand.
A top-k backtest whose universe and market are cached reads the store twice (calendar, state)
and loads nothing else: its prepare costs the scores' checks and lookups.
``flyer.backtest.session`` adds the score sources, attribution, stress tables, report and the
saved record on top: the CLI, the workflow and the nightly call that.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import polars as pl

from flyer.backtest import loader, market_cache, universe
from flyer.backtest import market as market_mod
from flyer.backtest.config import BacktestConfig
from flyer.backtest.diagnostics import ResultContext, RunDiagnostics, unknown_coverage_notes
from flyer.backtest.market import Market
from flyer.backtest.params import Params
from flyer.backtest.plan import StrategyPlan
from flyer.backtest.result import BacktestResult
from flyer.backtest.strategy import PlanContext, strategy_for
from flyer.core import progress
from flyer.core.errors import FlyerError, UsageError
from flyer.core.stats import year_days

if TYPE_CHECKING:
    from flyer.data.store import MarketStore
    from flyer.models.parallel import Runner

SCORE_COLUMNS = ("date", "symbol", "score")


def check_scores(scores: pl.DataFrame) -> pl.DataFrame:
    """[date, symbol, score] with dtypes Date/Utf8/Float64, nulls and duplicates dropped."""
    missing = [c for c in SCORE_COLUMNS if c not in scores.columns]
    if missing:
        raise FlyerError(f"scores are missing column(s): {', '.join(missing)} (need date, symbol, score)")
    try:
        df = scores.select(pl.col("date").cast(pl.Date), pl.col("symbol").cast(pl.Utf8),
                           pl.col("score").cast(pl.Float64))
    except pl.exceptions.PolarsError as exc:
        raise FlyerError(f"scores have bad types: {str(exc).splitlines()[0]}") from exc
    df = df.filter(pl.col("score").is_not_null() & pl.col("score").is_not_nan())
    if _strictly_sorted(df):  # the usual case (models write sorted scores): no sort, no dedup
        return df
    return df.unique(["date", "symbol"], keep="last").sort("date", "symbol")


def tradable_scores(data: loader.RunData, scores: pl.DataFrame) -> tuple[pl.DataFrame, int, int]:
    """(scores of symbols with a bar on the score date that are not suspended that day, the
    count dropped as unlisted (no bar: not listed yet, or delisted), the count dropped as
    suspended), from loaded data (a backtest asks its cached ``Universe.tradable``)."""
    if scores.height == 0:
        return scores, 0, 0
    rows = data.rows_of(scores["date"], scores["symbol"])
    unlisted = rows < 0
    suspended = np.zeros(rows.shape[0], dtype=np.bool_)
    suspended[~unlisted] = data.bars["is_suspended"].fill_null(False).to_numpy()[rows[~unlisted]]
    return scores.filter(pl.Series(~unlisted & ~suspended)), int(unlisted.sum()), int(suspended.sum())


def _strictly_sorted(df: pl.DataFrame) -> bool:
    """True when rows are sorted by (date, symbol) with no (date, symbol) twice."""
    if df.height < 2:
        return True
    d, s = pl.col("date"), pl.col("symbol")
    ok = (d > d.shift(1)) | ((d == d.shift(1)) & (s > s.shift(1)))
    return bool(df.select(ok.slice(1).all()).item())


def dense_signals(market: Market, frame: pl.DataFrame, column: str) -> np.ndarray:
    """(T, N) array of ``column`` from a [date, symbol, column] frame; NaN where absent."""
    out = np.full(market.shape, np.nan)
    days = np.array(market.dates, dtype="datetime64[D]").astype(np.int64)
    ri = loader.day_positions(days, frame["date"])
    ci = loader.symbol_positions(market.symbols, frame["symbol"])
    ok = (ri >= 0) & (ci >= 0)
    out[ri[ok], ci[ok]] = frame[column].cast(pl.Float64).to_numpy()[ok]
    return out


@dataclass(frozen=True, eq=False)
class RunInputs:
    """Inputs shared by every parameter set of one run (same dates, deal price, strategy):
    ``config`` (dates resolved), the ``market``, the dense ``scores`` (T, N) and ``weights``
    (T, N; (1, N) NaN for top-k), the ``benchmark`` [date, close(, tr)] named
    ``benchmark_name``, the strategy's ``plan``, the run's ``diagnostics`` and ``has_bar``
    (T, N)."""

    config: BacktestConfig
    market: Market
    scores: np.ndarray
    weights: np.ndarray
    benchmark: pl.DataFrame
    benchmark_name: str
    plan: StrategyPlan
    diagnostics: RunDiagnostics
    has_bar: np.ndarray


def prepare(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig) -> RunInputs:
    """Steps 1-5 of the module docstring."""
    scores = check_scores(scores)
    strategy = strategy_for(config.strategy)
    ref = loader.reference(store)
    win, scores = loader.window(ref, scores, config)
    config, codes = win.config, strategy.index_codes(win.config)
    data = loader.LazyData(store, ref, win, scores, codes)
    state = market_cache.store_state(store)
    uni = universe.cached(store, universe.universe_key(store, state, win, scores, codes), config, data.get)
    tradable = uni.tradable(scores)
    scores = tradable.scores
    plan = strategy.plan(PlanContext(store, data.get(), scores, config)) if strategy.reads_data \
        else StrategyPlan(strategy.name)
    names = set(scores["symbol"].unique().to_list())
    if plan.weights is not None:
        names |= set(plan.weights["symbol"].unique().to_list())
    market = market_mod.cached(store, data, sorted(names), config.rules, state=state)
    dense = np.full(market.shape, np.nan)   # market days are the universe's, its symbols a subset
    to_market = np.full(len(uni.symbols), -1, dtype=np.int64)
    to_market[uni.columns(market.symbols)] = np.arange(market.shape[1])
    dense[tradable.rows, to_market[tradable.cols]] = scores["score"].to_numpy()
    weights = (dense_signals(market, plan.weights, "weight") if plan.weights is not None
               else np.full((1, market.shape[1]), np.nan))
    kept = int((~np.isnan(dense)).sum())
    notes = [*unknown_coverage_notes(ref.coverage, win.days[0], win.days[-1]),
             *uni.vwap_note(market.symbols, config.deal_price, config.vwap_fill)]
    gaps = uni.gaps
    if gaps.height and gaps["missing"].max() > 0:  # type: ignore[operator]
        per = ", ".join(f"{r['year']}: {r['weight_missing']:.1%}" for r in gaps.iter_rows(named=True) if r["missing"] > 0)
        notes.append(f"benchmark members without bars (index weight the portfolio cannot hold): {per}")
    diag = RunDiagnostics(tuple(sorted(year_days(list(ref.calendar)).items())), scores.height - kept,
                          tradable.unlisted, tradable.suspended, gaps, uni.tr_name, tuple(notes))
    return RunInputs(config, market, dense, weights, uni.benchmark, uni.benchmark_name, plan, diag,
                     uni.has_bar(market.symbols))


SHARED_FIELDS = ("deal_price", "vwap_fill", "rules", "strategy", "start", "end", "universe", "active_limit",
                 "benchmark", "enhance")


def check_points(inputs: RunInputs, configs: Sequence[BacktestConfig]) -> None:
    """Refuse parameter sets that cannot share ``inputs``: a varied ``SHARED_FIELDS`` setting,
    or a ``k`` beyond the stocks scored on any date."""
    for c in configs:
        varied = [f for f in SHARED_FIELDS if getattr(c, f) != getattr(inputs.config, f)]
        if varied:
            raise FlyerError(f"a sweep may not vary {', '.join(varied)} (one market and signal per sweep)")
    widest = int((~np.isnan(inputs.scores)).sum(axis=1).max()) if inputs.scores.size else 0
    for c in configs:
        if strategy_for(c.strategy).holds_k and c.k > widest:
            raise UsageError(f"k = {c.k} exceeds the {widest:,} tradable stocks scored on any date: choose k <= {widest:,}")


def execute(inputs: RunInputs, configs: Sequence[BacktestConfig], backend: str = "loop",
            runner: Runner | None = None) -> list[BacktestResult]:
    """Steps 6-7: simulate every config (sharing ``inputs``' data) in one engine call, or with
    a ``runner`` (``flyer.models.parallel``) one task per config (the inputs in the object
    store once), the same records either way.

    A sweep may vary what ``Params`` holds (k, costs, capital, ...), not the ``SHARED_FIELDS``
    that ``inputs`` were built with (its market, signals and benchmark).
    """
    from flyer.backtest import engine  # the numba engine: only when a backtest runs

    check_points(inputs, configs)
    params = Params.from_configs(configs)
    if runner is not None and runner.workers > 1 and len(configs) > 1 and backend == "loop":
        m = inputs.market
        ranks = engine.rank_rows(inputs.scores, engine.hash_keys(m.symbols), engine.hash_keys(m.dates), 0)
        parts = runner.map(_point_task, [Params(*(a[g:g + 1] for a in params)) for g in range(len(configs))],
                           (m, inputs.scores, inputs.weights, ranks))
        fills = engine.stitch(parts, inputs.market.shape[1])
    else:
        fills = engine.simulate(inputs.market, inputs.scores, inputs.weights, params, backend=backend)
    return assemble(inputs, configs, fills, engine.rebalance_mask(inputs.scores, params.rebalance_every))


def _point_task(shared: tuple[Market, np.ndarray, np.ndarray, np.ndarray], params: Params) -> Any:
    """A runner task: one portfolio's ``engine.simulate`` (single-threaded, the shared ranks)."""
    from flyer.backtest import engine

    market, scores, weights, ranks = shared
    return engine.simulate(market, scores, weights, params, threads=1, ranks=ranks)


def assemble(inputs: RunInputs, configs: Sequence[BacktestConfig], fills: Any, rebalance: np.ndarray
             ) -> list[BacktestResult]:
    """One ``BacktestResult`` per config from the engine's ``Fills`` (columns g * N + j)."""
    records, blocked, capped, demand = fills
    n = inputs.market.shape[1]
    out = []
    for g, cfg in enumerate(configs):
        rec = records[(records["col"] >= g * n) & (records["col"] < (g + 1) * n)].copy()
        rec["col"] -= g * n
        rec = rec[np.argsort(rec["idx"], kind="stable")]
        order = "qlib's instrument-code order" if cfg.rules == "qlib" else "seeded random order"
        ctx = ResultContext(inputs.diagnostics, inputs.plan, inputs.scores, inputs.has_bar, rebalance[:, g], (), order)
        out.append(BacktestResult(cfg, inputs.market, rec, blocked[:, g, :].copy(), inputs.benchmark,
                                  inputs.benchmark_name, ctx, capped[:, g, :].copy(), demand[:, g].copy()))
    return out


def run(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig = BacktestConfig(),
        backend: str = "loop") -> BacktestResult:
    """Backtest ``scores`` ([date, symbol, score], known after each date's close) on ``store``.

    ``backend``: ``loop`` (default, cached numba loop) or ``vectorbt`` (``flex_simulate_nb``,
    identical results, recompiled in every process); see ``flyer.backtest.engine``.
    """
    inputs = prepare(store, scores, config)
    return execute(inputs, [inputs.config], backend)[0]


def grid_configs(config: BacktestConfig, grid: dict[str, Sequence[Any]]) -> list[BacktestConfig]:
    """The cartesian product of ``grid`` (config field -> values; cost fields may be given flat)."""
    keys = list(grid)
    return [config.replace(**dict(zip(keys, values))) for values in itertools.product(*grid.values())]


def sweep(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig, grid: dict[str, Sequence[Any]],
          runner: Runner | None = None) -> tuple[list[BacktestResult], pl.DataFrame]:
    """Run every point of ``grid`` on one prepared market: one engine call (its portfolios in
    threads), or one task per point on a ``runner`` (``flyer.models.parallel``: Ray).

    Returns the results and a table [<grid keys>..., <metrics>...] with one row per point.
    """
    with progress.task("backtest sweep", total=3, unit="steps") as bar:
        inputs = prepare(store, scores, config)
        configs = grid_configs(inputs.config, grid)
        bar.advance(info=f"market {inputs.market.shape[0]} days x {inputs.market.shape[1]} symbols")
        results = execute(inputs, configs, runner=runner)
        bar.advance(info=f"{len(configs)} parameter sets simulated")
        rows = []
        for cfg, res in progress.tracked(list(zip(configs, results)), "sweep metrics", "points"):
            point = {k: _field(cfg, k) for k in grid}
            rows.append({**point, **{k: v for k, v in res.metrics().items() if not isinstance(v, str)}})
        bar.advance()
    return results, pl.DataFrame(rows)


def _field(cfg: BacktestConfig, key: str) -> Any:
    return getattr(cfg, key) if hasattr(cfg, key) else getattr(cfg.costs, key)
