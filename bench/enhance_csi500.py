"""CSI 500 index enhancement on the real data (``../shared/ashare``): benchmark weights, risk
model, stacked alpha, the optimiser against top-k dropout. Prints figures with their targets.

1. store: ingest ``../shared/ashare`` once (``--home``, reused when it holds a store);
2. benchmark weights (``flyer.risk.benchmark``): the estimate against the two real CSI 500
   weight snapshots (2022-07-29, 2022-08-31) and the weighted members' daily return against
   000905.SH per year (TE; the mean gap is about the dividend yield: 000905 is a price index);
3. risk model (``flyer.risk``), estimation universe CSI 800 (000300 + 000905 members): build
   seconds (target: well under a minute for 2010-2026), R^2 by year, bias statistics of 50
   random 50-stock portfolios per year;
4. alpha: LightGBM on Alpha158, CSI 500 point in time, walk-forward 2017-2024 (yearly refits,
   rolling 4.5-year train, 1.5-year valid) at label horizons 1, 5 and 20 days, blended on the
   validation periods (``flyer.models.blend``), each source's contribution;
5. backtests 2017-01-03 .. 2024-12-31 on the blended scores, costs as the backtester charges
   them: ``enhance`` (TE target 5 %, rebalanced every ``--every`` score days) and top-k dropout
   (k 50, n_drop 5, same rebalancing); attribution of both (predicted TE, bias);
6. the table per year and overall: excess over 000905.SH (arithmetic = return - benchmark
   return, geometric = (1 + r) / (1 + b) - 1; and geometric over the weighted members' total
   return, a total-return stand-in since the store has no H00905), realised TE (std of daily excess x sqrt(days per
   year)), predicted TE, IR (mean daily excess x days / TE), excess max drawdown, one-way
   turnover, share of weight in index members. Years from 2022 are survivor-biased (the data
   after 2022-01-14 holds only stocks that survived to 2026, and no caps: carried).
Targets: realised TE <= 5 %, IR >= 1.5 (goal > 2), excess drawdown below top-k's at a similar
excess. Usage: ``flock /tmp/flyer-heavy.lock python bench/enhance_csi500.py [--home DIR]``.
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from flyer.data.sources.ashare import find_default_root  # noqa: E402

ASHARE = find_default_root()   # $FLYER_SHARED_ASHARE or shared/ashare above the checkout; --ashare overrides
D = dt.date
TRAIN, VALID, TEST = (D(2011, 1, 1), D(2015, 6, 30)), (D(2015, 7, 1), D(2016, 12, 31)), (D(2017, 1, 1), D(2024, 12, 31))
HORIZONS = (1, 5, 20)
SURVIVOR = 2022
CSI800 = "000300.SH+000905.SH"
SNAPSHOTS = (("csi500_weights_20220729.csv", D(2022, 7, 29)), ("csi500_weights_20220831.csv", D(2022, 8, 31)))


def open_store(home: Path):
    from flyer.data.sources import ingest, make_source
    from flyer.data.store import MarketStore

    if not (home / "market.duckdb").exists():
        t = time.perf_counter()
        with MarketStore.open(home) as store:
            rep = ingest(store, make_source("ashare", path=str(ASHARE)))
        print(f"store: ingested {ASHARE} in {time.perf_counter() - t:.0f} s ({rep.written.get('bars', 0):,} bars)")
    else:
        print(f"store: reusing {home}")
    return MarketStore.open(home, read_only=True)


def show(df: pl.DataFrame, title: str) -> None:
    print(f"\n{title}")
    with pl.Config(tbl_rows=60, tbl_cols=30, tbl_width_chars=220, float_precision=4, tbl_hide_dataframe_shape=True):
        print(df)


def bench_weights(store) -> None:
    """Step 2."""
    from flyer.data.symbols import normalize
    from flyer.risk.benchmark import benchmark_weights, compare_snapshot, replication

    t = time.perf_counter()
    bw = benchmark_weights(store, "000905.SH", D(2012, 1, 1))
    print(f"\nbenchmark weights: {bw.weights['date'].n_unique():,} days in {time.perf_counter() - t:.1f} s")
    for note in bw.notes:
        print(f"  note: {note}")
    for name, day in SNAPSHOTS:
        raw = pl.read_csv(ASHARE / "constituents" / "weights" / name, infer_schema=False)
        snap = raw.select(pl.col("成分券代码").str.zfill(6).map_elements(normalize, return_dtype=pl.Utf8).alias("symbol"),
                          pl.col("权重").cast(pl.Float64).alias("weight"))
        f = compare_snapshot(bw.weights, snap, day)
        print(f"  vs real snapshot {day}: names in both {f['names_common']:.0f} (estimate only {f['names_est_only']:.0f}, "
              f"real only {f['names_real_only']:.0f}), weight corr {f['corr']:.3f}, sum |diff| {f['sum_abs_diff']:.3f}, "
              f"max |diff| {f['max_abs_diff']:.4f}")
    rep = replication(bw.weights, store, "000905.SH").with_columns(
        (pl.col("year") >= SURVIVOR).alias("survivor_biased"))
    show(rep, "weighted members (total return) vs 000905.SH (price index), per year; target TE < 2 % where caps exist")


def bench_risk(store, home: Path):
    """Step 3; returns the risk config."""
    from flyer.risk import storage, validation
    from flyer.risk.config import RiskConfig
    from flyer.risk.model import build

    cfg = RiskConfig(estimation_universe=CSI800)
    t = time.perf_counter()
    res = storage.update(store, home, cfg)
    print(f"\nrisk model {res.key} ({res.mode}): {res.first}..{res.last}, {res.dates_added:,} dates in "
          f"{time.perf_counter() - t:.1f} s (build + storage; a first run in a process also JIT-compiles "
          "the numba kernels unless their cache is warm)")
    t = time.perf_counter()
    model = build(store, cfg)
    print(f"  full build in memory, kernels compiled: {time.perf_counter() - t:.1f} s for {len(model.dates):,} dates x "
          f"{len(model.symbols):,} stocks x {len(model.factors)} factors (target: well under 60 s on 2 cores; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    model = storage.load(home, cfg)
    for note in model.notes:
        print(f"  note: {note}")
    show(validation.r2_by_year(model), "cross-sectional R^2 by year (daily means; uncentred = Barra convention)")
    z, _ = validation.portfolio_bias(model, validation.random_portfolios(model, size=50, n=50), 50)
    show(validation.bias_table(z, list(model.dates), "random 50 x 50"),
         "bias statistics std(r / sigma_pred), 50 random 50-stock portfolios (ideal 1, band 1 +- sqrt(2/T))")
    fs = validation.factor_summary(model).group_by("factor").agg(
        ((1 + pl.col("return")).product() - 1).alias("total_return"), pl.col("volatility").mean(), pl.col("t_stat").mean().alias("mean_yearly_t"))
    show(fs.sort("factor"), "style factor returns 2012-2026 (sanity look)")
    return cfg


def train_runs(store, home: Path, threads: int) -> list:
    """Step 4's models (reused when the same config was trained in ``home``)."""
    from flyer.models.config import make_config
    from flyer.models.pipeline import train

    runs = []
    for h in HORIZONS:
        cfg = make_config("lgbm", TRAIN, VALID, TEST, factors="alpha158", universe="csi500", label_horizon=h,
                          walk_forward=True, retrain_months=12)
        t = time.perf_counter()
        run = train(store, cfg, home=home, threads=threads)
        m = run.metrics.get("test", {})
        print(f"run h={h}: {run.id} ({'reused' if getattr(run, 'reused', False) else 'trained'} in "
              f"{time.perf_counter() - t:.0f} s) test IC {m.get('IC', float('nan')):.4f} "
              f"RankIC {m.get('RankIC', float('nan')):.4f} ICIR {m.get('ICIR', float('nan')):.3f}")
        runs.append(run)
    return runs


