"""Benchmark: candidates evaluated per second by the miner, serial and on a local Ray, on the
real data's CSI 500 universe (``../shared/ashare``; skipped with a message when absent).

The real data is ingested into a temporary store (or read from ``--home`` when it already holds
it); the same random candidates (seeded, from the mining grammar) are evaluated serially and on
Ray with ``--workers`` CPUs. Figures include the engine computing the formulas and the rank IC.
Usage: ``python bench/mining.py [--home DIR] [--candidates 64] [--workers N] [--batch-size 16]``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ASHARE = ROOT.parent / "shared" / "ashare"
TRAIN = (dt.date(2016, 1, 1), dt.date(2019, 12, 31))
VALID = (dt.date(2020, 1, 1), dt.date(2021, 12, 31))


def _store(home: str | None):
    """A store holding the real data: ``home`` as is, else a fresh temporary ingest."""
    from flyer.data.sources import ingest, make_source
    from flyer.data.store import MarketStore

    if home and (Path(home) / "market.duckdb").exists():
        return MarketStore.open(home, read_only=True)
    path = home or tempfile.mkdtemp(prefix="flyer_bench_mining_")
    store = MarketStore.open(path)
    t = time.perf_counter()
    ingest(store, make_source("ashare", path=str(ASHARE), start=dt.date(2015, 6, 1), end=dt.date(2022, 6, 30)))
    print(f"ingested {ASHARE} into {path} in {time.perf_counter() - t:.0f} s")
    return store


def _rate(evaluator, formulas: list[str]) -> tuple[float, float, int]:
    """(seconds, candidates per second, failed) for one evaluation of ``formulas``."""
    t = time.perf_counter()
    res = evaluator.evaluate(formulas)
    s = time.perf_counter() - t
    return s, len(formulas) / s, sum(not r.ok for r in res)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", default=None, help="a flyer home holding (or to receive) the real data")
    ap.add_argument("--candidates", type=int, default=64)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--batch-size", type=int, default=16)
    args = ap.parse_args()
    if not (ASHARE / "SOURCE.md").exists():
        print(f"bench/mining.py: skipped, real data not found at {ASHARE}")
        return
    from flyer.factors.mining import Grammar, RayEvaluator, SerialEvaluator, load_data
    from flyer.factors.mining.grammar import ramped_population

    g = Grammar()
    store = _store(args.home)
    t = time.perf_counter()
    data = load_data(store, "csi500", 5, TRAIN, VALID, g.fields, g.max_lookback)
    store.close()
    print(f"CSI 500 panel: {data.shape[0]} days x {data.shape[1]} symbols "
          f"({data.row_date.size:,} rows), loaded in {time.perf_counter() - t:.1f} s")
    formulas = [str(e) for e in ramped_population(random.Random(0), g, args.candidates)]
    serial = SerialEvaluator(data, args.batch_size)
    serial.evaluate(formulas[:4])  # warm-up: numba kernels load from cache
    s, rate, bad = _rate(serial, formulas)
    print(f"serial: {len(formulas)} candidates in {s:.1f} s = {rate:.2f} candidates/s ({bad} failed)")
    t = time.perf_counter()
    with RayEvaluator(data, num_cpus=args.workers, batch_size=args.batch_size) as ray_eval:
        ray_eval.batch_size = 1
        ray_eval.evaluate(formulas[:args.workers])  # warm-up: every worker starts and imports
        ray_eval.batch_size = args.batch_size
        warm = time.perf_counter() - t
        s, rate, bad = _rate(ray_eval, formulas)
    print(f"ray ({args.workers} CPUs, start-up {warm:.1f} s): {len(formulas)} candidates in {s:.1f} s "
          f"= {rate:.2f} candidates/s ({bad} failed)")


if __name__ == "__main__":
    main()
