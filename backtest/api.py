"""Orchestration: scores + store + config -> ``BacktestResult`` (``run``) or many (``sweep``).

  1. ``check_scores``: validate the [date, symbol, score] frame (one-line ``FlyerError``s);
  2. ``flyer.backtest.market.load_market``: dense execution arrays for the scored symbols;
  3. ``dense_signals``: scores (and a weight strategy's targets, ``strategies.strategy_weights``)
     as (T, N) arrays;
  4. ``flyer.backtest.engine.simulate``: one kernel call for all parameter sets (column groups,
     ``flyer.backtest.params.Params.from_configs``);
  5. ``execute``: one ``BacktestResult`` per parameter set, with the benchmark series (and its
     total-return version, stored or estimated: ``flyer.backtest.benchmark``), the calendar's
     trading days per year (annualisation) and what the run could not see or had to decide
     (``flyer.backtest.diagnostics``: picks made from ties, members and holdings without bars,
     unknown coverage, substitutions) in ``meta``; ``meta["notes"]`` are printed with it.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import polars as pl

from flyer.core import progress
from flyer.backtest.config import BacktestConfig
from flyer.backtest.market import Market, load_market
from flyer.backtest.params import Params
from flyer.backtest.result import BacktestResult
from flyer.backtest.strategies import strategy_weights
from flyer.core.errors import FlyerError, UsageError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

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


def tradable_scores(store: MarketStore, scores: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, int]]:
    """Scores of symbols with a bar on the score date that are not suspended that day, and the
    counts dropped: ``unlisted_scores`` (no bar: not listed yet, or delisted) and
    ``suspended_scores``. A score for a stock that lists later would otherwise take a top-k
    slot (and have its buy blocked), so whether a stock lists in the future changed past trades."""
    if scores.height == 0:
        return scores, {"unlisted_scores": 0, "suspended_scores": 0}
    from flyer.backtest.market_cache import cached_value

    lo, hi, names = scores["date"].min(), scores["date"].max(), scores["symbol"].unique().sort().to_list()
    bars = cached_value(store, "status", {"start": lo, "end": hi, "symbols": names},
                        lambda: store.bars(lo, hi, symbols=names, columns=["is_suspended"]))
    tagged = scores.join(bars, on=["date", "symbol"], how="left")
    unlisted = tagged["is_suspended"].is_null()
    suspended = tagged["is_suspended"].fill_null(False)
    kept = tagged.filter(~unlisted & ~suspended).drop("is_suspended")
    return kept, {"unlisted_scores": int(unlisted.sum()), "suspended_scores": int(suspended.sum())}


def _strictly_sorted(df: pl.DataFrame) -> bool:
    """True when rows are sorted by (date, symbol) with no (date, symbol) twice."""
    if df.height < 2:
        return True
    d, s = pl.col("date"), pl.col("symbol")
    ok = (d > d.shift(1)) | ((d == d.shift(1)) & (s > s.shift(1)))
    return bool(df.select(ok.slice(1).all()).item())


def resolve_dates(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig) -> BacktestConfig:
    """Fill ``start`` (first score date) and ``end`` (day after the last score, capped by the store).
    Under ``rules="qlib"`` a given ``start`` is the first trading day: the run starts the
    trading day before it, whose scores trade on ``start``."""
    start = config.start or scores["date"].min()
    if config.rules == "qlib" and config.start is not None:  # qlib trades on its start day, from the day before
        earlier = store.calendar(None, config.start - dt.timedelta(days=1))
        start = earlier[-1] if earlier.len() else start
    end = config.end
    if end is None:
        cal = store.calendar(scores["date"].max(), None).to_list()
        end = cal[1] if len(cal) > 1 else (cal[0] if cal else scores["date"].max())
    in_range = scores.filter(pl.col("date").is_between(start, end))
    if in_range.height == 0:
        raise FlyerError(f"no scores between {start} and {end}")
    return config.replace(start=start, end=end)


def load_benchmark(store: MarketStore, code: str, start: dt.date, end: dt.date) -> tuple[pl.DataFrame, str]:
    """([date, close], label): the total-return version (``H`` + code, e.g. H00905.CSI) when the
    store has it, else the price index ``code``. Raises ``FlyerError`` when neither exists."""
    stem, _, ex = code.partition(".")
    candidates = [] if stem.startswith("H") else [f"H{stem[1:]}.CSI", f"H{stem[1:]}.{ex}"]
    for cand in [*candidates, code]:
        df = store.index_bars(cand, start, end)
        if df.height:
            kind = "total return" if cand in candidates or stem.startswith("H") else "price index, excludes dividends"
            return df.select("date", "close"), f"{cand} ({kind})"
    raise FlyerError(f"unknown benchmark {code}: the store has no index bars for it in {start}..{end}")


def dense_signals(market: Market, frame: pl.DataFrame, column: str) -> np.ndarray:
    """(T, N) array of ``column`` from a [date, symbol, column] frame; NaN where absent."""
    out = np.full(market.shape, np.nan)
    row = {d: i for i, d in enumerate(market.dates)}
    col = {s: j for j, s in enumerate(market.symbols)}
    df = frame.filter(pl.col("date").is_in(list(row)) & pl.col("symbol").is_in(list(col)))
    ri = df["date"].replace_strict(row, return_dtype=pl.Int64).to_numpy()
    ci = df["symbol"].replace_strict(col, return_dtype=pl.Int64).to_numpy()
    out[ri, ci] = df[column].to_numpy()
    return out


@dataclass(frozen=True)
class Prepared:
    """Inputs shared by every parameter set of one run (same dates, deal price, strategy)."""

    config: BacktestConfig
    market: Market
    scores: np.ndarray
    weights: np.ndarray
    benchmark: pl.DataFrame
    benchmark_name: str
    dropped_scores: int
    extra: dict[str, Any] | None = None   # strategy outputs for the result's meta (``enhance``: the plan)
    has_bar: np.ndarray | None = None
    context: dict[str, Any] = field(default_factory=dict)
    untradable: dict[str, int] = dataclasses.field(default_factory=dict)  # scores of symbols not trading that day


def run_context(store: MarketStore, config: BacktestConfig, market: Market, bench: pl.DataFrame,
                label: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The benchmark with its total-return column (estimated when only the price index is
    stored) and the ``meta`` every result of the run shares (year days, gaps, notes); built
    once per store state and request (``market_cache.cached_value``)."""
    from flyer.backtest.market_cache import cached_value

    request = {"benchmark": config.benchmark, "start": config.start, "end": config.end, "label": label,
               "symbols": list(market.symbols), "deal_price": config.deal_price, "vwap_fill": config.vwap_fill,
               "bench_rows": bench.height}
    return cached_value(store, "context", request, lambda: _run_context(store, config, market, bench, label))