def member_share(store, res) -> pl.DataFrame:
    """[date, member_share] share of the portfolio's value in 000905.SH members at each close."""
    mem = store.membership("000905.SH", res.dates[0], res.dates[-1]).select("date", "symbol")
    pos = res.positions()
    inside = pos.join(mem, on=["date", "symbol"], how="semi").group_by("date").agg(pl.col("value").sum().alias("m"))
    total = pos.group_by("date").agg(pl.col("value").sum().alias("v"))
    return total.join(inside, on="date", how="left").select(
        "date", (pl.col("m").fill_null(0.0) / pl.col("v")).alias("member_share"))


def table(res, att, share: pl.DataFrame, ppy: float) -> pl.DataFrame:
    """Step 6 for one backtest: per year and overall."""
    daily = res.daily().select("date", "nav", "benchmark", "turnover")
    df = (daily.with_columns((pl.col("nav") / pl.col("nav").shift(1) - 1).alias("r"),
                             (pl.col("benchmark") / pl.col("benchmark").shift(1) - 1).alias("b"))
          .drop_nulls("r").join(att.daily.select("date", "predicted_te", "replica_return"), on="date", how="left")
          .join(share, on="date", how="left").with_columns(pl.col("date").dt.year().cast(pl.Utf8).alias("year")))
    rows = [_row(g, y, ppy) for (y,), g in df.group_by("year", maintain_order=True)]
    rows.append(_row(df, "all", ppy))
    return pl.DataFrame(rows)


