"""Backtest speed: top-50 dropout-5, daily, at the open, on the real CSI 500 universe (and a sim panel).

Every figure is printed beside its target and its peer or floor, measured in the same run one
after the other (on a shared machine the ratios are what counts; wall and CPU seconds both shown):
  * ``cold``: the first backtest on a store with empty caches (``<store>/cache`` removed, the
    process memo cleared), in a process that has run a backtest before (numba kernels loaded),
    end to end: prepare + engine + NAV, trades and metrics; and the same in a fresh process
    (``--fresh``: imports and numba's disk cache included), whose wall is printed separately;
  * ``warm``: end to end with the universe and market from the disk cache (memo cleared: what a
    second ``flyer backtest`` on an unchanged store costs), and its parts: prepare from the
    disk cache and from the process memo, the engine, the results;
  * the peer, a lean vectorbt pipeline: store -> NumPy arrays (open, close, scores scattered
    densely, no pandas pivots) -> top-50 target percents -> ``Portfolio.from_orders`` ->
    total return (A-share costs as fees; no lots, limits, suspensions or T+1). Its total
    return is checked equal to the pandas pipeline's (``pandas_pipeline``, what this bench
    compared with before). Timed warm (its first call, with the vectorbt import and numba
    cache, printed too); ``from_orders`` alone is timed apart;
  * the floor, a bare numba loop doing the same top-50 dropout-5 accounting on the same dense
    arrays (ranking, sells then equal-weight buys in 100-share lots, commission with minimum
    and stamp duty, blocked days skipped): what a kernel with nothing else costs;
  * a 20-point (k x n_drop) sweep on one prepared market (the engine's portfolios in threads).
Targets (issue 25): warm end to end <= 1.0 s, cold <= 3 s, >= 3x the lean vectorbt pipeline and
faster than its ``from_orders`` call alone, 20-point sweep <= 4 s, engine <= 2x the bare loop.
Stores are built once under ``$FLYER_BENCH_HOME`` (default ``/tmp/flyer_bench_backtest``).

    python bench/backtest.py [--skip-real] [--sim] [--stocks 5000] [--no-fresh] [--check-peer] [--ashare PATH]

Before issue 25 (main at 8d33322, same machine, 2 cores shared): warm end to end 3.3-4.1 s
(prepare from disk 2.69, engine 0.94-1.32, results 0.09), cold (truly empty caches) 15.1 s,
the lean vectorbt pipeline 4.07 s (flyer 1.24x faster warm, from_orders alone 0.8x), sweep of
20 17.5 s, bare loop 0.32 s (engine 3.3x it).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import polars as pl
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flyer.backtest import market_cache  # noqa: E402
from flyer.backtest.api import execute, grid_configs, prepare, run  # noqa: E402
from flyer.backtest.config import BacktestConfig  # noqa: E402
from flyer.data.sources.ashare import find_default_root  # noqa: E402
from flyer.data.store import MarketStore  # noqa: E402

ROOT = Path(os.environ.get("FLYER_BENCH_HOME", "/tmp/flyer_bench_backtest"))
SHARED = find_default_root()
TARGET_WARM_S, TARGET_COLD_S, TARGET_PEER_X, TARGET_SWEEP_S, TARGET_FLOOR_X = 1.0, 3.0, 3.0, 4.0, 2.0
K, N_DROP, COMMISSION, MIN_COMMISSION, STAMP = 50, 5, 0.00025, 5.0, 0.0005
CONFIG = BacktestConfig(k=K, n_drop=N_DROP, deal_price="open")


def timed(label: str, fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn``; print and return (result, wall s)."""
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    wall = time.perf_counter() - t
    print(f"  {label:<58} {wall:7.2f} s wall {time.process_time() - c:7.2f} s cpu", flush=True)
    return out, wall


def verdict(value: float, target: float, below: bool = True) -> str:
    ok = value <= target if below else value >= target
    return f"target {'<=' if below else '>='} {target:g}: {'met' if ok else 'MISSED'}"


def momentum_scores(store: MarketStore, universe: str | None) -> pl.DataFrame:
    """20-day momentum [date, symbol, score], restricted to ``universe`` members when given."""
    bars = store.bars(columns=["close"])
    df = bars.with_columns(
        (pl.col("close") / pl.col("close").shift(20).over("symbol") - 1).alias("score")
    ).drop_nulls("score").select("date", "symbol", "score")
    if universe:
        df = df.join(store.membership(universe).select("date", "symbol"), on=["date", "symbol"], how="semi")
    return df.sort("date", "symbol")


