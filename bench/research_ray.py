"""Research on Ray against the serial loop, on the simulated market (issue 25, item 5).

One walk-forward LightGBM on Alpha158 (sim, ``--stocks`` stocks 2016-2024, test 2021-2024
retrained every ``--months`` months: 8 folds by default), fitted three ways on the same inputs,
one after the other in this process:
  * serial, 1 LightGBM thread per fold (the reference the Ray run must equal bit for bit);
  * serial, every core for LightGBM (``--threads``; what a user runs without Ray);
  * a local Ray on loopback with ``--workers`` workers, one fold per task, 1 thread each.
Printed: wall seconds of each, the Ray run's speed-up over both serial runs beside the target
(>= 1.7x the serial loop with 2 workers on 2 cores), and whether its predictions and per-fold
metrics equal the 1-thread serial run's. Loading the inputs (features) is timed once and is
not part of any of the three (the runs share it).

Usage: ``python bench/research_ray.py [--stocks 800] [--months 6] [--workers 2] [--threads 2]``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

D = dt.date
TARGET = 1.7


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--stocks", type=int, default=800)
    ap.add_argument("--months", type=int, default=6, help="retrain every n months over the 4 test years")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 2, help="LightGBM threads of the serial run")
    a = ap.parse_args()

    from flyer.data.sources.sim import SimConfig, generate
    from flyer.data.store import MarketStore
    from flyer.models import parallel
    from flyer.models.config import make_config
    from flyer.models.pipeline import fit_folds, load_inputs

    with tempfile.TemporaryDirectory(prefix="flyer_bench_ray_") as tmp:
        home = Path(tmp)
        t = time.perf_counter()
        with MarketStore.open(home) as store:
            store.write("sim", generate(SimConfig(n_stocks=a.stocks, seed=11)))
        print(f"sim store: {a.stocks} stocks 2016-2024 in {time.perf_counter() - t:.1f} s")
        cfg = make_config("lgbm", (D(2016, 1, 1), D(2019, 12, 31)), (D(2020, 1, 1), D(2020, 12, 31)),
                          (D(2021, 1, 1), D(2024, 12, 31)), walk_forward=True, retrain_months=a.months,
                          factors="alpha158", universe="csi500", label_horizon=5)
        with MarketStore.open(home, read_only=True) as store:
            t = time.perf_counter()
            inputs = load_inputs(store, cfg, cfg.split.train[0], cfg.split.test[1])
            print(f"inputs (Alpha158 features, labels): {time.perf_counter() - t:.1f} s, shared by the runs below")

            def run(threads: int, runner: object | None) -> tuple[float, list]:
                fresh = load_inputs(store, cfg, cfg.split.train[0], cfg.split.test[1]) if runner is not None else inputs
                t0 = time.perf_counter()
                _, results = fit_folds(fresh, cfg, threads=threads, runner=runner)  # type: ignore[arg-type]
                return time.perf_counter() - t0, results

            one, ref = run(1, None)
            inputs = load_inputs(store, cfg, cfg.split.train[0], cfg.split.test[1])
            full, _ = run(a.threads, None)
            with parallel.make_runner("ray", workers=a.workers) as runner:
                print(f"runner: {runner.describe()}")
                on_ray, got = run(1, runner)
    same = len(ref) == len(got) and all(
        x.fold == y.fold and all(x.scores[s].equals(y.scores[s]) for s in ("train", "valid", "test"))
        for x, y in zip(ref, got))
    print(f"\nwalk-forward LightGBM, {len(ref)} folds, Alpha158 on {a.stocks} sim stocks (CSI 500 members), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}:")
    print(f"  serial, 1 thread a fold            {one:7.1f} s")
    print(f"  serial, {a.threads} LightGBM threads         {full:7.1f} s")
    print(f"  Ray, {a.workers} workers x 1 thread          {on_ray:7.1f} s   "
          f"{one / on_ray:.2f}x the 1-thread loop, {full / on_ray:.2f}x the {a.threads}-thread loop "
          f"(target >= {TARGET}x the serial loop)")
    fit = lambda rs: sum(r.learner.info.get("fit_seconds", 0.0) for r in rs)  # noqa: E731
    print(f"  fold fits summed: serial 1 thread {fit(ref):.1f} s, Ray {fit(got):.1f} s (in the workers)")
    print(f"  Ray predictions equal the 1-thread serial run's, fold by fold: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    raise SystemExit(main())