def _row(g: pl.DataFrame, year: str, ppy: float) -> dict:
    r, b = g["r"].to_numpy(), g["b"].to_numpy()
    e = r - b
    years = len(r) / ppy
    rp, rb = np.prod(1 + r) ** (1 / years) - 1, np.prod(1 + b) ** (1 / years) - 1
    curve = np.cumprod(1 + r) / np.cumprod(1 + b)
    te = float(np.std(e, ddof=1) * np.sqrt(ppy))
    rr = np.prod(1 + np.nan_to_num(g["replica_return"].to_numpy())) ** (1 / years) - 1
    return {"year": year, "excess_arith": rp - rb, "excess_geo": (1 + rp) / (1 + rb) - 1,
            "excess_vs_replica": (1 + rp) / (1 + rr) - 1, "realised_te": te,
            "predicted_te": float(g["predicted_te"].mean()), "ir": float(np.mean(e) * ppy / te) if te > 0 else np.nan,
            "excess_mdd": float(np.min(curve / np.maximum.accumulate(np.maximum(curve, 1.0)) - 1)),
            "turnover": float(g["turnover"].sum() / years), "member_share": float(g["member_share"].mean()),
            "survivor_biased": year != "all" and int(year) >= SURVIVOR}


def bench_backtests(store, home: Path, scores: pl.DataFrame, risk_cfg, every: int, te: float) -> dict:
    """Step 5-6; returns the overall rows by strategy."""
    from flyer.backtest.api import run
    from flyer.backtest.attribution import attribution_for
    from flyer.backtest.config import BacktestConfig
    from flyer.backtest.enhance_config import EnhanceConfig

    start, end = D(2017, 1, 3), D(2024, 12, 31)
    configs = {
        "enhance": BacktestConfig(strategy="enhance", rebalance_every=every, start=start, end=end,
                                  enhance=EnhanceConfig(te=te, risk=risk_cfg)),
        "topk": BacktestConfig(strategy="topk", k=50, n_drop=5, rebalance_every=every, start=start, end=end,
                               enhance=EnhanceConfig(risk=risk_cfg)),
    }
    out = {}
    for name, cfg in configs.items():
        t = time.perf_counter()
        res = run(store, scores, cfg)
        secs = time.perf_counter() - t
        att = attribution_for(store, res, risk_cfg, home)
        tab = table(res, att, member_share(store, res), att.periods_per_year)
        print(f"\n{name}: backtest {secs:.0f} s; benchmark {res.benchmark_name}")
        if "enhance" in res.meta:
            d = res.meta["enhance"].diagnostics
            print(f"  optimiser: {d.height} rebalances, {d['seconds'].sum():.1f} s solving, predicted TE mean "
                  f"{d['predicted_te'].mean():.2%} max {d['predicted_te'].max():.2%}, turnover/rebalance "
                  f"{d['turnover'].mean():.1%}, member share min {d['member_share'].min():.1%}")
            for note in res.meta["enhance"].notes:
                print(f"  note: {note}")
        show(tab, f"{name}: per year and overall (excess over 000905.SH price index; TE, IR annualised with "
                  f"{att.periods_per_year:.1f} days)")
        show(att.yearly(), f"{name}: attribution per year (arithmetic sums of daily parts; bias = std(excess/pred))")
        out[name] = tab.filter(pl.col("year") == "all").row(0, named=True)
    return out


def verdict(rows: dict) -> None:
    e, k = rows["enhance"], rows["topk"]
    print("\ntargets (overall 2017-2024, years from 2022 survivor-biased):")
    print(f"  realised TE {e['realised_te']:.2%} <= 5 %: {'PASS' if e['realised_te'] <= 0.05 else 'MISS'}")
    print(f"  IR {e['ir']:.2f} >= 1.5 (goal > 2): {'PASS' if e['ir'] >= 1.5 else 'MISS'}")
    print(f"  excess max drawdown {e['excess_mdd']:.2%} vs top-k {k['excess_mdd']:.2%} at excess "
          f"{e['excess_geo']:.2%} vs {k['excess_geo']:.2%}: {'PASS' if e['excess_mdd'] > k['excess_mdd'] else 'MISS'}")


def main() -> int:
    global ASHARE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=None, help="store folder (reused when it holds a store)")
    ap.add_argument("--threads", type=int, default=2, help="LightGBM threads")
    ap.add_argument("--every", type=int, default=5, help="rebalance every n score days")
    ap.add_argument("--te", type=float, default=0.05, help="predicted TE target of the optimiser")
    ap.add_argument("--ashare", type=Path, default=ASHARE, help="the staged real data folder")
    a = ap.parse_args()
    ASHARE = a.ashare
    if not (ASHARE / "daily").is_dir():
        print(f"enhance bench: skipped ({ASHARE} not present)")
        return 0
    tmp = None if a.home else tempfile.TemporaryDirectory(prefix="flyer_enhance_bench_")
    home = a.home or Path(tmp.name)
    home.mkdir(parents=True, exist_ok=True)
    from flyer.models.blend import blend

    with open_store(home) as store:
        bench_weights(store)
        risk_cfg = bench_risk(store, home)
        runs = train_runs(store, home, a.threads)
        mix = blend(runs, target=HORIZONS.index(5))
        show(mix.contributions, "alpha sources: weight (mean over folds), own IC and contribution to the blend's IC "
                                "(5-day label, test period; the blend row = sum)")
        rows = bench_backtests(store, home, mix.scores, risk_cfg, a.every, a.te)
    verdict(rows)
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