def _run_context(store: MarketStore, config: BacktestConfig, market: Market, bench: pl.DataFrame,
                 label: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    from flyer.backtest import diagnostics as dg
    from flyer.backtest.benchmark import estimated_total_return
    from flyer.core.stats import year_days

    ctx: dict[str, Any] = {"year_days": year_days(store.calendar().to_list())}
    if "price index" in label and (est := estimated_total_return(store, config.benchmark, bench)) is not None:
        bench = bench.join(est[0], on="date", how="left")
        ctx["benchmark_tr_name"] = est[1]
    gaps = dg.members_without_bars(store, config.benchmark, config.start, config.end)
    ctx["members_without_bars"] = dg.as_rows(gaps)
    notes = dg.coverage_notes(store, config.start, config.end, list(market.symbols), config.deal_price,
                              config.vwap_fill)
    if gaps.height and gaps["missing"].max() > 0:
        per = ", ".join(f"{r['year']}: {r['weight_missing']:.1%}" for r in gaps.iter_rows(named=True) if r["missing"] > 0)
        notes.append(f"benchmark members without bars (index weight the portfolio cannot hold): {per}")
    ctx["notes"] = notes
    return bench, ctx


def prepare(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig) -> Prepared:
    """Steps 1-3 of the module docstring."""
    scores = check_scores(scores)
    config = resolve_dates(store, scores, config)
    scores = scores.filter(pl.col("date").is_between(config.start, config.end))
    scores, untradable = tradable_scores(store, scores)
    extra = None
    if config.strategy == "enhance":  # the optimiser needs the store's risk model: its plan goes to the meta
        from flyer.backtest.enhance import plan

        enhanced = plan(store, scores, config)
        tilt, extra = enhanced.weights, {"enhance": enhanced}
    else:
        tilt = strategy_weights(store, scores, config)
    names = set(scores["symbol"].unique().to_list()) | (set(tilt["symbol"].unique().to_list()) if tilt is not None else set())
    market = load_market(store, sorted(names), config.start, config.end, config.deal_price, config.vwap_fill,
                         config.rules)
    dense = dense_signals(market, scores, "score")
    weights = dense_signals(market, tilt, "weight") if tilt is not None else np.full((1, market.shape[1]), np.nan)
    kept = int((~np.isnan(dense)).sum())
    bench, label = load_benchmark(store, config.benchmark, config.start, config.end)
    bench, ctx = run_context(store, config, market, bench, label)
    from flyer.backtest.diagnostics import bar_mask

    return Prepared(config, market, dense, weights, bench, label, scores.height - kept, extra, bar_mask(store, market),
                    ctx, untradable)


def result_meta(prep: Prepared, result: BacktestResult, rebalance: np.ndarray) -> dict[str, Any]:
    """``meta`` of one portfolio's result: blocked orders, tie picks, holdings without bars and
    the run's shared context (``run_context``), with ``notes`` for the printout."""
    from flyer.backtest import diagnostics as dg

    rec, blocked = result.records, result.blocked
    ties, tie_years = dg.tie_picks(prep.market, prep.scores, rec, rebalance)
    meta = {"dropped_scores": prep.dropped_scores, "blocked_buys": int(blocked[:, 0].sum()),
            "blocked_sells": int(blocked[:, 1].sum()), **prep.untradable, **prep.context,
            "tie_picks": ties, "tie_picks_by_year": dg.as_rows(tie_years)}
    notes = list(prep.context.get("notes", []))
    if ties["from_ties"]:
        notes.append(f"{ties['from_ties']:,} of {ties['picks']:,} picks ({ties['share']:.1%}) were made from tied "
                     "scores (seeded random order, not the signal)")
    if prep.has_bar is not None and rec.shape[0]:
        held = dg.held_without_bars(prep.market, rec, prep.has_bar, result.nav)
        meta["held_without_bars"] = dg.as_rows(held)
        if held["max_share"].max() > 0:
            per = ", ".join(f"{r['year']}: {r['share']:.2%}" for r in held.iter_rows(named=True) if r["max_share"] > 0)
            notes.append(f"NAV held in stocks without bars (valued at their last close, untradable): {per}")
    meta["notes"] = notes
    return meta


SHARED_FIELDS = ("deal_price", "vwap_fill", "rules", "strategy", "start", "end", "universe", "active_limit",
                 "benchmark", "enhance")


def execute(prep: Prepared, configs: Sequence[BacktestConfig], backend: str = "loop") -> list[BacktestResult]:
    """Steps 4-5: simulate every config (sharing ``prep``'s data) in one engine call.

    A sweep may vary what ``Params`` holds (k, costs, capital, ...), not the ``SHARED_FIELDS``
    that ``prep`` was built with (its market, signals and benchmark).
    """
    from flyer.backtest import engine  # imports vectorbt: only when a backtest runs

    for c in configs:
        varied = [f for f in SHARED_FIELDS if getattr(c, f) != getattr(prep.config, f)]
        if varied:
            raise FlyerError(f"a sweep may not vary {', '.join(varied)} (one market and signal per sweep)")
    widest = int((~np.isnan(prep.scores)).sum(axis=1).max()) if prep.scores.size else 0
    for c in configs:
        if c.strategy == "topk" and c.k > widest:
            raise UsageError(f"k = {c.k} exceeds the {widest:,} tradable stocks scored on any date: choose k <= {widest:,}")
    params = Params.from_configs(configs)
    records, blocked, capped, demand = engine.simulate(prep.market, prep.scores, prep.weights, params, backend=backend)
    rebalance = engine.rebalance_mask(prep.scores, params.rebalance_every)
    n = prep.market.shape[1]
    out = []
    for g, cfg in enumerate(configs):
        rec = records[(records["col"] >= g * n) & (records["col"] < (g + 1) * n)].copy()
        rec["col"] -= g * n
        rec = rec[np.argsort(rec["idx"], kind="stable")]
        res = BacktestResult(cfg, prep.market, rec, blocked[:, g, :].copy(), prep.benchmark,
                             prep.benchmark_name, {}, capped=capped[:, g, :].copy(), demand=demand[:, g].copy())
        res.meta.update(result_meta(prep, res, rebalance[:, g]))
        res.meta.update({"capped_buys": int(capped[:, g, 0].sum()), "capped_sells": int(capped[:, g, 1].sum()),
                         **(prep.extra or {})})
        out.append(res)
    return out


def run(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig = BacktestConfig(),
        backend: str = "loop") -> BacktestResult:
    """Backtest ``scores`` ([date, symbol, score], known after each date's close) on ``store``.

    ``backend``: ``loop`` (default, cached numba loop) or ``vectorbt`` (``flex_simulate_nb``,
    identical results, recompiled in every process); see ``flyer.backtest.engine``.
    """
    prep = prepare(store, scores, config)
    return execute(prep, [prep.config], backend)[0]


def grid_configs(config: BacktestConfig, grid: dict[str, Sequence[Any]]) -> list[BacktestConfig]:
    """The cartesian product of ``grid`` (config field -> values; cost fields may be given flat)."""
    keys = list(grid)
    return [config.replace(**dict(zip(keys, values))) for values in itertools.product(*grid.values())]


def sweep(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig, grid: dict[str, Sequence[Any]]
          ) -> tuple[list[BacktestResult], pl.DataFrame]:
    """Run every point of ``grid`` in one vectorised engine call.

    Returns the results and a table [<grid keys>..., <metrics>...] with one row per point.
    """
    with progress.task("backtest sweep", total=3, unit="steps") as bar:
        prep = prepare(store, scores, config)
        configs = grid_configs(prep.config, grid)
        bar.advance(info=f"market {prep.market.shape[0]} days x {prep.market.shape[1]} symbols")
        results = execute(prep, configs)
        bar.advance(info=f"{len(configs)} parameter sets simulated")
        rows = []
        for cfg, res in progress.tracked(list(zip(configs, results)), "sweep metrics", "points"):
            point = {k: _field(cfg, k) for k in grid}
            rows.append({**point, **{k: v for k, v in res.metrics().items() if not isinstance(v, str)}})
        bar.advance()
    return results, pl.DataFrame(rows)


def _field(cfg: BacktestConfig, key: str) -> Any:
    return getattr(cfg, key) if hasattr(cfg, key) else getattr(cfg.costs, key)