# ------------------------------------------------------------------------- the peer
def _dense(frame: pl.DataFrame, column: str, days: np.ndarray, names: list[str]) -> np.ndarray:
    """(T, N) float64 of ``column`` scattered by date and symbol, NaN where absent."""
    out = np.full((days.shape[0], len(names)), np.nan)
    ri = np.searchsorted(days, frame["date"].cast(pl.Int32).to_numpy())
    ci = frame.select(pl.col("symbol").cast(pl.Enum(names)).to_physical())["symbol"].to_numpy()
    out[ri, ci] = frame[column].to_numpy()
    return out


def lean_inputs(store: MarketStore, scores: pl.DataFrame, k: int = K) -> dict[str, np.ndarray]:
    """The peer's arrays: close and open forward-filled (adjusted prices), target percents."""
    from vectorbt.generic.nb import ffill_nb

    start, end = scores["date"].min(), scores["date"].max()
    names = sorted(scores["symbol"].unique().to_list())
    bars = store.bars(start, end, symbols=names, columns=["open", "close"])  # type: ignore[arg-type]
    days = np.unique(bars["date"].cast(pl.Int32).to_numpy())
    close, open_ = _dense(bars, "close", days, names), _dense(bars, "open", days, names)
    sc = _dense(scores.filter(pl.col("date").is_between(start, end)), "score", days, names)
    key = np.where(np.isnan(sc), np.inf, -sc)
    rank = np.argsort(np.argsort(key, axis=1, kind="stable"), axis=1, kind="stable")   # pandas rank "first"
    top = ((rank < k) & ~np.isnan(sc)).astype(float) / k
    target = np.full_like(top, np.nan)
    target[1:] = top[:-1]                               # scores after day t's close, traded on t+1
    target[np.isnan(open_)] = np.nan
    return {"close": ffill_nb(close), "open": ffill_nb(open_), "target": target}


def from_orders(a: dict[str, np.ndarray]) -> float:
    """vectorbt's ``Portfolio.from_orders`` on the arrays and its total return."""
    import vectorbt as vbt

    pf = vbt.Portfolio.from_orders(a["close"], size=a["target"], size_type="targetpercent", price=a["open"],
                                   fees=COMMISSION + STAMP * 0.5, init_cash=10_000_000, cash_sharing=True,
                                   group_by=True, call_seq="auto", freq="1D")
    return float(np.asarray(pf.total_return()).ravel()[0])


def lean_pipeline(store: MarketStore, scores: pl.DataFrame) -> tuple[float, float]:
    """The peer end to end: (total return, seconds in ``from_orders`` + total return)."""
    a = lean_inputs(store, scores)
    t = time.perf_counter()
    total = from_orders(a)
    return total, time.perf_counter() - t


def pandas_pipeline(store: MarketStore, scores: pl.DataFrame, k: int = K) -> float:
    """The same portfolio through pandas pivots (what this bench compared with before issue 25)."""
    import vectorbt as vbt

    start, end = scores["date"].min(), scores["date"].max()
    bars = store.bars(start, end, symbols=scores["symbol"].unique().to_list(), columns=["open", "close"])  # type: ignore[arg-type]
    wide = {c: bars.pivot(on="symbol", index="date", values=c).sort("date").to_pandas().set_index("date")
            for c in ("open", "close")}
    sc = scores.pivot(on="symbol", index="date", values="score").sort("date").to_pandas().set_index("date")
    sc = sc.reindex(index=wide["close"].index, columns=wide["close"].columns)
    rank = sc.rank(axis=1, ascending=False, method="first")
    target = (rank <= k).astype(float).div(k).shift(1).where(wide["open"].notna())
    pf = vbt.Portfolio.from_orders(wide["close"].ffill(), size=target.to_numpy(), size_type="targetpercent",
                                   price=wide["open"].ffill(), fees=COMMISSION + STAMP * 0.5, init_cash=10_000_000,
                                   cash_sharing=True, group_by=True, call_seq="auto", freq="1D")
    return float(np.asarray(pf.total_return()).ravel()[0])


