"""DoubleEnsemble on qlib's CSI 500 protocol, per year, beside qlib's published rows.

1. store: ingest ``../shared/ashare`` into ``--home`` once (reused, as ``bench/qlib_parity.py``);
2. train (or reuse: runs are named by config) each ``--models`` kind on Alpha158, CSI 500 point in
   time, qlib's split: train 2010-2014, valid 2015-2016, test 2017-01-01..2020-07-31, no
   retraining, label close[t+2] / close[t+1] - 1 (qlib's); ``dens`` with its defaults (qlib's
   DoubleEnsemble settings for Alpha158, ``flyer.models.double_ensemble.DEFAULTS``);
3. signal per calendar year and overall: IC, ICIR, RankIC, RankICIR (qlib's definitions:
   per-date Pearson / Spearman, mean, mean / std);
4. portfolio under qlib's backtest (``rules="qlib"``: top 50, drop 5, at the close, 1e8 CNY, its
   costs and limit): excess return with cost over CSI 500 (price index), mean daily x 238 per year;
5. qlib's published CSI 500 rows beside them: LightGBM (IC 0.0399, RankIC 0.0482, the target) and
   DoubleEnsemble (IC 0.0380, RankIC 0.0442; its portfolio figures are a copy error in qlib's table).

Usage: ``python bench/dens_csi500.py [--home DIR] [--models dens,lgbm] [--threads 2] [--params JSON]``. Run it under
``flock /tmp/flyer-heavy.lock`` on a shared machine.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
D = dt.date
SPLIT = {"train": (D(2010, 1, 1), D(2014, 12, 31)), "valid": (D(2015, 1, 1), D(2016, 12, 31)),
         "test": (D(2017, 1, 1), D(2020, 7, 31))}
YEAR_DAYS = 238
# qlib's published CSI 500 Alpha158 rows (examples/benchmarks/README.md): IC, ICIR, RankIC, RankICIR, excess
QLIB = {"lgbm": (0.0399, 0.4065, 0.0482, 0.5101, 0.1284), "dens": (0.0380, 0.3659, 0.0442, 0.4324, float("nan"))}
TARGET = "dens at or above qlib's CSI 500 LightGBM row (IC 0.0399, RankIC 0.0482), per year"


def train_run(store: Any, kind: str, home: Path, threads: int, params: dict[str, Any] | None = None) -> Any:
    """The run of ``kind`` on the protocol (reused when ``home`` holds the same config);
    ``params`` override the kind's defaults."""
    from flyer.models.config import make_config
    from flyer.models.pipeline import train

    cfg = make_config(kind, SPLIT["train"], SPLIT["valid"], SPLIT["test"], factors="alpha158", universe="csi500",
                      label_horizon=1, params=params)
    t = time.perf_counter()
    run = train(store, cfg, home=home, threads=threads)
    print(f"{kind}: run {run.id} {'reused' if run.reused else f'trained in {time.perf_counter() - t:.0f} s'}", flush=True)
    return run


def signal_rows(oos: pl.DataFrame) -> list[dict[str, Any]]:
    """IC, ICIR, RankIC, RankICIR per year and overall (``year`` 0) of ``[date, score, label]``."""
    from flyer.models import metrics

    oos = oos.with_columns(pl.col("date").dt.year().alias("year"))
    years = sorted(oos["year"].unique().to_list())
    rows = [{"year": y, **metrics.summary(oos.filter(pl.col("year") == y), target=None)} for y in years]
    return rows + [{"year": 0, **metrics.summary(oos, target=None)}]


def excess_rows(store: Any, scores: pl.DataFrame) -> dict[int, float]:
    """Excess return with cost (mean daily x 238) per year (0: overall) under qlib's backtest rules."""
    from flyer.backtest.api import run
    from flyer.backtest.config import BacktestConfig

    cfg = BacktestConfig(rules="qlib", k=50, n_drop=5, deal_price="close", capital=1e8,
                         start=D(2017, 1, 3), end=SPLIT["test"][1], benchmark="000905.SH")
    daily = run(store, scores, cfg).daily().filter(pl.col("date") >= cfg.start)
    daily = daily.with_columns((pl.col("nav") / pl.col("nav").shift(1).fill_null(cfg.capital) - 1
                                - (pl.col("benchmark") / pl.col("benchmark").shift(1) - 1).fill_null(0.0)).alias("x"))
    per = daily.group_by(pl.col("date").dt.year().alias("year")).agg(pl.col("x").mean() * YEAR_DAYS)
    out = {int(r["year"]): float(r["x"]) for r in per.iter_rows(named=True)}
    out[0] = float(daily["x"].mean() * YEAR_DAYS)
    return out


def print_table(kind: str, rows: list[dict[str, Any]], excess: dict[int, float]) -> None:
    q = QLIB.get(kind)
    print(f"\n{kind}: {'year':>6} {'IC':>7} {'ICIR':>6} {'RankIC':>7} {'RkICIR':>7} {'excess':>8}")
    for r in rows:
        year = "all" if r["year"] == 0 else str(r["year"])
        print(f"{'':<{len(kind) + 1}} {year:>6} {r['IC']:>7.4f} {r['ICIR']:>6.3f} {r['RankIC']:>7.4f} "
              f"{r['RankICIR']:>7.3f} {excess.get(r['year'], float('nan')):>8.2%}")
    if q:
        print(f"{'':<{len(kind) + 1}} {'qlib':>6} {q[0]:>7.4f} {q[1]:>6.3f} {q[2]:>7.4f} {q[3]:>7.3f} {q[4]:>8.2%}"
              "   (qlib's published CSI 500 row, 2017-01..2020-08)")


def main() -> None:
    from flyer.data.sources.ashare import find_default_root
    from qlib_parity import open_store

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "flyer-qlib-parity",
                    help="store folder (ingested from --ashare once) and runs")
    ap.add_argument("--ashare", type=Path, default=find_default_root())
    ap.add_argument("--models", default="dens", help="model kinds, e.g. dens,lgbm")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--params", type=json.loads, default=None,
                    help='JSON overrides of every model\'s parameters, e.g. \'{"learning_rate": 0.05}\'')
    args = ap.parse_args()
    if not (args.ashare / "daily").is_dir():
        print(f"skipped: real data folder {args.ashare} not present")
        return
    store = open_store(args.home, args.ashare)
    lgbm = QLIB["lgbm"]
    for kind in [k.strip() for k in args.models.split(",") if k.strip()]:
        run = train_run(store, kind, args.home, args.threads, args.params)
        print(f"  parameters: {dict(run.config.model.params)}")
        rows = signal_rows(run.oos())
        print_table(kind, rows, excess_rows(store, run.predictions()))
        if kind == "dens":
            print(f"\ntarget: {TARGET}")
            for r in rows:
                ok = r["IC"] >= lgbm[0] and r["RankIC"] >= lgbm[2]
                print(f"  {'all' if r['year'] == 0 else r['year']}: IC {r['IC']:.4f}, RankIC {r['RankIC']:.4f} "
                      f"-> {'met' if ok else 'missed'}")
            for f in run.metrics.get("folds", []):
                for i, s in enumerate(f["info"].get("sub_models", [])):
                    print(f"  sub-model {i + 1}: {s['features']} features, {s['rounds']} rounds, valid IC "
                          f"{s['valid_ic']:.4f}, sample weights {s['weight_min']:.2f}..{s['weight_max']:.2f}")


if __name__ == "__main__":
    main()
