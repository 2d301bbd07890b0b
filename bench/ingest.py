"""Ingest benchmark: rows/s importing ../shared/ashare and the sim market, load time, peak memory.

Usage: ``python bench/ingest.py [all|ashare|sim] [--stocks 5000] [--years 15]``. ``all`` runs each
case in a fresh subprocess so each peak memory (ru_maxrss) is its own. Targets (sim 5,000 x 15 y):
generated + stored < 60 s, ``store.bars()`` < 3 s, peak memory < 6 GB. Prints figures only.
"""
from __future__ import annotations

import argparse
import datetime as dt
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from data.store import MarketStore  # noqa: E402

ASHARE = REPO.parent / "shared" / "ashare"


def _cpu() -> str:
    """Process CPU seconds so far (all threads): wall times below are inflated on a busy machine."""
    return f"cpu {time.process_time():.1f} s"


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB on Linux


def _load(store: MarketStore) -> tuple[float, int]:
    t0 = time.perf_counter()
    n = store.bars().height
    return time.perf_counter() - t0, n


def bench_ashare() -> None:
    from data.sources import ashare
    if not (ASHARE / "daily").is_dir():
        print(f"ashare: skipped ({ASHARE} not present)")
        return
    with tempfile.TemporaryDirectory() as home, MarketStore.open(home) as store:
        t0 = time.perf_counter()
        frames = ashare.read(ASHARE)
        t1 = time.perf_counter()
        report = store.write("ashare", frames)
        t2 = time.perf_counter()
        load_s, n = _load(store)
    rows = report.rows_written + report.rows_rejected
    print(f"ashare: {report.written['bars']:,} bar rows ({rows:,} rows in all) | read {t1 - t0:.1f} s, "
          f"write {t2 - t1:.1f} s, total {t2 - t0:.1f} s = {rows / (t2 - t0):,.0f} rows/s | "
          f"bars() {load_s:.2f} s for {n:,} rows | peak {_peak_gb():.2f} GB | {_cpu()}")


def bench_sim(stocks: int, years: int) -> None:
    from data.sources.sim import SimConfig, generate
    cfg = SimConfig(n_stocks=stocks, start=dt.date(2024 - years + 1, 1, 1), end=dt.date(2024, 12, 31))
    with tempfile.TemporaryDirectory() as home, MarketStore.open(home) as store:
        t0 = time.perf_counter()
        frames = generate(cfg)
        t1 = time.perf_counter()
        report = store.write("sim", frames, cfg.start, cfg.end)
        t2 = time.perf_counter()
        del frames
        load_s, n = _load(store)
    rows = report.rows_written + report.rows_rejected
    print(f"sim {stocks} x {years} y: {report.written['bars']:,} bar rows | generate {t1 - t0:.1f} s, "
          f"write {t2 - t1:.1f} s, total {t2 - t0:.1f} s (target < 60) = {rows / (t2 - t0):,.0f} rows/s | "
          f"bars() {load_s:.2f} s (target < 3) for {n:,} rows | peak {_peak_gb():.2f} GB (target < 6) | {_cpu()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case", nargs="?", default="all", choices=("all", "ashare", "sim"))
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--years", type=int, default=15)
    args = ap.parse_args()
    if args.case == "ashare":
        bench_ashare()
    elif args.case == "sim":
        bench_sim(args.stocks, args.years)
    else:
        for case in ("ashare", "sim"):
            subprocess.run([sys.executable, __file__, case, "--stocks", str(args.stocks),
                            "--years", str(args.years)], check=True)


if __name__ == "__main__":
    main()
