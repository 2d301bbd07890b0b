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

from flyer.data.store import MarketStore  # noqa: E402

ASHARE = REPO.parent / "shared" / "ashare"


class _Clock:
    """Wall and process-CPU seconds per phase (CPU is what to read on a shared, busy machine)."""

    def __init__(self) -> None:
        self.marks = [(time.perf_counter(), time.process_time())]

    def lap(self) -> tuple[float, float]:
        self.marks.append((time.perf_counter(), time.process_time()))
        (w0, c0), (w1, c1) = self.marks[-2:]
        return w1 - w0, c1 - c0


def _fmt(lap: tuple[float, float]) -> str:
    return f"{lap[0]:.1f} s (cpu {lap[1]:.1f} s)"


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2  # KiB on Linux


def bench_ashare() -> None:
    from flyer.data.sources import ashare
    if not (ASHARE / "daily").is_dir():
        print(f"ashare: skipped ({ASHARE} not present)")
        return
    with tempfile.TemporaryDirectory() as home, MarketStore.open(home) as store:
        clock = _Clock()
        frames = ashare.read(ASHARE)
        read = clock.lap()
        report = store.write("ashare", frames)
        write = clock.lap()
        del frames
        n = store.bars().height
        load = clock.lap()
    rows = report.rows_written + report.rows_rejected
    total = (read[0] + write[0], read[1] + write[1])
    print(f"ashare: {report.written['bars']:,} bar rows ({rows:,} rows in all) | read {_fmt(read)}, "
          f"write {_fmt(write)}, total {_fmt(total)} = {rows / total[0]:,.0f} rows/s wall | "
          f"bars() {_fmt(load)} for {n:,} rows | peak {_peak_gb():.2f} GB")


def bench_sim(stocks: int, years: int) -> None:
    from flyer.data.sources.sim import SimConfig, generate
    cfg = SimConfig(n_stocks=stocks, start=dt.date(2024 - years + 1, 1, 1), end=dt.date(2024, 12, 31))
    with tempfile.TemporaryDirectory() as home, MarketStore.open(home) as store:
        clock = _Clock()
        frames = generate(cfg)
        gen = clock.lap()
        report = store.write("sim", frames, cfg.start, cfg.end)
        write = clock.lap()
        del frames
        n = store.bars().height
        load = clock.lap()
    rows = report.rows_written + report.rows_rejected
    total = (gen[0] + write[0], gen[1] + write[1])
    print(f"sim {stocks} x {years} y: {report.written['bars']:,} bar rows | generate {_fmt(gen)}, "
          f"write {_fmt(write)}, total {_fmt(total)} (target < 60 s) = {rows / total[0]:,.0f} rows/s wall | "
          f"bars() {_fmt(load)} (target < 3 s) for {n:,} rows | peak {_peak_gb():.2f} GB (target < 6)")


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
