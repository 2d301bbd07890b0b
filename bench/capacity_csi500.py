"""Capacity and stress of the real-data CSI 500 LightGBM top-50 strategy (issue 16 acceptance).

Builds a store from ``../shared/ashare`` once (under ``--home``), takes the out-of-sample
predictions of a LightGBM Alpha158 CSI 500 walk-forward run over 2017-2024 (``--scores``: a
run's ``predictions.parquet``; or ``--train`` to train one into ``--home``), and prints:
  1. the top-50 / dropout-5 backtest (open deals, 1e7 CNY) before and after volume-limited
     execution: unlimited, the default 10 % participation, 10 % + square-root impact; per year;
  2. the capacity curve at 1e7 ... 1e10 CNY (one engine call; 10 % participation, impact
     sqrt k=1) and the AUM at which excess return halves;
  3. the stress-window and regime tables of the 1e8 CNY level;
  4. engine seconds with and without the limits (wall, this shared box).
Real data after 2022-01-14 is survivor-biased (SOURCE.md): those years are marked.

    flock /tmp/flyer-heavy.lock .venv/bin/python bench/capacity_csi500.py --home /tmp/capacity_real \\
        --scores /path/to/runs/<id>/predictions.parquet
"""
from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flyer.backtest import execution, stress  # noqa: E402
from flyer.backtest.api import execute, prepare  # noqa: E402
from flyer.backtest.capacity import DEFAULT_CAPITALS, capacity_curve  # noqa: E402
from flyer.backtest.config import BacktestConfig  # noqa: E402
from flyer.data.sources.ashare import find_default_root  # noqa: E402
from flyer.data.store import MarketStore  # noqa: E402

SURVIVOR_FROM = dt.date(2022, 1, 14)
BASE = BacktestConfig(k=50, n_drop=5, deal_price="open", capital=1e7, start=dt.date(2017, 1, 3),
                      end=dt.date(2024, 12, 31))


def show(df: pl.DataFrame) -> None:
    """Print a whole table (every column, 4 decimals)."""
    with pl.Config(tbl_cols=-1, tbl_width_chars=400, tbl_rows=-1, float_precision=4, fmt_str_lengths=40,
                   tbl_hide_dataframe_shape=True, tbl_hide_column_data_types=True):
        print(df)


def store_at(home: Path) -> MarketStore:
    """The real-data store under ``home`` (ingested on first use)."""
    from flyer.data.sources import ingest, make_source

    home.mkdir(parents=True, exist_ok=True)
    fresh = not (home / "market.duckdb").exists()
    store = MarketStore.open(home)
    if fresh:
        t = time.perf_counter()
        ingest(store, make_source("ashare", path=str(find_default_root())))
        print(f"ingested {find_default_root()} in {time.perf_counter() - t:.0f} s")
    return store


def train(store: MarketStore, home: Path) -> pl.DataFrame:
    """LightGBM on Alpha158, CSI 500, 5-day label, walk-forward 2017-2024 (yearly retrain)."""
    from flyer import models

    cfg = models.make_config("lgbm", ("2011-01-01", "2015-06-30"), ("2015-07-01", "2016-12-31"),
                             ("2017-01-01", "2024-12-31"), walk_forward=True, retrain_months=12,
                             factors="alpha158", universe="csi500", label_horizon=5)
    run = models.train(store, cfg, home=home)
    print(f"run {run.id} ({'reused' if run.reused else 'trained'}): test {run.metrics.get('test')}")
    return run.predictions()


def per_year(res) -> pl.DataFrame:
    y = res.yearly().with_columns(pl.when(pl.col("year") >= SURVIVOR_FROM.year).then(pl.lit("survivor-biased"))
                                  .otherwise(pl.lit("")).alias("data"))
    return y


def before_after(store: MarketStore, scores: pl.DataFrame) -> None:
    settings = {"unlimited (before)": dict(participation=0.0), "10 % participation (new default)": {},
                "10 % + sqrt impact k=1": dict(impact="sqrt")}
    prep = prepare(store, scores, BASE)
    t = time.perf_counter()
    results = execute(prep, [prep.config.replace(**s) for s in settings.values()])
    print(f"\n1. top-50 dropout-5 at 1e7 CNY, {prep.market.shape[0]} days x {prep.market.shape[1]} symbols, "
          f"benchmark {results[0].benchmark_name}; 3 settings in one engine call {time.perf_counter() - t:.2f} s")
    rows = []
    for name, res in zip(settings, results):
        m, ex = res.metrics(), execution.summary(res)
        rows.append({"setting": name, **{k: m[k] for k in ("annual_return", "excess_annual_return",
                                                            "information_ratio", "excess_max_drawdown",
                                                            "annual_turnover", "cost_drag")},
                     **{k: ex[k] for k in ("impact_drag", "fill_rate", "avg_participation", "unfilled_days",
                                           "capped_orders", "unpriced_fills")}})
    show(pl.DataFrame(rows))
    for name, res in zip(settings, results):
        print(f"per year, {name}:")
        show(per_year(res))


def capacity(store: MarketStore, scores: pl.DataFrame, k: float = 1.0):
    t = time.perf_counter()
    cap = capacity_curve(store, scores, BASE.replace(impact="sqrt", impact_k=k), DEFAULT_CAPITALS)
    print(f"\n2. capacity curve (10 % participation, rest carried, sqrt impact k={k}), "
          f"{len(DEFAULT_CAPITALS)} levels in one engine call: {time.perf_counter() - t:.1f} s (incl. prepare)")
    show(cap.table)
    half = f"{cap.half_aum:,.0f} CNY" if cap.half_aum is not None else "not reached"
    print(f"AUM at half excess return: {half} ({cap.note})")
    return cap


def stress_tables(store: MarketStore, cap) -> None:
    for level in (1e7, 1e8):
        res = cap.results[DEFAULT_CAPITALS.index(level)]
        table = stress.window_table(res, store)
        print(f"\n3. stress windows at {level:,.0f} CNY ({res.benchmark_name}):")
        show(table.drop("note"))
        for row in table.filter(pl.col("note") != "").iter_rows(named=True):
            print(f"   {row['window']}: {row['note']}")
        print(f"regimes at {level:,.0f} CNY:")
        show(stress.regime_table(res))


def engine_seconds(store: MarketStore, scores: pl.DataFrame) -> None:
    prep = prepare(store, scores, BASE)
    for name, cfg in (("unlimited", prep.config.replace(participation=0.0)),
                      ("10 % + impact", prep.config.replace(impact="sqrt"))):
        execute(prep, [cfg])
        best = min(_timed(lambda: execute(prep, [cfg])) for _ in range(3))
        print(f"4. engine {name:<14} {best:.2f} s (min of 3)")


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=Path("/tmp/capacity_real"))
    ap.add_argument("--scores", type=Path, help="predictions.parquet of a LightGBM Alpha158 CSI 500 walk-forward run")
    ap.add_argument("--train", action="store_true", help="train the run into --home instead")
    args = ap.parse_args()
    store = store_at(args.home)
    scores = pl.read_parquet(args.scores) if args.scores else train(store, args.home)
    scores = scores.select("date", "symbol", "score")
    print(f"scores: {scores.height:,} rows, {scores['date'].min()}..{scores['date'].max()}, "
          f"{scores['symbol'].n_unique()} symbols")
    before_after(store, scores)
    cap = capacity(store, scores)
    stress_tables(store, cap)
    capacity(store, scores, k=0.5)       # sensitivity: the low end of the prefactor's estimates
    engine_seconds(store, scores)
    store.close()


if __name__ == "__main__":
    main()