# ------------------------------------------------------------------------- the floor
@njit(cache=True)
def floor_topk_nb(scores: np.ndarray, deal: np.ndarray, adj: np.ndarray, close_val: np.ndarray,
                  buy_block: np.ndarray, sell_block: np.ndarray, k: int, n_drop: int, capital: float,
                  commission: float, min_commission: float, stamp: float) -> tuple[np.ndarray, int]:
    """Top-k dropout accounting and nothing else: (NAV (T,), fills). Day i trades row i-1's
    scores at the day's raw deal price; positions in adjusted shares, lots of 100 raw shares."""
    t, n = scores.shape
    pos = np.zeros(n)
    cash, fills = capital, 0
    nav = np.empty(t)
    for i in range(t):
        if i > 0:
            sc = scores[i - 1]
            key = np.where(np.isnan(sc), np.inf, -sc)
            order = np.argsort(key, kind="mergesort")
            held = pos > 0
            n_held = int(held.sum())
            want = n_drop + k - n_held
            comb = held.copy()
            m = 0
            for j in order:
                if m >= want or np.isnan(sc[j]):
                    break
                if not held[j]:
                    comb[j] = True
                    m += 1
            value = cash
            for j in range(n):
                if pos[j] > 0:
                    value += pos[j] * close_val[i - 1, j]
            left, n_sell = n_drop, 0
            for r in range(n - 1, -1, -1):
                j = order[r]
                if left == 0:
                    break
                if comb[j]:
                    left -= 1
                    if held[j] and not sell_block[i, j]:
                        v = pos[j] * adj[i, j] * deal[i, j]
                        cash += v - max(v * commission, min_commission) - v * stamp
                        pos[j] = 0.0
                        n_sell += 1
                        fills += 1
            n_buy = n_sell + k - n_held
            for j in order:
                if n_buy <= 0 or np.isnan(sc[j]):
                    break
                if comb[j] and not held[j]:
                    n_buy -= 1
                    if buy_block[i, j]:
                        continue
                    lots = np.floor(value / k / deal[i, j] / 100) * 100
                    cost = lots * deal[i, j]
                    fee = max(cost * commission, min_commission)
                    if lots > 0 and cost + fee <= cash:
                        cash -= cost + fee
                        pos[j] = lots / adj[i, j]
                        fills += 1
        nav[i] = cash
        for j in range(n):
            if pos[j] > 0 and not np.isnan(close_val[i, j]):
                nav[i] += pos[j] * close_val[i, j]
    return nav, fills


def floor(prep: Any) -> int:
    a = prep.market.arrays
    _, fills = floor_topk_nb(prep.scores, np.nan_to_num(a.deal, nan=1.0), a.adj, a.close_val, a.buy_block,
                             a.sell_block, K, N_DROP, 10_000_000.0, COMMISSION, MIN_COMMISSION, STAMP)
    return fills


# ------------------------------------------------------------------------- the run
def end_to_end(store: MarketStore, scores: pl.DataFrame) -> Any:
    r = run(store, scores, CONFIG)
    return r.nav, r.trades(), r.metrics()


def clear_caches(store: MarketStore) -> None:
    market_cache.clear_memo()
    shutil.rmtree(store.path.parent / "cache", ignore_errors=True)


def fresh_process(store: MarketStore, scores_file: Path) -> tuple[float, float]:
    """(wall of a whole fresh process running one cold backtest, the backtest's own wall)."""
    code = ("import time, sys; t0 = time.perf_counter()\n"
            "import polars as pl\n"
            "from flyer.data.store import MarketStore\nfrom flyer.backtest.api import run\n"
            "from flyer.backtest.config import BacktestConfig\n"
            f"s = MarketStore.open({str(store.path.parent)!r}, read_only=True)\n"
            f"sc = pl.read_parquet({str(scores_file)!r})\nt = time.perf_counter()\n"
            f"r = run(s, sc, BacktestConfig(k={K}, n_drop={N_DROP}, deal_price='open')); r.nav; r.trades(); r.metrics()\n"
            "print(time.perf_counter() - t)\n")
    clear_caches(store)
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return time.perf_counter() - t, float(out.stdout.strip().splitlines()[-1])


