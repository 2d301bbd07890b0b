"""Research-loop benchmark on the real data: factor evaluation and walk-forward LightGBM.

Cases, each in a fresh subprocess (its own peak RSS), on the real CSI 500 point-in-time universe:
  * ``eval``: ``flyer factors eval --set alpha158 --universe csi500`` through its function
    (``flyer.factors.pipeline.evaluate``): the 158 values computed from the store (an empty
    home: each half-year computed for its members only), forward returns, then IC / RankIC per
    horizon, quantile, top-excess, turnover and rank-autocorrelation tables of every factor,
    streamed date by date in one numba pass per factor group (``evaluation.evaluate_set``);
  * ``walkforward``: LightGBM on Alpha158, train 2010-2014, valid 2015-2016, test 2017-2024,
    retrained every 6 months (16 folds; ``flyer.models.pipeline.load_inputs`` + ``fit_folds``):
    features computed once for every fold, float32, the unprocessed panel shared by the folds.
The 20-point backtest sweep is in ``bench/backtest.py``. Targets: eval <= 45 s and <= 3 GB
(issue 25); walk-forward < 4 min and < 4 GB (issue 13). The store is ingested once under
``$FLYER_BENCH_HOME/real`` (default ``/tmp/flyer_bench_backtest``, shared with bench/backtest.py),
in its own process before the measured ones. Without ../shared/ashare every case says so.

Before issue 13 (from the issue, 2 cores): eval 5 min 41 s and 8.0 GB; walk-forward 16 folds
9 min 22 s and 7.4 GB (features recomputed per fold, float64). Before issue 25 (main, measured by
the audit): eval 305 s wall, 508 s CPU, 5.16 GB (one polars frame per factor).

Usage: ``python bench/research.py [--case eval|walkforward] [--threads 2]``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:  # the installed flyer of the running interpreter; this checkout only when none is installed
    import flyer  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ROOT = Path(os.environ.get("FLYER_BENCH_HOME", "/tmp/flyer_bench_backtest"))
D = dt.date
TARGETS = {"eval_s": 45.0, "eval_gb": 3.0, "wf_s": 240.0, "wf_gb": 4.0}


def _peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def open_store():
    from flyer.data.sources.ashare import find_default_root
    from flyer.data.store import MarketStore

    path = ROOT / "real"
    if not (path / "market.duckdb").exists():
        shared = find_default_root()
        if not (shared / "SOURCE.md").exists():
            return None
        from flyer.data.sources import ingest, make_source

        with MarketStore.open(path) as store:
            ingest(store, make_source("ashare", path=str(shared)))
    return MarketStore.open(path, read_only=True)


def _hwm_gb() -> float:
    """This process's peak resident memory (``VmHWM``, not inherited from a parent)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024 ** 2
    return _peak_gb()


def case_eval() -> dict:
    from flyer.factors.pipeline import evaluate

    store = open_store()
    if store is None:
        return {"case": "eval", "skipped": "no real data (../shared/ashare)"}
    with tempfile.TemporaryDirectory(prefix="flyer_bench_eval_") as home:
        t, c = time.perf_counter(), time.process_time()
        evals, values = evaluate(store, home, "alpha158", universe="csi500")
        sec, cpu = time.perf_counter() - t, time.process_time() - c
    return {"case": "eval alpha158 csi500", "factors": len(evals), "rows": values.height, "seconds": round(sec, 1),
            "cpu_s": round(cpu, 1), "peak_rss_gb": round(_hwm_gb(), 2)}


def case_walkforward(threads: int) -> dict:
    from flyer.models.config import make_config
    from flyer.models.pipeline import fit_folds, fold_metrics, load_inputs

    store = open_store()
    if store is None:
        return {"case": "walkforward", "skipped": "no real data (../shared/ashare)"}
    cfg = make_config("lgbm", (D(2010, 1, 1), D(2014, 12, 31)), (D(2015, 1, 1), D(2016, 12, 31)),
                      (D(2017, 1, 1), D(2024, 12, 31)), factors="alpha158", universe="csi500",
                      walk_forward=True, retrain_months=6)
    t, c = time.perf_counter(), time.process_time()
    inputs = load_inputs(store, cfg, cfg.split.train[0], cfg.split.test[1])
    feat_s = time.perf_counter() - t
    _, results = fit_folds(inputs, cfg, threads=threads)
    sec, cpu = time.perf_counter() - t, time.process_time() - c
    m = fold_metrics(results)["test"]
    return {"case": "walk-forward lgbm alpha158 csi500", "folds": len(results), "rows": inputs.features.height,
            "features_s": round(feat_s, 1), "seconds": round(sec, 1), "cpu_s": round(cpu, 1),
            "peak_rss_gb": round(_peak_gb(), 2), "test_rank_ic": round(float(m["RankIC"]), 4),
            "best_iterations": [r.learner.info.get("best_iteration") for r in results]}


def _ok(ok: bool) -> str:
    return "met" if ok else "MISSED"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", choices=["eval", "walkforward", "ingest"])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    if a.case == "ingest":
        print(json.dumps({"store": open_store() is not None}))
        return
    if a.case:
        out = case_eval() if a.case == "eval" else case_walkforward(a.threads)
        print(json.dumps(out, default=str))
        return
    subprocess.run([sys.executable, __file__, "--case", "ingest"], check=False, capture_output=True, text=True)
    res = {}
    for case in ("eval", "walkforward"):
        r = subprocess.run([sys.executable, __file__, "--case", case, "--threads", str(a.threads)],
                           capture_output=True, text=True)
        lines = r.stdout.strip().splitlines()
        res[case] = json.loads(lines[-1]) if lines else {"case": case, "error": (r.stderr.strip().splitlines() or ["?"])[-1]}
        print(json.dumps(res[case], default=str), flush=True)
    e, w = res["eval"], res["walkforward"]
    print("\nResearch loop on the real data (CSI 500), 2-core targets:")
    if "seconds" in e:
        print(f"  factor eval, 158 factors: {e['seconds']:.0f} s wall, {e['cpu_s']:.0f} s cpu (target <= "
              f"{TARGETS['eval_s']:.0f} s: {_ok(e['seconds'] <= TARGETS['eval_s'])}), peak {e['peak_rss_gb']:.2f} GB "
              f"(target <= {TARGETS['eval_gb']:.0f}: {_ok(e['peak_rss_gb'] <= TARGETS['eval_gb'])}); before issue 25: "
              "305 s wall, 508 s cpu, 5.16 GB")
    if "seconds" in w:
        print(f"  walk-forward LightGBM, {w['folds']} folds: {w['seconds']:.0f} s wall, {w['cpu_s']:.0f} s cpu "
              f"(features {w['features_s']:.0f} s; target < {TARGETS['wf_s']:.0f} s: {_ok(w['seconds'] < TARGETS['wf_s'])}), "
              f"peak {w['peak_rss_gb']:.2f} GB (target < {TARGETS['wf_gb']:.0f}: {_ok(w['peak_rss_gb'] < TARGETS['wf_gb'])})")
    for k, v in res.items():
        if "skipped" in v or "error" in v:
            print(f"  {k}: {v.get('skipped') or v.get('error')}")


if __name__ == "__main__":
    main()
