"""Backtest speed: top-50 dropout-5, daily, on the real CSI 500 data and on a 5,000-stock sim panel.

Per panel, wall and CPU seconds (CPU is what to read on a busy machine) for:
  * ``prepare``: store -> dense arrays, cold (built from DuckDB), from the disk cache (a new
    process on the same store content) and from the process memo (a notebook's next run);
  * the engine, the results (NAV + trades + metrics), and ``run`` end to end with the
    disk-cached market (what a second ``flyer backtest`` on an unchanged store costs);
  * the peer: a plain vectorbt ``Portfolio.from_orders`` pipeline over the same data (store ->
    wide open/close prices, top-50 equal-weight target percents from the same scores, A-share
    costs as fees; no lots, limits, suspensions or T+1), first call and warm;
  * a 20-point (k x n_drop) sweep in one engine call.
Targets (issue 13): real CSI 500 end to end < 1.5 s warm and >= 4x the vectorbt pipeline;
20-point sweep < 5 s; 5,000 stocks end to end < 20 s. Stores are built once under
``$FLYER_BENCH_HOME`` (default ``/tmp/flyer_bench_backtest``) and reused.

    python bench/backtest.py [--skip-real] [--skip-sim] [--stocks 5000] [--ashare PATH]

Before issue 13 (measured 2026-12-01, same box, warm, wall s): real CSI 500 universe (3,946 days
x 1,593 symbols) prepare 2.16-2.42 (5.5-6.1 when the issue was filed), engine 0.22, results 1.2,
end to end 6.5 against vectorbt's 6.9 (ratio 0.94), sweep 3.69; sim 5,000 prepare 9.1-10.7,
engine 1.44, sweep 28.5.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flyer.backtest import market_cache  # noqa: E402
from flyer.backtest.api import execute, grid_configs, prepare, run  # noqa: E402
from flyer.backtest.config import BacktestConfig  # noqa: E402
from flyer.data.sources.ashare import find_default_root  # noqa: E402
from flyer.data.store import MarketStore  # noqa: E402

ROOT = Path(os.environ.get("FLYER_BENCH_HOME", "/tmp/flyer_bench_backtest"))
SHARED = find_default_root()
TARGET_E2E_S, TARGET_RATIO, TARGET_SWEEP_S, TARGET_SIM_S = 1.5, 4.0, 5.0, 20.0


def timed(label: str, fn, *args):
    """Run ``fn``; print and return (result, wall s)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args)
    wall = time.perf_counter() - t
    print(f"  {label:<52} {wall:7.2f} s wall {time.process_time() - c:7.2f} s cpu", flush=True)
    return out, wall


def verdict(value: float, target: float, below: bool = True) -> str:
    ok = value < target if below else value >= target
    return f"target {'<' if below else '>='} {target:g}: {'met' if ok else 'MISSED'}"


def momentum_scores(store: MarketStore, universe: str | None) -> pl.DataFrame:
    """20-day momentum [date, symbol, score], restricted to ``universe`` members when given."""
    bars = store.bars(columns=["close"])
    df = bars.with_columns(
        (pl.col("close") / pl.col("close").shift(20).over("symbol") - 1).alias("score")
    ).drop_nulls("score").select("date", "symbol", "score")
    if universe:
        df = df.join(store.membership(universe).select("date", "symbol"), on=["date", "symbol"], how="semi")
    return df.sort("date", "symbol")


def vectorbt_pipeline(store: MarketStore, scores: pl.DataFrame, k: int = 50) -> tuple[float, float]:
    """The peer: store -> wide prices -> top-k target percents -> ``Portfolio.from_orders``;
    returns (total return, seconds in ``from_orders`` + its total return alone)."""
    import numpy as np
    import vectorbt as vbt

    start, end = scores["date"].min(), scores["date"].max()
    bars = store.bars(start, end, symbols=scores["symbol"].unique().to_list(), columns=["open", "close"])
    wide = {c: bars.pivot(on="symbol", index="date", values=c).sort("date").to_pandas().set_index("date")
            for c in ("open", "close")}
    sc = scores.pivot(on="symbol", index="date", values="score").sort("date").to_pandas().set_index("date")
    sc = sc.reindex(index=wide["close"].index, columns=wide["close"].columns)
    rank = sc.rank(axis=1, ascending=False, method="first")
    target = (rank <= k).astype(float).div(k).shift(1)  # scores after day t's close, traded on t+1
    target = target.where(wide["open"].notna())
    t = time.perf_counter()
    pf = vbt.Portfolio.from_orders(
        wide["close"].ffill(), size=target.to_numpy(), size_type="targetpercent", price=wide["open"].ffill(),
        fees=0.0003 + 0.0005 * 0.5, init_cash=10_000_000, cash_sharing=True, group_by=True,
        call_seq="auto", freq="1D")
    total = float(np.asarray(pf.total_return()).ravel()[0])
    return total, time.perf_counter() - t


