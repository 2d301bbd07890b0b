"""Real-data research benchmark: Alpha158 on CSI 500 point in time, four models, two protocols.

1. ingest ``../shared/ashare`` into a store once (``--home``, reused when it already holds one);
   skipped with a message when the folder is absent;
2. per protocol, train (or reuse) LightGBM, linear, MLP on Alpha158 with the project's own API
   (``flyer.models.pipeline.train``; runs land in ``--home``/runs and are reused), and their
   ensemble (``flyer.models.ensemble.train_ensemble``, ``--combine`` rank or ic):
   (a) qlib's protocol: train 2010-2014, valid 2015-2016, test 2017-01-01..2020-07-31, no
       retraining;
   (b) walk-forward 2017-2024 (rolling windows of the same lengths, retrained every
       ``--retrain-months``; 12 by default: 8 folds instead of 16, to fit the shared machine);
3. backtests: top 50, drop 5, at the close and at the next open (flyer's A-share rules and costs:
   commission 0.025 % with 5 CNY minimum, dated stamp duty, transfer fee);
4. prints one table per protocol (IC, ICIR, RankIC, RankICIR, excess arithmetic and geometric,
   IR, TE, turnover, cost drag) with qlib's published row beside it, then the per-year table of
   each model at the close; years after 2022-01-14 are marked ``*`` (survivor-biased: the qlib
   extension lacks most stocks delisted since); then the targets of the ensemble on (b).

Usage: ``python bench/research_csi500.py [--home DIR] [--ashare PATH] [--protocols a,b]
[--models lgbm,linear,mlp] [--threads 2] [--mlp-epochs 10] [--combine ic]``. Run it under ``flock /tmp/flyer-heavy.lock``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ASHARE = Path(os.environ.get("FLYER_SHARED_ASHARE") or REPO.parent / "shared" / "ashare")
D = dt.date
SURVIVOR_FROM = D(2022, 1, 14)
PROTOCOLS = {
    "a": dict(train=(D(2010, 1, 1), D(2014, 12, 31)), valid=(D(2015, 1, 1), D(2016, 12, 31)),
              test=(D(2017, 1, 1), D(2020, 7, 31)), walk_forward=False),
    "b": dict(train=(D(2010, 1, 1), D(2014, 12, 31)), valid=(D(2015, 1, 1), D(2016, 12, 31)),
              test=(D(2017, 1, 1), D(2024, 12, 31)), walk_forward=True),
}
# qlib's published CSI 500 Alpha158 rows (examples/benchmarks/README.md, test 2017-2020-08):
# IC, ICIR, RankIC, RankICIR, annualised excess (arithmetic, with cost), IR
QLIB = {"lgbm": (0.0399, 0.4065, 0.0482, 0.5101, 0.1284, 1.5650),
        "linear": (0.0332, 0.3044, 0.0462, 0.4326, float("nan"), float("nan")),  # its portfolio row is a copy error
        "mlp": (0.0229, 0.2181, 0.0360, 0.3409, 0.0043, 0.0602)}
TARGETS = "ensemble on (b): RankIC >= 0.05 every year 2017-2021 and >= 0.045 overall; excess >= 8 %/yr, IR >= 1.2"


def open_store(home: Path, ashare: Path):  # noqa: ANN201 - MarketStore
    from flyer.data.sources import ingest, make_source
    from flyer.data.store import MarketStore

    if (home / "market.duckdb").exists():
        store = MarketStore.open(home, read_only=True)
        if store.calendar().len():
            print(f"store: reusing {home}", flush=True)
            return store
        store.close()
    t = time.perf_counter()
    with MarketStore.open(home) as store:
        rep = ingest(store, make_source("ashare", path=str(ashare)))
    print(f"store: ingested ../shared/ashare in {time.perf_counter() - t:.0f} s ({rep.written.get('bars', 0):,} bars)")
    return MarketStore.open(home, read_only=True)


def configs(protocol: str, models: list[str], args: argparse.Namespace) -> list[Any]:
    from flyer.models.config import make_config

    p = PROTOCOLS[protocol]
    out = []
    for kind in models:
        params = {"epochs": args.mlp_epochs} if kind == "mlp" else None
        out.append(make_config(kind, p["train"], p["valid"], p["test"], params=params, factors="alpha158",
                               universe="csi500", walk_forward=p["walk_forward"], retrain_months=args.retrain_months))
    return out


def train_all(store, protocol: str, args: argparse.Namespace) -> dict[str, Any]:  # noqa: ANN001
    """{name: (scores [date, symbol, score], oos with labels, info)} for every model and the ensemble."""
    import json

    import polars as pl

    from flyer.models.ensemble import train_ensemble

    t = time.perf_counter()
    log = (lambda m: print(f"  {m}", flush=True)) if args.verbose else None
    path, runs = train_ensemble(store, configs(protocol, args.models, args), args.home, args.combine,
                                args.threads, log)
    print(f"({protocol}) trained/reused {len(runs)} members + ensemble in {time.perf_counter() - t:.0f} s", flush=True)
    out = {}
    for r in runs:
        trees = [f.get("info", {}).get("best_iteration") for f in r.metrics.get("folds", [])]
        out[r.config.model.kind] = (r.predictions(), r.oos(), {"id": r.id, "trees": trees,
                                                               "warnings": r.metrics.get("warnings", []),
                                                               "seconds": r.meta.get("seconds")})
    labels = runs[0].oos().select("date", "symbol", "label")
    ens = pl.read_parquet(path / "predictions.parquet")
    met = json.loads((path / "metrics.json").read_text())
    out["ensemble"] = (ens, ens.join(labels, on=["date", "symbol"], how="left"),
                       {"id": path.name, "weights": met.get("weights"), "warnings": met.get("warnings", [])})
    return out


def backtests(store, scores, end: dt.date) -> dict[str, Any]:  # noqa: ANN001
    from flyer.backtest.api import run
    from flyer.backtest.config import BacktestConfig

    out = {}
    for deal in ("close", "open"):
        cfg = BacktestConfig(k=50, n_drop=5, deal_price=deal, benchmark="000905.SH", end=end)
        out[deal] = run(store, scores, cfg)
    return out


def signal(frame) -> dict[str, float]:  # noqa: ANN001
    from flyer.models import metrics

    return metrics.summary(frame, target=None)


def overall_table(protocol: str, trained: dict, results: dict) -> None:
    head = (f"{'model':<9} {'exec':<5} {'IC':>7} {'ICIR':>6} {'RankIC':>7} {'RkICIR':>6} {'exc ar':>7} "
            f"{'exc geo':>7} {'IR':>5} {'TE':>6} {'turn':>5} {'cost':>6}")
    print(f"\n=== protocol ({protocol}) {describe(protocol)}: overall ===\n{head}")
    for name, (_, oos, _info) in trained.items():
        s = signal(oos)
        for deal, res in results[name].items():
            m = res.metrics()
            print(f"{name:<9} {deal:<5} {s['IC']:>7.4f} {s['ICIR']:>6.3f} {s['RankIC']:>7.4f} {s['RankICIR']:>6.3f} "
                  f"{m['excess_annual_return_arith']:>7.2%} {m['excess_annual_return']:>7.2%} "
                  f"{m['information_ratio']:>5.2f} {m['tracking_error']:>6.2%} {m['annual_turnover']:>5.1f} "
                  f"{m['cost_drag']:>6.2%}")
        if name in QLIB:
            q = QLIB[name]
            print(f"{'qlib pub':<9} {'close':<5} {q[0]:>7.4f} {q[1]:>6.3f} {q[2]:>7.4f} {q[3]:>6.3f} {q[4]:>7.2%} "
                  f"{'':>7} {q[5]:>5.2f}   (qlib's published {name}, 2017-01..2020-08, mean x 238, its rules)")
    first = next(iter(results.values()))["close"]
    print(f"benchmark: {first.benchmark_name}; {first.context.run.benchmark_tr_name or 'no TR estimate'}; "
          f"trading days per year from the calendar ({first.metrics()['days_per_year']:.1f} over the test)")


def yearly_table(trained: dict, results: dict) -> None:
    import polars as pl

    print(f"\n{'model':<9} {'year':<6} {'IC':>7} {'RankIC':>7} {'ret':>7} {'bench':>7} {'exc ar':>7} {'exc geo':>7} "
          f"{'open ar':>7}   (* after 2022-01-14: survivor-biased)")
    for name, (_, oos, _info) in trained.items():
        ic = oos.with_columns(pl.col("date").dt.year().alias("year"))
        close = results[name]["close"].yearly().to_dicts()
        opened = {r["year"]: r for r in results[name]["open"].yearly().to_dicts()}
        for y in close:
            s = signal(ic.filter(pl.col("year") == y["year"]))
            mark = "*" if y["year"] >= SURVIVOR_FROM.year else " "
            o = opened.get(y["year"], {}).get("excess_arith", float("nan"))
            print(f"{name:<9} {y['year']}{mark} {s['IC']:>7.4f} {s['RankIC']:>7.4f} {y['return']:>7.2%} "
                  f"{y['benchmark_return']:>7.2%} {y['excess_arith']:>7.2%} {y['excess']:>7.2%} {o:>7.2%}")


def describe(protocol: str) -> str:
    p = PROTOCOLS[protocol]
    wf = "walk-forward" if p["walk_forward"] else "no retraining"
    return f"train {p['train'][0]}..{p['train'][1]}, valid {p['valid'][0]}..{p['valid'][1]}, test {p['test'][0]}..{p['test'][1]}, {wf}"


def targets(trained: dict, results: dict) -> None:
    import polars as pl

    oos = trained["ensemble"][1].with_columns(pl.col("date").dt.year().alias("year"))
    years = {y: signal(oos.filter(pl.col("year") == y))["RankIC"] for y in range(2017, 2022)}
    m = results["ensemble"]["close"].metrics()
    overall = signal(oos)["RankIC"]
    print(f"\ntargets ({TARGETS}):")
    print("  RankIC per year 2017-2021: " + ", ".join(f"{y} {v:.4f}{'' if v >= 0.05 else ' (miss)'}" for y, v in years.items()))
    print(f"  RankIC overall {overall:.4f} ({'met' if overall >= 0.045 else 'missed'}); excess (close, geometric) "
          f"{m['excess_annual_return']:.2%} / arithmetic {m['excess_annual_return_arith']:.2%} "
          f"({'met' if m['excess_annual_return'] >= 0.08 else 'missed'}); IR {m['information_ratio']:.2f} "
          f"({'met' if m['information_ratio'] >= 1.2 else 'missed'})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "flyer_research_csi500",
                    help="flyer home: the store and the runs (reused; default under the temp folder, so "
                         "`make bench` runs it without arguments)")
    ap.add_argument("--protocols", default="a,b")
    ap.add_argument("--models", default="lgbm,linear,mlp")
    ap.add_argument("--combine", default="ic", help="ensemble weights: rank | ic")
    ap.add_argument("--retrain-months", type=int, default=12)
    ap.add_argument("--mlp-epochs", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--ashare", type=Path, default=ASHARE, help="the staged real data (../shared/ashare)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    if not (args.ashare / "daily").is_dir():
        print(f"skipped: real data folder {args.ashare} not present")
        return
    args.home.mkdir(parents=True, exist_ok=True)
    store = open_store(args.home, args.ashare)
    for protocol in [p.strip() for p in args.protocols.split(",") if p.strip()]:
        trained = train_all(store, protocol, args)
        end = PROTOCOLS[protocol]["test"][1]
        t = time.perf_counter()
        results = {name: backtests(store, scores, end) for name, (scores, _, _) in trained.items()}
        print(f"({protocol}) backtests in {time.perf_counter() - t:.0f} s", flush=True)
        for name, (_, _, info) in trained.items():
            extra = f"trees per fold {info['trees']}" if info.get("trees") and info["trees"][0] is not None else ""
            extra += f"weights per fold {info['weights']}" if info.get("weights") else ""
            print(f"{name}: run {info['id']} {extra}" + "".join(f"\n  WARNING {w}" for w in info["warnings"]))
        overall_table(protocol, trained, results)
        yearly_table(trained, results)
        for note in results["ensemble"]["close"].diagnostics.notes:
            print(f"note (ensemble, close): {note}")
        if protocol == "b" and "ensemble" in trained:
            targets(trained, results)


if __name__ == "__main__":
    main()
