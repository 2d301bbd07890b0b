"""Benchmark: Alpha158 on (a) the real data in ../shared/ashare, (b) a 5,000-stock x 15-year sim
panel, (c) a one-day incremental update. Prints seconds, rows per second and peak memory.

Each case runs in its own subprocess so its peak RSS (``resource.getrusage``) is its own; the
figure includes loading the panel. Targets: (b) < 120 s and < 12 GB; (c) < 5 s.
Usage: ``python bench/factors.py [--case real|sim|update] [--stocks 5000] [--years 15]``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ASHARE = ROOT.parent / "shared" / "ashare"
XBX = ASHARE / "daily" / "xbx_unadj_csi800ever_20100104_20220114.parquet"


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def _contract(frames: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Store frames -> the ``store.bars(adjust=True)`` contract, plus industry."""
    from flyer.data.store import _derive  # the store's own adjustment, applied in memory

    bars = _derive(frames["bars"].sort("symbol", "date"), True)
    ind = frames["instruments"].select("symbol", "industry")
    return bars.join(ind, on="symbol", how="left", maintain_order="left")


def _run_chunks(bars: pl.DataFrame, label: str, chunk_rows: int) -> dict[str, object]:
    from flyer.factors import compute_chunks
    from flyer.factors.library import load

    fs = load("alpha158")
    t0, c0 = time.perf_counter(), time.process_time()
    rows = 0
    for chunk in compute_chunks(bars, fs, chunk_rows=chunk_rows):
        rows += chunk.height
    sec = time.perf_counter() - t0
    return {"case": label, "rows": rows, "symbols": bars["symbol"].n_unique(), "seconds": round(sec, 2),
            "cpu_s": round(time.process_time() - c0, 2),
            "rows_per_s": round(rows / sec), "factor_values_per_s": round(rows * len(fs) / sec),
            "peak_rss_gb": round(_peak_gb(), 2)}


def case_real(chunk_rows: int) -> dict[str, object]:
    home = Path("/tmp/fh_real")
    if (home / "market.duckdb").exists():
        from flyer.data.store import MarketStore

        with MarketStore.open(home, read_only=True) as store:
            bars = store.bars().join(store.instruments().select("symbol", "industry"), on="symbol", how="left",
                                     maintain_order="left")
        return _run_chunks(bars, "real (store /tmp/fh_real)", chunk_rows)
    if not XBX.exists():
        return {"case": "real", "skipped": f"no real data at {XBX}"}
    try:
        from flyer.data.sources import ashare

        frames = ashare.read(ASHARE)
    except Exception as exc:  # noqa: BLE001 - a bench reports and moves on
        return {"case": "real", "skipped": f"cannot read {ASHARE}: {exc}"}
    return _run_chunks(_contract(frames), "real (../shared/ashare)", chunk_rows)


def case_sim(stocks: int, years: int, chunk_rows: int) -> dict[str, object]:
    from flyer.data.sources.sim import SimConfig, generate

    t0 = time.perf_counter()
    cfg = SimConfig(n_stocks=stocks, start=dt.date(2024 - years + 1, 1, 1), end=dt.date(2024, 12, 31))
    bars = _contract(generate(cfg))
    gen = time.perf_counter() - t0
    out = _run_chunks(bars, f"sim {stocks} x {years}y", chunk_rows)
    out["generate_s"] = round(gen, 1)
    return out


def case_update(stocks: int) -> dict[str, object]:
    """One new date: load the lookback from a store, compute, append one partition."""
    import tempfile

    from flyer.data.sources import ingest, make_source
    from flyer.data.store import MarketStore
    from flyer.factors import storage
    from flyer.factors.pipeline import update

    home = Path(tempfile.mkdtemp(prefix="flyer_bench_"))
    src = make_source("sim", stocks=stocks, start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31))
    with MarketStore.open(home) as store:
        ingest(store, src)
        last = store.calendar()[-1]
        prev = store.calendar()[-2]
        update(store, home, "alpha158", start=prev, end=prev)  # warm numba caches / history exists
        t0, c0 = time.perf_counter(), time.process_time()
        rep = update(store, home, "alpha158")  # appends just `last`
        sec, cpu = time.perf_counter() - t0, time.process_time() - c0
    from flyer.factors.library import load

    assert storage.stored_dates(storage.set_root(home, load("alpha158")))[-1] == last
    return {"case": f"one-day update ({stocks} stocks, from store)", "rows": rep.rows, "dates": rep.dates_written,
            "seconds": round(sec, 2), "cpu_s": round(cpu, 2), "peak_rss_gb": round(_peak_gb(), 2)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["real", "sim", "update"])
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--years", type=int, default=15)
    ap.add_argument("--chunk-rows", type=int, default=1_000_000)
    args = ap.parse_args()
    if args.case:
        fn = {"real": lambda: case_real(args.chunk_rows),
              "sim": lambda: case_sim(args.stocks, args.years, args.chunk_rows),
              "update": lambda: case_update(args.stocks)}[args.case]
        print(json.dumps(fn(), default=str))
        return
    for case in ("real", "sim", "update"):
        cmd = [sys.executable, __file__, "--case", case, "--stocks", str(args.stocks), "--years", str(args.years),
               "--chunk-rows", str(args.chunk_rows)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        line = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else json.dumps(
            {"case": case, "error": res.stderr.strip().splitlines()[-1:]})
        print(line, flush=True)


if __name__ == "__main__":
    main()