def bench_one(name: str, store: MarketStore, scores: pl.DataFrame, target_e2e: float) -> None:
    cfg = BacktestConfig(k=50, n_drop=5, deal_price="open")
    print(f"{name}: {scores['symbol'].n_unique():,} symbols, {scores['date'].n_unique():,} score days, "
          f"{scores.height:,} score rows", flush=True)
    prep, _ = timed("warm-up run (numba caches, vectorbt import)", prepare, store, scores, cfg)
    timed("warm-up engine", execute, prep, [prep.config])
    for f in market_cache.cache_dir(store).glob("*.npz"):
        f.unlink()
    market_cache.clear_memo()
    prep, cold = timed("prepare, cold: store -> dense arrays", prepare, store, scores, cfg)
    market_cache.clear_memo()
    prep, disk = timed("prepare, market from the disk cache", prepare, store, scores, cfg)
    prep, memo = timed("prepare, market from the process memo", prepare, store, scores, cfg)
    res, eng = timed("engine: simulate top-50 dropout-5 daily", lambda: execute(prep, [prep.config])[0])
    _, rest = timed("results: NAV + trades + metrics", lambda: (res.nav, res.trades(), res.metrics()))
    market_cache.clear_memo()

    def end_to_end():
        r = run(store, scores, cfg)
        return r.nav, r.trades(), r.metrics()

    _, e2e = timed("end to end: run + results (disk-cached market)", end_to_end)
    _, vbt_first = timed("vectorbt from_orders pipeline (first call)", vectorbt_pipeline, store, scores)
    (_, vbt_core), vbt_warm = timed("vectorbt from_orders pipeline (warm)", vectorbt_pipeline, store, scores)
    configs = grid_configs(prep.config, {"k": [10, 20, 30, 50, 100], "n_drop": [1, 3, 5, 10]})
    _, sweep = timed(f"sweep: {len(configs)} points in one engine call", execute, prep, configs)
    t, n = prep.market.shape
    m = res.metrics()
    print(f"  panel {t:,} days x {n:,} symbols, {len(res.records):,} fills, annual return "
          f"{m['annual_return']:.2%}, excess {m['excess_annual_return']:.2%} vs {res.benchmark_name}")
    print(f"  => end to end {e2e:.2f} s ({verdict(e2e, target_e2e)}); cold prepare {cold:.2f} s, disk {disk:.2f} s, "
          f"memo {memo:.2f} s, engine {eng:.2f} s, results {rest:.2f} s")
    print(f"  => vectorbt pipeline {vbt_warm:.2f} s warm ({vbt_core:.2f} s of it in from_orders itself): flyer end "
          f"to end is {vbt_warm / e2e:.1f}x faster, {vbt_core / e2e:.1f}x the from_orders call alone "
          f"({verdict(vbt_warm / e2e, TARGET_RATIO, below=False)}); 20-point sweep {sweep:.2f} s "
          f"({verdict(sweep, TARGET_SWEEP_S)}); peak RSS {_peak_gb():.2f} GB", flush=True)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def real_store(shared: Path) -> MarketStore | None:
    path = ROOT / "real"
    if not (path / "market.duckdb").exists():
        if not (shared / "SOURCE.md").exists():
            print(f"real data: skipped, {shared} not found (--ashare PATH)")
            return None
        from flyer.data.sources import ingest, make_source

        store = MarketStore.open(path)
        timed(f"ingest {shared} (once)", ingest, store, make_source("ashare", path=str(shared)))
        return store
    return MarketStore.open(path, read_only=True)


def sim_store(n_stocks: int) -> MarketStore:
    path = ROOT / f"sim{n_stocks}"
    if not (path / "market.duckdb").exists():
        from flyer.data.sources.sim import SimConfig, generate

        cfg = SimConfig(n_stocks=n_stocks, start=dt.date(2010, 1, 1), end=dt.date(2024, 12, 31))
        frames, _ = timed(f"generate sim {n_stocks} stocks x 15 years (once)", generate, cfg)
        store = MarketStore.open(path)
        timed("write sim store (once)", store.write, "sim", frames)
        return store
    return MarketStore.open(path, read_only=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--ashare", type=Path, default=SHARED, help="the real data folder (../shared/ashare)")
    args = ap.parse_args()
    if not args.skip_real:
        store = real_store(args.ashare)
        if store is not None:
            scores, _ = timed("scores (momentum, CSI 500 members)", momentum_scores, store, "000905.SH")
            bench_one("real CSI 500 universe", store, scores, TARGET_E2E_S)
            store.close()
    if not args.skip_sim:
        store = sim_store(args.stocks)
        scores, _ = timed("scores (momentum, all stocks)", momentum_scores, store, None)
        bench_one(f"sim {args.stocks} stocks", store, scores, TARGET_SIM_S)
        store.close()


if __name__ == "__main__":
    main()
