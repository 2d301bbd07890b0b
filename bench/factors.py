"""Benchmark: Alpha158 speed and memory beside a floor kernel and beside qlib, each in a fresh process.

Every measured run is its own subprocess (peak memory is its own; numba kernels load from the
disk cache as in a new CLI process); figures measured one after the other in the same run are
put side by side as ratios, because the machine may be shared (absolute seconds are noisy).

Cases (``--case``; all by default):
  * ``sim N`` (N in ``--sizes``): a sim panel of N stocks x 15 years, generated once into
    ``$FLYER_BENCH_HOME`` (default ``/tmp/flyer_bench_factors``) as Parquet. flyer computes
    Alpha158 in its default mode with ``compute_chunks`` (float32, chunks of ``--chunk-rows``);
    the floor (``floor_nb``) is one minimal fused numba pass over the same rows and chunks that
    reads the same six fields and writes the same 158 float32 outputs per row: the memory
    traffic every engine pays, with no arithmetic worth the name. Both are timed on the panel in
    memory (the Parquet read is not counted), floor, flyer, floor again.
  * ``real``: the real data (../shared/ashare, every stock, 2010-2026), flyer only.
  * ``qlib``: the first 800 real stocks by code, 2010-2026 (the panel of the "23x" claim).
    The same bars (the store's back-adjusted contract: suspended days are NaN rows) are written
    once as Parquet for flyer and in qlib's binary layout for qlib. Three processes, one after
    the other, each building the full Alpha158 frame in memory: qlib's ``Alpha158`` handler
    (``qlib.init(kernels=2)``: two worker processes, no processors), flyer in qlib-compatible
    mode and flyer in its default mode (float32 values, all cores). For each: rows, the time of
    the computation inside the process, the process's wall time, CPU seconds (its whole process
    tree) and peak memory (the largest process, and the sum over the tree). qlib runs only when
    ``$FLYER_QLIB_PYTHON`` (or ``--qlib-python``) names a Python that imports qlib; otherwise the
    case says so and shows flyer alone. The values of 80 of the stocks are compared cell by cell
    (qlib-compatible mode against qlib).
  * ``update``: one new date appended to a stored Alpha158 (sim 5,000 stocks, from the store).

Targets (issue 25): sim 5,000 x 15 y <= 10 s wall and <= 4 GB, and <= 4x the floor measured
beside it; (issue 27) qlib-compatible Alpha158 >= 25x faster than qlib in wall time on the same
panel and process model with a peak at or below qlib's; (issue 13) real data < 20 s, one-day
update < 1 s.

Usage: ``python bench/factors.py [--case sim|real|qlib|update] [--sizes 1000,5000]
[--qlib-python PATH]``.
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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HOME = Path(os.environ.get("FLYER_BENCH_HOME", "/tmp/flyer_bench_factors"))
TARGETS = {"sim5000_s": 10.0, "sim5000_gb": 4.0, "floor_x": 4.0, "real_s": 20.0, "qlib_x": 25.0, "update_s": 1.0}
FIELDS = ("open", "high", "low", "close", "volume", "vwap")
N_OUT = 158
QLIB_STOCKS, QLIB_START, QLIB_END, QLIB_SAMPLE = 800, "2010-01-01", "2026-12-31", 10


def _importable() -> None:
    """flyer from the running interpreter's install; the checkout only when none is installed
    (so ``--compare-python`` times that interpreter's own flyer)."""
    try:
        import flyer  # noqa: F401
    except ImportError:
        sys.path.insert(0, str(ROOT))


def _peak_gb() -> float:
    """This process's peak resident memory (``VmHWM``: unlike ``ru_maxrss``, not inherited from
    the parent that spawned it)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024 ** 2
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def _cpu() -> float:
    return time.process_time()


# ----------------------------------------------------------------------------- panels
def _contract(frames: dict[str, Any]) -> Any:
    """Store frames -> the ``store.bars(adjust=True)`` contract, plus industry."""
    from flyer.data.store import (
        _derive,  # the store's own adjustment, applied in memory
    )

    bars = _derive(frames["bars"].sort("symbol", "date"), True)
    ind = frames["instruments"].select("symbol", "industry")
    return bars.join(ind, on="symbol", how="left", maintain_order="left")


def sim_bars(stocks: int, years: int) -> Path:
    """The sim panel as Parquet, generated once (outside the measured processes)."""
    path = HOME / f"sim{stocks}x{years}.parquet"
    if not path.exists():
        _importable()
        from flyer.data.sources.sim import SimConfig, generate

        HOME.mkdir(parents=True, exist_ok=True)
        cfg = SimConfig(n_stocks=stocks, start=dt.date(2024 - years + 1, 1, 1), end=dt.date(2024, 12, 31))
        _contract(generate(cfg)).write_parquet(path)
    return path


def _real_bars() -> Any:
    from flyer.data.sources import ashare

    root = ashare.find_default_root()
    if not (root / "daily").is_dir():
        return None
    return _contract(ashare.read(root))


def qlib_panel(stocks: int) -> Path | None:
    """The real panel of the first ``stocks`` stocks as Parquet (flyer's input) and in qlib's
    binary layout (``qlib<stocks>/``), written once; None without the real data."""
    import polars as pl

    path = HOME / f"real{stocks}.parquet"
    if not path.exists():
        bars = _real_bars()
        if bars is None:
            return None
        first = bars["symbol"].unique().sort().head(stocks)
        lo, hi = dt.date.fromisoformat(QLIB_START), dt.date.fromisoformat(QLIB_END)
        panel = bars.filter(pl.col("symbol").is_in(first.implode()) & pl.col("date").is_between(lo, hi))
        HOME.mkdir(parents=True, exist_ok=True)
        _write_qlib(panel, HOME / f"qlib{stocks}")
        panel.write_parquet(path)
    return path


def qlib_code(symbol: str) -> str:
    """``600000.SH`` -> ``SH600000`` (qlib's instrument names)."""
    code, _, market = symbol.partition(".")
    return f"{market}{code}"


def _write_qlib(panel: Any, folder: Path) -> None:
    """qlib's dump_bin layout: ``calendars/day.txt``, ``instruments/all.txt`` and per stock
    ``features/<code>/<field>.day.bin`` (little-endian float32; element 0: the calendar index
    of the first value). Suspended days are NaN bars, as flyer's engine sees them."""
    import numpy as np
    import polars as pl

    cal = panel["date"].unique().sort().to_list()
    index = {d: i for i, d in enumerate(cal)}
    (folder / "calendars").mkdir(parents=True, exist_ok=True)
    (folder / "instruments").mkdir(exist_ok=True)
    (folder / "calendars" / "day.txt").write_text("".join(f"{d}\n" for d in cal))
    susp = pl.col("is_suspended").fill_null(False)
    bars = panel.sort("symbol", "date").with_columns(
        *[pl.when(susp).then(None).otherwise(pl.col(c)).alias(c) for c in FIELDS], pl.lit(1.0).alias("factor"))
    spans = []
    for (sym,), part in bars.group_by(["symbol"], maintain_order=True):
        code = qlib_code(str(sym))
        spans.append(f"{code}\t{part['date'].min()}\t{part['date'].max()}\n")
        rows = np.array([index[d] for d in part["date"].to_list()], dtype=np.int64)
        out = folder / "features" / code.lower()
        out.mkdir(parents=True, exist_ok=True)
        for f in (*FIELDS, "factor"):
            dense = np.full(rows.max() - rows.min() + 1, np.nan, dtype=np.float32)
            dense[rows - rows.min()] = part[f].cast(pl.Float64).fill_null(np.nan).to_numpy()
            np.hstack([np.float32(rows.min()), dense]).astype("<f4").tofile(out / f"{f}.day.bin")
    (folder / "instruments" / "all.txt").write_text("".join(spans))


# ----------------------------------------------------------------------------- measured cases
def floor_nb_source() -> Any:
    """The floor kernel (compiled on first use, cached by numba): per instrument block, one pass
    over its rows reading the six fields and writing ``N_OUT`` float32 outputs per row."""
    import numba as nb
    import numpy as np

    @nb.njit(parallel=True, cache=True, nogil=True)
    def floor_nb(fields: np.ndarray, starts: np.ndarray, n_out: int) -> np.ndarray:
        n = fields.shape[1]
        out = np.empty((n_out, n), dtype=np.float32)
        for g in nb.prange(starts.shape[0] - 1):
            for i in range(starts[g], starts[g + 1]):
                base = fields[0, i] + fields[1, i] + fields[2, i] + fields[3, i] + fields[4, i] + fields[5, i]
                for k in range(n_out):
                    out[k, i] = base + k
        return out

    return floor_nb


def _chunks(starts: Any, chunk_rows: int) -> list[tuple[int, int]]:
    """Instrument blocks grouped into chunks of about ``chunk_rows`` rows (as ``compute_chunks``)."""
    import numpy as np

    out, lo = [], 0
    while lo < starts.size - 1:
        hi = max(int(np.searchsorted(starts, starts[lo] + chunk_rows, side="right")) - 1, lo + 1)
        out.append((lo, hi))
        lo = hi
    return out


def case_floor(path: Path, chunk_rows: int) -> dict[str, Any]:
    import numpy as np
    import polars as pl

    _importable()
    from flyer.factors.engine import group_starts

    bars = pl.read_parquet(path, columns=["symbol", "date", *FIELDS])
    fields = np.ascontiguousarray(bars.select(pl.col(c).cast(pl.Float64) for c in FIELDS).to_numpy(order="fortran").T)
    starts = group_starts(bars["symbol"])
    floor_nb = floor_nb_source()
    floor_nb(fields[:, :10], np.array([0, 10], dtype=np.int64), N_OUT)
    t0, c0 = time.perf_counter(), _cpu()
    rows = 0
    for lo, hi in _chunks(starts, chunk_rows):
        a, b = int(starts[lo]), int(starts[hi])
        out = floor_nb(fields[:, a:b], starts[lo:hi + 1] - a, N_OUT)
        rows += out.shape[1]
        del out
    return _figures("floor kernel", rows, t0, c0)


def _figures(label: str, rows: int, t0: float, c0: float, **extra: Any) -> dict[str, Any]:
    """The measured work's figures; ``done_at`` (epoch seconds) ends the process's measured span
    (anything after it, such as writing the agreement sample, is not counted)."""
    sec, cpu = time.perf_counter() - t0, _cpu() - c0
    return {"case": label, "rows": rows, "seconds": round(sec, 2), "cpu_s": round(cpu, 2),
            "cpu_per_wall": round(cpu / sec, 2), "rows_per_s": round(rows / sec), "peak_rss_gb": round(_peak_gb(), 2),
            "done_at": time.time(), **extra}


def case_flyer_chunks(path: Path | None, chunk_rows: int, label: str) -> dict[str, Any]:
    import polars as pl

    _importable()
    from flyer.factors import compute, compute_chunks
    from flyer.factors.library import load

    bars = pl.read_parquet(path) if path is not None else _real_bars()
    if bars is None:
        return {"case": label, "skipped": "no real data (../shared/ashare)"}
    fs = load("alpha158")
    compute(bars.head(100), fs, dtype=pl.Float32)  # the kernels load from numba's cache
    t0, c0 = time.perf_counter(), _cpu()
    rows = 0
    for chunk in compute_chunks(bars, fs, chunk_rows=chunk_rows, dtype=pl.Float32):
        rows += chunk.height
    return _figures(label, rows, t0, c0, symbols=bars["symbol"].n_unique())


def case_flyer_panel(path: Path, compat: bool, sample: Path | None, label: str = "flyer") -> dict[str, Any]:
    """The whole Alpha158 frame of the 800-stock panel in memory (what qlib's handler builds)."""
    t_proc = time.perf_counter()
    import polars as pl

    _importable()
    from flyer.factors import compute
    from flyer.factors.library import load

    t0, c0 = time.perf_counter(), _cpu()
    bars = pl.read_parquet(path, columns=["symbol", "date", *FIELDS, "is_suspended"])
    values = compute(bars, load("alpha158"), qlib_compat=compat, dtype=pl.Float32)
    out = _figures(f"{label} " + ("qlib-compatible" if compat else "default"), values.height, t0, c0,
                   import_s=round(t0 - t_proc, 2))
    if sample is not None:
        keep = values["symbol"].unique().sort().gather_every(QLIB_SAMPLE)
        values.filter(pl.col("symbol").is_in(keep.implode())).write_parquet(sample)
    return out


def case_update(stocks: int) -> dict[str, Any]:
    """One new date: load the lookback from a store, compute, append one partition."""
    import tempfile

    _importable()
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
        t0, c0 = time.perf_counter(), _cpu()
        rep = update(store, home, "alpha158")  # appends just `last`
        out = _figures(f"one-day update ({stocks} stocks, from store)", rep.rows, t0, c0)
    assert storage.stored_dates(storage.set_root(home, load("alpha158")))[-1] == last
    return out


def qlib_worker(provider: Path, sample: Path | None) -> dict[str, Any]:
    """Runs under the qlib venv (imports no flyer): qlib's Alpha158 handler on ``provider``."""
    t_proc = time.perf_counter()
    import qlib
    from qlib.contrib.data.handler import Alpha158

    t0, c0 = time.perf_counter(), _cpu()
    qlib.init(provider_uri=str(provider), region="cn", kernels=2, expression_cache=None, dataset_cache=None)
    h = Alpha158(instruments="all", start_time=QLIB_START, end_time=QLIB_END, fit_start_time=QLIB_START,
                 fit_end_time=QLIB_END, infer_processors=[], learn_processors=[])
    df = h.fetch(col_set="feature")
    out = _figures("qlib Alpha158 handler", len(df), t0, c0, import_s=round(t0 - t_proc, 2))
    if sample is not None:
        codes = sorted(df.index.get_level_values("instrument").unique())[::QLIB_SAMPLE]
        part = df[df.index.get_level_values("instrument").isin(codes)].reset_index()
        part.columns = [c if isinstance(c, str) else c[-1] for c in part.columns]
        part.to_parquet(sample)
    return out


# ----------------------------------------------------------------------------- process runner
def _run(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one measured process: its last stdout line (JSON), plus the process's wall time from
    its start to the end of its measured work (``done_at``), CPU seconds of the whole run (with
    the children it reaped) and the peak memory summed over its process tree (sampled every
    0.1 s up to ``done_at``)."""
    import tempfile

    import psutil

    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t_epoch, t0 = time.time(), time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, env=env)
        root = psutil.Process(proc.pid)
        samples: list[tuple[float, int]] = []
        while True:
            pid, _, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            try:
                samples.append((time.time(), sum(p.memory_info().rss for p in [root, *root.children(recursive=True)])))
            except psutil.Error:
                pass
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        proc.returncode = 0  # reaped by wait4 above
        out.seek(0)
        err.seek(0)
        lines, errors = out.read().strip().splitlines(), err.read().strip().splitlines()
    try:
        res = json.loads(lines[-1])
    except (json.JSONDecodeError, IndexError):
        return {"case": " ".join(cmd[2:4]), "error": (errors or ["no output"])[-1]}
    done = res.pop("done_at", t_epoch + wall)
    res.update(process_s=round(min(done - t_epoch, wall), 2),
               tree_peak_gb=round(max((r for t, r in samples if t <= done), default=0) / 1024 ** 3, 2),
               process_cpu_s=round(usage.ru_utime + usage.ru_stime, 2))
    return res


def _sub(args: list[str], python: str | None = None, env: dict[str, str] | None = None) -> dict[str, Any]:
    return _run([python or sys.executable, __file__, *args], env)


def _compare_env() -> dict[str, str]:
    """For ``--compare-python``: its numba cache and bytecode kept out of that checkout."""
    return {**os.environ, "NUMBA_CACHE_DIR": str(HOME / "numba_compare"), "PYTHONDONTWRITEBYTECODE": "1"}


def qlib_python(given: str | None) -> tuple[str | None, str]:
    """The qlib interpreter (``--qlib-python`` or ``$FLYER_QLIB_PYTHON``) and why it is not used."""
    exe = given or os.environ.get("FLYER_QLIB_PYTHON", "")
    if not exe:
        return None, "qlib not run: set FLYER_QLIB_PYTHON (or --qlib-python) to a Python with pyqlib installed"
    if not Path(exe).exists():
        return None, f"qlib not run: {exe} does not exist"
    ok = subprocess.run([exe, "-c", "import qlib"], check=False, capture_output=True, text=True, timeout=300, env=_qlib_env())
    if ok.returncode != 0:
        return None, f"qlib not run: {exe} cannot import qlib (pip install pyqlib)"
    return exe, ""


def _qlib_env() -> dict[str, str]:
    return {**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"}


def agreement(flyer_sample: Path, qlib_sample: Path) -> dict[str, Any]:
    """Cells of qlib-compatible flyer vs qlib on the sampled stocks: per factor the share of
    cells within 1e-5 (and 1e-3) relative (NaN matching NaN counts as equal)."""
    import polars as pl

    a = pl.read_parquet(flyer_sample)
    b = pl.read_parquet(qlib_sample).rename({"datetime": "date", "instrument": "code"})
    a = a.with_columns(pl.col("symbol").map_elements(qlib_code, return_dtype=pl.String).alias("code"))
    b = b.with_columns(pl.col("date").cast(pl.Date))
    names = [c for c in a.columns if c not in ("date", "symbol", "code")]
    j = a.join(b, on=["date", "code"], how="inner", suffix="_q")
    good5 = good3 = 0
    for n in names:
        x, y = pl.col(n).cast(pl.Float64), pl.col(f"{n}_q").cast(pl.Float64)
        both_nan = (x.is_null() | x.is_nan()) & (y.is_null() | y.is_nan())
        diff = (x - y).abs() / pl.max_horizontal(x.abs(), y.abs(), pl.lit(1e-12))
        share5 = j.select((both_nan | (diff <= 1e-5)).fill_null(False).mean()).item()
        share3 = j.select((both_nan | (diff <= 1e-3)).fill_null(False).mean()).item()
        good5 += share5 >= 0.999
        good3 += share3 >= 0.999
    return {"cells": j.height * len(names), "factors": len(names), "ok_1e5": good5, "ok_1e3": good3}


# ----------------------------------------------------------------------------- summary
def _ok(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _line(v: dict[str, Any]) -> str:
    return (f"{v['case']:<34} {v['rows']:>11,} rows {v['seconds']:7.2f} s wall {v['cpu_s']:7.2f} s cpu "
            f"({v['cpu_per_wall']:.2f}) {v['rows_per_s']:>10,} rows/s peak {v['peak_rss_gb']:.2f} GB")


def summary_sim(res: dict[str, dict[str, Any]], n: int) -> None:
    f, fl = res.get(f"sim{n}", {}), [res.get(f"floor{n}a", {}), res.get(f"floor{n}b", {})]
    fl = [x for x in fl if "seconds" in x]
    if "seconds" not in f or not fl:
        return
    floor_s = min(x["seconds"] for x in fl)
    floor_cpu = min(x["cpu_s"] for x in fl)
    print(f"\nAlpha158 on sim {n:,} x 15 y, default mode, float32 (floor, flyer, floor; shared machine):")
    for v in (fl[0], f, *fl[1:]):
        print("  " + _line(v))
    ratio, cratio = f["seconds"] / floor_s, f["cpu_s"] / floor_cpu
    print(f"  flyer / floor: {ratio:.1f}x wall, {cratio:.1f}x cpu (target <= {TARGETS['floor_x']:.0f}x: "
          f"{_ok(ratio <= TARGETS['floor_x'])})")
    b = res.get(f"before{n}", {})
    if "seconds" in b:
        print(f"  before (--compare-python): {_line(b).strip()}; {b['seconds'] / floor_s:.1f}x the floor's wall, "
              f"{b['cpu_s'] / floor_cpu:.1f}x its cpu")
    if n == 5000:
        print(f"  5,000 x 15 y: {f['seconds']:.1f} s (target <= {TARGETS['sim5000_s']:.0f}: "
              f"{_ok(f['seconds'] <= TARGETS['sim5000_s'])}), {f['peak_rss_gb']:.2f} GB (target <= "
              f"{TARGETS['sim5000_gb']:.0f}: {_ok(f['peak_rss_gb'] <= TARGETS['sim5000_gb'])})")


def summary_qlib(res: dict[str, Any]) -> None:
    runs = [res.get(k, {}) for k in ("qlib", "compat", "default", "before_compat", "before_default")]
    print("\nAlpha158 on the real panel of the qlib case, full frame in memory, each in a fresh process (shared machine):")
    for v in runs:
        if "seconds" in v:
            print(f"  {v['case']:<24} {v['rows']:>10,} rows  compute {v['seconds']:7.2f} s wall {v['cpu_s']:6.2f} s cpu"
                  f"  process {v['process_s']:7.2f} s wall {v['process_cpu_s']:7.2f} s cpu (with its children)"
                  f"  peak {v['peak_rss_gb']:.2f} GB (tree {v['tree_peak_gb']:.2f} GB)")
        elif v:
            print(f"  {v.get('case', '?')}: {v.get('skipped') or v.get('error')}")
    q = runs[0]
    if "seconds" in q:
        for v in runs[1:]:
            if "seconds" in v:
                x, xp = q["seconds"] / v["seconds"], q["process_s"] / v["process_s"]
                xc = q["process_cpu_s"] / v["process_cpu_s"]
                print(f"  qlib / {v['case']}: {x:.1f}x compute, {xc:.1f}x cpu, {xp:.1f}x process wall (target >= "
                      f"{TARGETS['qlib_x']:.0f}x: {_ok(xp >= TARGETS['qlib_x'])}); peak {v['peak_rss_gb']:.2f} GB vs qlib "
                      f"{q['peak_rss_gb']:.2f} GB ({_ok(v['peak_rss_gb'] <= q['peak_rss_gb'])})")
    if "agreement" in res:
        a = res["agreement"]
        print(f"  agreement, qlib-compatible vs qlib on {a['cells']:,} cells of every {QLIB_SAMPLE}th stock: "
              f"{a['ok_1e5']}/{a['factors']} factors with >= 99.9 % of cells within 1e-5 relative, "
              f"{a['ok_1e3']}/{a['factors']} within 1e-3")
    if res.get("qlib_note"):
        print(f"  {res['qlib_note']}")


def run_qlib_case(given: str | None, stocks: int, compare: str | None = None) -> dict[str, Any]:
    path = qlib_panel(stocks)
    if path is None:
        return {"qlib_note": "no real data (../shared/ashare): case skipped"}
    exe, note = qlib_python(given)
    res: dict[str, Any] = {"qlib_note": note}
    fs, qs = HOME / "sample_flyer.parquet", HOME / "sample_qlib.parquet"
    n = ["--qlib-stocks", str(stocks)]
    if exe:
        res["qlib"] = _sub(["--case", "qlib-worker", "--sample", str(qs), *n], exe, _qlib_env())
    res["compat"] = _sub(["--case", "flyer-panel", "--compat", "--sample", str(fs), *n])
    res["default"] = _sub(["--case", "flyer-panel", *n])
    for mode, extra in (("compat", ["--compat"]), ("default", [])) if compare else ():
        res[f"before_{mode}"] = _sub(["--case", "flyer-panel", *extra, *n, "--label", "before"], compare, _compare_env())
    if exe and "seconds" in res["qlib"] and "seconds" in res["compat"]:
        res["agreement"] = agreement(fs, qs)
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--case", choices=["sim", "real", "qlib", "update", "floor", "flyer-panel", "qlib-worker"])
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--years", type=int, default=15)
    ap.add_argument("--chunk-rows", type=int, default=500_000)
    ap.add_argument("--sizes", default="1000,5000", help="sim stock counts")
    ap.add_argument("--compat", action="store_true")
    ap.add_argument("--sample", type=Path)
    ap.add_argument("--qlib-python", help="a Python with pyqlib installed (default: $FLYER_QLIB_PYTHON)")
    ap.add_argument("--qlib-stocks", type=int, default=QLIB_STOCKS, help="stocks of the qlib case (first by code)")
    ap.add_argument("--compare-python", help="also time the flyer installed for this Python (e.g. another "
                    "checkout's venv) in the same run: before / after")
    ap.add_argument("--label", default="flyer")
    a = ap.parse_args()
    workers = {
        "floor": lambda: case_floor(sim_bars(a.stocks, a.years), a.chunk_rows),
        "flyer-panel": lambda: case_flyer_panel(HOME / f"real{a.qlib_stocks}.parquet", a.compat, a.sample, a.label),
        "qlib-worker": lambda: qlib_worker(HOME / f"qlib{a.qlib_stocks}", a.sample),
    }
    if a.case in workers:
        print(json.dumps(workers[a.case](), default=str))
        return
    if a.case == "sim" and a.stocks:  # one size, three processes
        sizes = [a.stocks]
    else:
        sizes = [int(x) for x in a.sizes.split(",")] if a.case in (None, "sim") else []
    res: dict[str, Any] = {}
    for n in sizes:
        common = ["--stocks", str(n), "--years", str(a.years), "--chunk-rows", str(a.chunk_rows)]
        sim_bars(n, a.years)
        res[f"floor{n}a"] = _sub(["--case", "floor", *common])
        res[f"sim{n}"] = _sub(["--case", "sim-worker", *common])
        res[f"floor{n}b"] = _sub(["--case", "floor", *common])
        if a.compare_python:
            res[f"before{n}"] = _sub(["--case", "sim-worker", *common, "--label", "before"], a.compare_python,
                                     _compare_env())
        summary_sim(res, n)
    if a.case in (None, "real"):
        r = _sub(["--case", "real-worker", "--chunk-rows", str(a.chunk_rows)])
        print("\nreal data: " + (_line(r) + f" (target < {TARGETS['real_s']:.0f} s: {_ok(r['seconds'] < TARGETS['real_s'])})"
                                 if "seconds" in r else str(r.get("skipped") or r.get("error"))))
    if a.case in (None, "qlib"):
        summary_qlib(run_qlib_case(a.qlib_python, a.qlib_stocks, a.compare_python))
    if a.case in (None, "update"):
        u = _sub(["--case", "update-worker", "--stocks", str(a.stocks)])
        print("\n" + (_line(u) + f" (target < {TARGETS['update_s']:.0f} s: {_ok(u['seconds'] < TARGETS['update_s'])})"
                      if "seconds" in u else str(u.get("error"))))


def _worker_cases() -> None:
    """``--case sim-worker|real-worker|update-worker``: the measured flyer processes."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--case")
    ap.add_argument("--stocks", type=int, default=5000)
    ap.add_argument("--years", type=int, default=15)
    ap.add_argument("--chunk-rows", type=int, default=500_000)
    ap.add_argument("--label", default="flyer")
    a, _ = ap.parse_known_args()
    if a.case == "sim-worker":
        out = case_flyer_chunks(sim_bars(a.stocks, a.years), a.chunk_rows, f"{a.label} sim {a.stocks} x {a.years}y")
    elif a.case == "real-worker":
        out = case_flyer_chunks(None, a.chunk_rows, "flyer real (../shared/ashare)")
    else:
        out = case_update(a.stocks)
    print(json.dumps(out, default=str))


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--case" and sys.argv[2].endswith("-worker") and sys.argv[2] != "qlib-worker":
        _worker_cases()
    else:
        main()
