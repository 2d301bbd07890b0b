"""Benchmark: Alpha158 speed, scaling and memory, each case in a fresh process.

Cases (``--case``; all by default, each in its own subprocess so peak RSS is its own and the
numba kernels load from the disk cache as in a new CLI process):
  * ``sim N``: a sim panel of N stocks x 15 years (N = 1,000, 2,000, 5,000), generated once
    into ``$FLYER_BENCH_HOME`` (default ``/tmp/flyer_bench_factors``) as Parquet and read back,
    computed with ``compute_chunks`` as float32: rows/s, CPU/wall (both cores busy?), peak RSS;
  * ``real``: the real data (../shared/ashare, every stock, 2010-2026);
  * ``qlib800``: the first 800 real stocks (the panel qlib was timed on), first call in a
    fresh process, against qlib's measured time;
  * ``update``: one new date appended to a stored Alpha158 (sim 5,000 stocks, from the store).
Targets (issue 13): 5,000 x 15 y < 45 s and < 6 GB; rows/s at 5,000 within 15 % of 1,000;
CPU/wall >= 1.7 on the large cases; real data < 20 s; >= 25x qlib on the 800-stock panel in a
fresh process; one-day update < 1 s. CPU seconds are printed beside wall: on a loaded machine
wall time and CPU/wall say more about the neighbours than about flyer.

Before issue 13 (main, 2 cores, from the issue): sim 1,000 stocks 13.0 s (194k rows/s, CPU/wall
1.6), 2,000 40.4 s (133k rows/s, 1.0), 5,000 147.7 s (92k rows/s, 0.86); real 66.7 s, 6.5 GB;
800-stock panel 6.9 s first call (qlib 92.5 s: 13x), peak 5.9 GB (qlib 2.5 GB).

Usage: ``python bench/factors.py [--case sim|real|qlib800|update] [--stocks N] [--years 15]``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HOME = Path(os.environ.get("FLYER_BENCH_HOME", "/tmp/flyer_bench_factors"))
#: qlib 0.9.7, Alpha158 (its expression engine, 2 processes) on the same 800-stock real panel,
#: measured on this 2-core box on 2026-11-30 (issue 13); qlib is not a dependency of flyer
QLIB_800_S, QLIB_800_GB = 92.5, 2.5
TARGETS = {"sim5000_s": 45.0, "sim5000_gb": 6.0, "scaling": 0.85, "cpu_wall": 1.7, "real_s": 20.0,
           "qlib_ratio": 25.0, "update_s": 1.0}


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
    for chunk in compute_chunks(bars, fs, chunk_rows=chunk_rows, dtype=pl.Float32):
        rows += chunk.height
    sec, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"case": label, "rows": rows, "symbols": bars["symbol"].n_unique(), "seconds": round(sec, 2),
            "cpu_s": round(cpu, 2), "cpu_per_wall": round(cpu / sec, 2), "rows_per_s": round(rows / sec),
            "rows_per_cpu_s": round(rows / cpu), "peak_rss_gb": round(_peak_gb(), 2)}


def sim_bars(stocks: int, years: int) -> Path:
    """The sim panel as Parquet, generated once (in this process, not the measured one)."""
    path = HOME / f"sim{stocks}x{years}.parquet"
    if not path.exists():
        from flyer.data.sources.sim import SimConfig, generate

        HOME.mkdir(parents=True, exist_ok=True)
        cfg = SimConfig(n_stocks=stocks, start=dt.date(2024 - years + 1, 1, 1), end=dt.date(2024, 12, 31))
        _contract(generate(cfg)).write_parquet(path)
    return path


def case_sim(stocks: int, years: int, chunk_rows: int) -> dict[str, object]:
    bars = pl.read_parquet(sim_bars(stocks, years))
    return _run_chunks(bars, f"sim {stocks} x {years}y", chunk_rows)


def _real_bars() -> pl.DataFrame | None:
    from flyer.data.sources import ashare

    root = ashare.find_default_root()
    if not (root / "daily").is_dir():
        return None
    return _contract(ashare.read(root))


def case_real(chunk_rows: int) -> dict[str, object]:
    bars = _real_bars()
    if bars is None:
        return {"case": "real", "skipped": "no real data (../shared/ashare)"}
    return _run_chunks(bars, "real (../shared/ashare)", chunk_rows)


def case_qlib800(chunk_rows: int) -> dict[str, object]:
    bars = _real_bars()
    if bars is None:
        return {"case": "qlib800", "skipped": "no real data (../shared/ashare)"}
    first = bars["symbol"].unique().sort().head(800)
    out = _run_chunks(bars.filter(pl.col("symbol").is_in(first.implode())), "real 800 stocks (qlib's panel)",
                      chunk_rows)
    out["qlib_s"], out["ratio_to_qlib"] = QLIB_800_S, round(QLIB_800_S / out["seconds"], 1)
    return out


def case_update(stocks: int) -> dict[str, object]:
    """One new date: load the lookback from a store, compute, append one partition."""
    import tempfile

    from flyer.data.sources import ingest, make_source
    from flyer.data.store import MarketStore
    from flyer.factors import storage
    from flyer.factors.library import load
    from flyer.factors.pipeline import update

    home = Path(tempfile.mkdtemp(prefix="flyer_bench_"))
    src = make_source("sim", stocks=stocks, start=dt.date(2024, 1, 1), end=dt.date(2024, 12, 31))
    with MarketStore.open(home) as store:
        ingest(store, src)
        last, prev = store.calendar()[-1], store.calendar()[-2]
        update(store, home, "alpha158", start=prev, end=prev)  # history exists up to yesterday
        t0, c0 = time.perf_counter(), time.process_time()
        rep = update(store, home, "alpha158")  # appends just `last`
        sec, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert storage.stored_dates(storage.set_root(home, load("alpha158")))[-1] == last
    return {"case": f"one-day update ({stocks} stocks, from store)", "rows": rep.rows, "dates": rep.dates_written,
            "seconds": round(sec, 2), "cpu_s": round(cpu, 2), "peak_rss_gb": round(_peak_gb(), 2)}


def _sub(args: list[str]) -> dict[str, object]:
    res = subprocess.run([sys.executable, __file__, *args], capture_output=True, text=True)
    last = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
    try:
        return json.loads(last)
    except json.JSONDecodeError:
        return {"case": " ".join(args), "error": (res.stderr.strip().splitlines() or ["?"])[-1]}


def _ok(ok: bool) -> str:
    return "met" if ok else "MISSED"


def summary(results: dict[str, dict]) -> None:
    """The figures against their targets."""
    sims = {k: v for k, v in results.items() if k.startswith("sim") and "rows_per_s" in v}
    print("\nAlpha158 (158 factors), float32 values, 2-core targets:")
    for k, v in sims.items():
        print(f"  {v['case']:<22} {v['seconds']:7.1f} s wall {v['cpu_s']:7.1f} s cpu  CPU/wall {v['cpu_per_wall']:.2f} "
              f"({_ok(v['cpu_per_wall'] >= TARGETS['cpu_wall'])} >= {TARGETS['cpu_wall']})  "
              f"{v['rows_per_s']:>9,} rows/s  {v['rows_per_cpu_s']:>9,} rows/cpu-s  peak {v['peak_rss_gb']:.2f} GB")
    big, small = sims.get("sim5000"), sims.get("sim1000")
    if big:
        print(f"  5,000 x 15 y: {big['seconds']:.1f} s (target < {TARGETS['sim5000_s']:.0f}: "
              f"{_ok(big['seconds'] < TARGETS['sim5000_s'])}), {big['peak_rss_gb']:.2f} GB "
              f"(target < {TARGETS['sim5000_gb']:.0f}: {_ok(big['peak_rss_gb'] < TARGETS['sim5000_gb'])})")
    if big and small:
        for key in ("rows_per_s", "rows_per_cpu_s"):
            r = big[key] / small[key]
            print(f"  scaling, {key} at 5,000 / at 1,000: {r:.2f} (target >= {TARGETS['scaling']}: "
                  f"{_ok(r >= TARGETS['scaling'])})")
    real = results.get("real", {})
    if "seconds" in real:
        print(f"  real data: {real['seconds']:.1f} s wall, {real['cpu_s']:.1f} s cpu, {real['rows']:,} rows, peak "
              f"{real['peak_rss_gb']:.2f} GB (target < {TARGETS['real_s']:.0f} s: {_ok(real['seconds'] < TARGETS['real_s'])})")
    q = results.get("qlib800", {})
    if "seconds" in q:
        print(f"  800-stock real panel, fresh process: {q['seconds']:.1f} s, peak {q['peak_rss_gb']:.2f} GB; qlib "
              f"{QLIB_800_S} s, {QLIB_800_GB} GB (measured 2026-11-30): {q['ratio_to_qlib']}x "
              f"(target >= {TARGETS['qlib_ratio']:.0f}x: {_ok(q['ratio_to_qlib'] >= TARGETS['qlib_ratio'])})")
    u = results.get("update", {})
    if "seconds" in u:
        print(f"  one-day update: {u['seconds']:.2f} s wall, {u['cpu_s']:.2f} s cpu (target < {TARGETS['update_s']:.0f} s: "
              f"{_ok(u['seconds'] < TARGETS['update_s'])})")
    for k, v in results.items():
        if "skipped" in v or "error" in v:
            print(f"  {k}: {v.get('skipped') or v.get('error')}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["sim", "real", "qlib800", "update"])
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--years", type=int, default=15)
    ap.add_argument("--chunk-rows", type=int, default=500_000)
    ap.add_argument("--sizes", default="1000,2000,5000", help="sim stock counts of the scaling cases")
    args = ap.parse_args()
    if args.case:
        fn = {"sim": lambda: case_sim(args.stocks, args.years, args.chunk_rows),
              "real": lambda: case_real(args.chunk_rows), "qlib800": lambda: case_qlib800(args.chunk_rows),
              "update": lambda: case_update(args.stocks)}[args.case]
        print(json.dumps(fn(), default=str))
        return
    results: dict[str, dict] = {}
    common = ["--years", str(args.years), "--chunk-rows", str(args.chunk_rows)]
    for n in [int(x) for x in args.sizes.split(",")]:
        sim_bars(n, args.years)
        results[f"sim{n}"] = _sub(["--case", "sim", "--stocks", str(n), *common])
        print(json.dumps(results[f"sim{n}"]), flush=True)
    for case in ("real", "qlib800", "update"):
        results[case] = _sub(["--case", case, "--stocks", str(args.stocks), *common])
        print(json.dumps(results[case]), flush=True)
    summary(results)


if __name__ == "__main__":
    main()
