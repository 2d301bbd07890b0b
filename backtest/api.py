"""Orchestration: scores + store + config -> ``BacktestResult`` (``run``) or many (``sweep``).

  1. ``check_scores``: validate the [date, symbol, score] frame (one-line ``FlyerError``s);
  2. ``flyer.backtest.market.load_market``: dense execution arrays for the scored symbols;
  3. ``dense_signals``: scores (and benchmark-tilt weights) as (T, N) arrays, rebalance mask;
  4. ``flyer.backtest.engine.simulate``: one vectorbt call for all parameter sets (column groups);
  5. ``split_records``: one ``BacktestResult`` per parameter set, with the benchmark series.
"""
from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import polars as pl

from flyer.backtest import engine
from flyer.backtest.config import BacktestConfig
from flyer.backtest.market import Market, load_market
from flyer.backtest.result import BacktestResult
from flyer.backtest.strategies import EQUAL, SCORE, benchmark_tilt
from flyer.errors import FlyerError

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
    return df.unique(["date", "symbol"], keep="last").sort("date", "symbol")


def resolve_dates(store, scores: pl.DataFrame, config: BacktestConfig) -> BacktestConfig:
    """Fill ``start`` (first score date) and ``end`` (day after the last score, capped by the store)."""
    start = config.start or scores["date"].min()
    end = config.end
    if end is None:
        cal = store.calendar(scores["date"].max(), None).to_list()
        end = cal[1] if len(cal) > 1 else (cal[0] if cal else scores["date"].max())
    in_range = scores.filter(pl.col("date").is_between(start, end))
    if in_range.height == 0:
        raise FlyerError(f"no scores between {start} and {end}")
    return config.replace(start=start, end=end)


def load_benchmark(store, code: str, start: dt.date, end: dt.date) -> tuple[pl.DataFrame, str]:
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


def rebalance_mask(scores: np.ndarray, every: Sequence[int]) -> np.ndarray:
    """(T, G) bool: trade on day i when row i-1 is the c-th day with scores and c % every == 0."""
    has = ~np.all(np.isnan(scores), axis=1)
    count = np.cumsum(has) - 1
    mask = np.zeros((scores.shape[0], len(every)), dtype=np.bool_)
    for g, e in enumerate(every):
        mask[1:, g] = has[:-1] & (count[:-1] % e == 0)
    return mask


def param_row(cfg: BacktestConfig) -> np.ndarray:
    """One row of the engine's parameter matrix (see ``flyer.backtest.engine`` column names)."""
    p = np.zeros(engine.N_PARAMS)
    p[engine.K], p[engine.NDROP] = cfg.k, cfg.n_drop
    p[engine.WEIGHTING] = EQUAL if cfg.weighting == "equal" else SCORE
    p[engine.KEPT] = float(cfg.rebalance_kept)
    p[engine.RETRY] = engine.RETRY_NEXT_DAY if cfg.retry == "next_day" else engine.RETRY_REBALANCE
    p[engine.COMM], p[engine.MINC] = cfg.costs.commission, cfg.costs.min_commission
    p[engine.SLIP] = cfg.costs.slippage_bps / 1e4
    p[engine.MODE] = engine.MODE_TOPK if cfg.strategy == "topk" else engine.MODE_WEIGHTS
    p[engine.STAMP_ON], p[engine.TRANSFER_ON] = float(cfg.costs.stamp_duty), float(cfg.costs.transfer_fee)
    return p


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


def prepare(store, scores: pl.DataFrame, config: BacktestConfig) -> Prepared:
    """Steps 1-3 of the module docstring."""
    scores = check_scores(scores)
    config = resolve_dates(store, scores, config)
    scores = scores.filter(pl.col("date").is_between(config.start, config.end))
    tilt = None
    if config.strategy == "benchmark":
        members = store.membership(config.universe, config.start, config.end)
        if members.height == 0:
            raise FlyerError(f"no membership of {config.universe} in the store for {config.start}..{config.end}")
        tilt = benchmark_tilt(members, scores, config.active_limit)
    names = set(scores["symbol"].unique().to_list()) | (set(tilt["symbol"].unique().to_list()) if tilt is not None else set())
    market = load_market(store, sorted(names), config.start, config.end, config.deal_price)
    dense = dense_signals(market, scores, "score")
    weights = dense_signals(market, tilt, "weight") if tilt is not None else np.full((1, market.shape[1]), np.nan)
    kept = int((~np.isnan(dense)).sum())
    bench, label = load_benchmark(store, config.benchmark, config.start, config.end)
    return Prepared(config, market, dense, weights, bench, label, scores.height - kept)


def execute(prep: Prepared, configs: Sequence[BacktestConfig], backend: str = "loop") -> list[BacktestResult]:
    """Steps 4-5: simulate every config (sharing ``prep``'s data) in one engine call."""
    for c in configs:
        if (c.deal_price, c.strategy, c.start, c.end) != (prep.config.deal_price, prep.config.strategy,
                                                          prep.config.start, prep.config.end):
            raise ValueError("a sweep may not vary deal_price, strategy, start or end")
    params = np.stack([param_row(c) for c in configs])
    rebalance = rebalance_mask(prep.scores, [c.rebalance_every for c in configs])
    records, blocked = engine.simulate(prep.market, prep.scores, prep.weights, rebalance, params,
                                       prep.config.capital, backend=backend)
    n = prep.market.shape[1]
    out = []
    for g, cfg in enumerate(configs):
        rec = records[(records["col"] >= g * n) & (records["col"] < (g + 1) * n)].copy()
        rec["col"] -= g * n
        rec = rec[np.argsort(rec["idx"], kind="stable")]
        meta = {"dropped_scores": prep.dropped_scores, "blocked_buys": int(blocked[:, g, 0].sum()),
                "blocked_sells": int(blocked[:, g, 1].sum())}
        out.append(BacktestResult(cfg, prep.market, rec, blocked[:, g, :].copy(), prep.benchmark,
                                  prep.benchmark_name, meta))
    return out


def run(store, scores: pl.DataFrame, config: BacktestConfig = BacktestConfig(),
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


def sweep(store, scores: pl.DataFrame, config: BacktestConfig, grid: dict[str, Sequence[Any]]
          ) -> tuple[list[BacktestResult], pl.DataFrame]:
    """Run every point of ``grid`` in one vectorised engine call.

    Returns the results and a table [<grid keys>..., <metrics>...] with one row per point.
    """
    prep = prepare(store, scores, config)
    configs = grid_configs(prep.config, grid)
    results = execute(prep, configs)
    rows = []
    for cfg, res in zip(configs, results):
        point = {k: _field(cfg, k) for k in grid}
        rows.append({**point, **{k: v for k, v in res.metrics().items() if not isinstance(v, str)}})
    return results, pl.DataFrame(rows)


def _field(cfg: BacktestConfig, key: str) -> Any:
    return getattr(cfg, key) if hasattr(cfg, key) else getattr(cfg.costs, key)