def bench_one(name: str, store: MarketStore, scores: pl.DataFrame, fresh: bool, check: bool) -> None:
    print(f"{name}: {scores['symbol'].n_unique():,} symbols, {scores['date'].n_unique():,} score days, "
          f"{scores.height:,} score rows", flush=True)
    timed("warm-up (numba kernels loaded)", lambda: end_to_end(store, scores))
    clear_caches(store)
    _, cold = timed("cold: empty caches, end to end", lambda: end_to_end(store, scores))
    market_cache.clear_memo()
    _, warm = timed("warm: universe + market from the disk cache, end to end", lambda: end_to_end(store, scores))
    market_cache.clear_memo()
    _, disk = timed("  prepare from the disk cache", lambda: prepare(store, scores, CONFIG))
    prep, memo = timed("  prepare from the process memo", lambda: prepare(store, scores, CONFIG))
    res, eng = timed("  engine: simulate top-50 dropout-5 daily", lambda: execute(prep, [prep.config])[0])
    _, rest = timed("  results: NAV + trades + metrics", lambda: (res.nav, res.trades(), res.metrics()))
    timed("floor: bare numba loop (first call)", lambda: floor(prep))
    _, bare = timed("floor: bare numba loop", lambda: floor(prep))
    (total, _), first = timed("peer: lean vectorbt pipeline (first call: import, numba)", lambda: lean_pipeline(store, scores))
    (total, core), peer = timed("peer: lean vectorbt pipeline", lambda: lean_pipeline(store, scores))
    print(f"  {'peer: of which from_orders + total_return':<58} {core:7.2f} s wall")
    ref = timed("peer check: the pandas pipeline", lambda: pandas_pipeline(store, scores))[0] if check else None
    configs = grid_configs(prep.config, {"k": [10, 20, 30, 50, 100], "n_drop": [1, 3, 5, 10]})
    _, sweep = timed(f"sweep: {len(configs)} points, one prepared market", lambda: execute(
        prepare(store, scores, CONFIG), configs))
    t, n = prep.market.shape
    m = res.metrics()
    print(f"  panel {t:,} days x {n:,} symbols, {len(res.records):,} fills, annual return {m['annual_return']:.2%}, "
          f"excess {m['excess_annual_return']:.2%} vs {res.benchmark_name}; peak RSS {_peak_gb():.2f} GB")
    if ref is not None:
        print(f"  peer total return {total:.6f}, pandas pipeline {ref:.6f} ({'equal' if abs(total - ref) < 1e-9 else 'DIFFERENT'})")
    print(f"  => warm end to end {warm:.2f} s ({verdict(warm, TARGET_WARM_S)}): prepare {disk:.2f} s from disk "
          f"({memo:.2f} s memo), engine {eng:.2f} s, results {rest:.2f} s")
    print(f"  => cold end to end {cold:.2f} s ({verdict(cold, TARGET_COLD_S)})")
    print(f"  => lean vectorbt pipeline {peer:.2f} s: flyer warm is {peer / warm:.1f}x faster "
          f"({verdict(peer / warm, TARGET_PEER_X, below=False)}), {core / warm:.1f}x its from_orders alone "
          f"({verdict(core / warm, 1.0, below=False)}); cold flyer {peer / cold:.1f}x the peer; peer's first call {first:.2f} s")
    print(f"  => engine {eng:.2f} s = {eng / bare:.1f}x the bare loop's {bare:.2f} s ({verdict(eng / bare, TARGET_FLOOR_X)})")
    print(f"  => sweep of {len(configs)} {sweep:.2f} s ({verdict(sweep, TARGET_SWEEP_S)}), "
          f"{sweep / len(configs):.2f} s a point = {sweep / len(configs) / eng:.2f}x one engine call", flush=True)
    if fresh:
        path = ROOT / "scores.parquet"
        scores.write_parquet(path)
        whole, inner = fresh_process(store, path)
        print(f"  => a fresh process, empty caches: {inner:.2f} s for the backtest, {whole:.2f} s for the "
              f"whole process (imports, numba's disk cache)", flush=True)


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def real_store(shared: Path) -> MarketStore | None:
    path = ROOT / "real"
    if not (path / "market.duckdb").exists():
        if not (shared / "SOURCE.md").exists():
            print(f"real data: skipped, {shared} not found (--ashare PATH)")
            return None
        from flyer.data.sources import ingest, make_source

        with MarketStore.open(path) as store:
            timed(f"ingest {shared} (once)", lambda: ingest(store, make_source("ashare", path=str(shared))))
    return MarketStore.open(path, read_only=True)


def sim_store(n_stocks: int) -> MarketStore:
    path = ROOT / f"sim{n_stocks}"
    if not (path / "market.duckdb").exists():
        from flyer.data.sources.sim import SimConfig, generate

        cfg = SimConfig(n_stocks=n_stocks, start=dt.date(2010, 1, 1), end=dt.date(2024, 12, 31))
        frames, _ = timed(f"generate sim {n_stocks} stocks x 15 years (once)", lambda: generate(cfg))
        with MarketStore.open(path) as store:
            timed("write sim store (once)", lambda: store.write("sim", frames))
    return MarketStore.open(path, read_only=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--skip-real", action="store_true")
    ap.add_argument("--sim", action="store_true", help="also the sim panel of --stocks stocks")
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--no-fresh", action="store_true", help="skip the fresh-process cold run")
    ap.add_argument("--check-peer", action="store_true",
                    help="also run the pandas pipeline (about 2 minutes) and check the peer's total return equals it")
    ap.add_argument("--ashare", type=Path, default=SHARED, help="the real data folder (../shared/ashare)")
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared: read the ratios)")
    if not args.skip_real:
        store = real_store(args.ashare)
        if store is not None:
            scores, _ = timed("scores (momentum, CSI 500 members)", lambda: momentum_scores(store, "000905.SH"))
            bench_one("real CSI 500 universe", store, scores, not args.no_fresh, args.check_peer)
            store.close()
    if args.sim:
        store = sim_store(args.stocks)
        scores, _ = timed("scores (momentum, all stocks)", lambda: momentum_scores(store, None))
        bench_one(f"sim {args.stocks} stocks", store, scores, False, args.check_peer)
        store.close()


if __name__ == "__main__":
    main()
