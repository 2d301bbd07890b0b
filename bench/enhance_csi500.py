"""The enhanced CSI 500 product on the real data (``../shared/ashare``) at a fund's size: trade
time, fees, impact, capacity and calibrated risk beside every figure (issue 24).

1. store: ingest ``../shared/ashare`` once (``--home``, reused when it holds a store), with the
   addendum-B data (official delistings, the 2021-07..2023-03 bars of later-delisted names, ST
   names from 2024-06-20): the survivor-biased span starts 2023-03-17;
2. risk model (CSI 800 estimation universe, eigenfactor- and volatility-regime-adjusted): build
   seconds, the bias statistic per year of random and of optimised portfolios;
3. alpha: LightGBM on Alpha158, CSI 500 point in time, walk-forward 2017-2024 (yearly refits) at
   the label horizons ``--horizons`` (blended on the validation periods when several);
4. the enhance strategy (TE target 5 %, rebalanced every ``--every`` score days, 10 %
   participation, square-root impact k = 1 in the engine AND in the optimiser) at 1e8 and 1e9
   CNY, trading at the next open and at the next close, before and after fees (management
   1.0 % + custody 0.15 % a year, accrued daily); excess over 000905.SH (a price index) and over
   the total-return estimate (price index x members' cash dividends);
5. per year at 1e9 CNY, next close, after fees: excess (price and TR), realised TE, the TE the
   risk model predicted for the held book (attribution) and their ratio, IR;
6. the capacity curve of the same strategy (next close, 1e7 ... 1e10 CNY, planned anew at each
   level) and the AUM at which excess halves;
7. the targets and the public anchors (../shared/reference/risk_capacity_mining.md section 5).
Annualisation: the calendar's trading days per year (~243). Survivor-biased years are marked.
Usage: ``flock /tmp/flyer-heavy.lock .venv/bin/python bench/enhance_csi500.py --home DIR``.
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
from flyer.data.sources.ashare import SURVIVOR_FIRST, find_default_root  # noqa: E402

ASHARE = find_default_root()   # $FLYER_SHARED_ASHARE or shared/ashare above the checkout; --ashare overrides
D = dt.date
TRAIN, VALID, TEST = (D(2011, 1, 1), D(2015, 6, 30)), (D(2015, 7, 1), D(2016, 12, 31)), (D(2017, 1, 1), D(2024, 12, 31))
START, END = D(2017, 1, 3), D(2024, 12, 31)
CSI800 = "000300.SH+000905.SH"
FEES = {"management_fee": 0.01, "custody_fee": 0.0015}
LADDER = (1e7, 1e8, 5e8, 1e9, 5e9, 1e10)
ANCHORS = ("public anchors (net of fees, reference section 5): index-enhanced funds averaged about +1.6 %/yr excess in "
           "2023 and +2.3 % in H1 2024 (Wind, 277 funds); the best long-running CSI 500 enhanced fund about +6 %/yr; "
           "contracts cap TE at about 7.75 %/yr; fees about 1.0 % + 0.15 %; managers report CSI 500 enhancement "
           "loses effectiveness above about 2e9 CNY per fund")


def show(df: pl.DataFrame, title: str) -> None:
    print(f"\n{title}", flush=True)
    with pl.Config(tbl_rows=80, tbl_cols=40, tbl_width_chars=260, float_precision=4, tbl_hide_dataframe_shape=True,
                   tbl_hide_column_data_types=True, fmt_str_lengths=60):
        print(df, flush=True)


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


def bench_risk(store, home: Path):
    """Step 2; returns the risk config."""
    from flyer.risk import storage, validation
    from flyer.risk.config import RiskConfig

    cfg = RiskConfig(estimation_universe=CSI800)
    t = time.perf_counter()
    res = storage.update(store, home, cfg)
    print(f"\nrisk model {res.key} ({res.mode}): {res.first}..{res.last}, {res.dates_added:,} dates in "
          f"{time.perf_counter() - t:.1f} s (eigenfactor adjustment {cfg.eigen_sims} sims a = {cfg.eigen_scale}, "
          f"refreshed every {cfg.eigen_every} days; volatility regime half-life {cfg.vra_halflife}; load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    model = storage.load(home, cfg, D(2016, 1, 1), END)
    t = time.perf_counter()
    bias = validation.model_bias(model).pivot(on="portfolios", index="year", values="bias_mean")
    show(bias, f"risk model bias statistic std(r / predicted sigma) per year, 2016-2024, mean of 20 portfolios each "
               f"(ideal 1; {time.perf_counter() - t:.0f} s)")
    return cfg


def alpha(store, home: Path, horizons: tuple[int, ...], threads: int) -> pl.DataFrame:
    """Step 3: the test-period scores [date, symbol, score]."""
    from flyer.models.blend import blend
    from flyer.models.config import make_config
    from flyer.models.pipeline import train

    runs = []
    for h in horizons:
        cfg = make_config("lgbm", TRAIN, VALID, TEST, factors="alpha158", universe="csi500", label_horizon=h,
                          walk_forward=True, retrain_months=12)
        t = time.perf_counter()
        run = train(store, cfg, home=home, threads=threads)
        m = run.metrics.get("test", {})
        print(f"run h={h}: {run.id} ({'reused' if run.reused else 'trained'} in {time.perf_counter() - t:.0f} s) "
              f"test IC {m.get('IC', float('nan')):.4f} RankIC {m.get('RankIC', float('nan')):.4f}", flush=True)
        runs.append(run)
    if len(runs) == 1:
        return runs[0].predictions().select("date", "symbol", "score")
    mix = blend(runs, target=horizons.index(5) if 5 in horizons else 0)
    show(mix.contributions, "alpha blend: weight, own IC and contribution to the blend's IC (test period)")
    return mix.scores


def config(risk_cfg, every: int, deal: str, capital: float, fees: bool = False):
    from flyer.backtest.config import BacktestConfig
    from flyer.backtest.enhance_config import EnhanceConfig

    cfg = BacktestConfig(strategy="enhance", rebalance_every=every, start=START, end=END, deal_price=deal,
                         capital=capital, enhance=EnhanceConfig(te=0.05, risk=risk_cfg)).replace(impact="sqrt")
    return cfg.replace(**FEES) if fees else cfg


def overall(res, label: str) -> dict:
    """One row of the summary: before and after fees, price index and TR estimate."""
    from flyer.backtest import execution

    m, ex = res.metrics(), execution.summary(res)
    y = res.yearly()
    col = "excess_after_fees" if "excess_after_fees" in y.columns else "excess"
    return {"setting": label, "excess": m["excess_annual_return"], "excess_tr": m.get("excess_tr_annual_return"),
            "excess_fees": m.get("excess_annual_return_after_fees", m["excess_annual_return"]),
            "excess_tr_fees": m.get("excess_tr_annual_return_after_fees", m.get("excess_tr_annual_return")),
            "te": m["tracking_error"], "ir": m["information_ratio"],
            "ir_fees": m.get("information_ratio_after_fees", m["information_ratio"]),
            "years_positive": int((y[col] > 0).sum()), "cost_drag": m["cost_drag"], "impact_drag": ex["impact_drag"],
            "turnover": m["annual_turnover"], "fill_rate": ex["fill_rate"], "participation": ex["avg_participation"]}


def per_year(res, att) -> pl.DataFrame:
    """Step 5 for one result (after fees when it has them)."""
    y = res.yearly()
    net = "excess_after_fees" if "excess_after_fees" in y.columns else "excess"
    a = att.yearly().select("year", "realised_te", "predicted_te", "te_ratio", "bias")
    d = res.daily()
    nav = "nav_after_fees" if "nav_after_fees" in d.columns else "nav"
    ir = (d.with_columns((pl.col(nav) / pl.col(nav).shift(1) - pl.col("benchmark") / pl.col("benchmark").shift(1)).alias("e"))
          .drop_nulls("e").group_by(pl.col("date").dt.year().alias("year"), maintain_order=True)
          .agg((pl.col("e").mean() / pl.col("e").std() * np.sqrt(243)).alias("ir_after_fees")))
    tr = ((1 + pl.col("return")) / (1 + pl.col("benchmark_tr_return")) - 1) if "benchmark_tr_return" in y.columns else pl.lit(None)
    fee_ratio = (1 + pl.col(net)) / (1 + pl.col("excess"))
    return (y.select("year", "return", "benchmark_return", *(["benchmark_tr_return"] if "benchmark_tr_return" in y.columns else []),
                     pl.col("excess").alias("excess_price"), pl.col(net).alias("excess_price_fees"),
                     ((1 + tr) * fee_ratio - 1).alias("excess_tr_fees"), "turnover")
            .join(a, on="year", how="left").join(ir, on="year", how="left")
            .with_columns((pl.col("year") >= SURVIVOR_FIRST.year).alias("survivor_biased")))


def run_settings(store, scores: pl.DataFrame, risk_cfg, every: int) -> tuple[dict, object]:
    """Step 4 at the next open (1e8, 1e9) and step 6 at the next close (the ladder, which holds
    1e8 and 1e9): one plan per level, before and after fees from the same plan."""
    from flyer.backtest.api import execute, prepare
    from flyer.backtest.capacity import half_excess_aum, level_row

    results: dict[tuple[str, float, bool], object] = {}
    for deal, levels in (("close", LADDER), ("open", (1e8, 1e9))):
        for cap in levels:
            t = time.perf_counter()
            prep = prepare(store, scores, config(risk_cfg, every, deal, cap))
            plain, paid = execute(prep, [prep.config, prep.config.replace(**FEES)])
            results[(deal, cap, False)], results[(deal, cap, True)] = plain, paid
            d = prep.plan.rebalances
            print(f"  {deal} {cap:,.0f} CNY: {time.perf_counter() - t:.0f} s ({d.height} rebalances, solve "
                  f"{d['seconds'].sum():.0f} s, relaxed {int((d['relaxed'] != '').sum())}, capped trades "
                  f"{int(d['capped'].sum()):,}, expected impact {d['expected_impact'].sum():.2%} of NAV in all); "
                  f"excess {plain.metrics()['excess_annual_return']:.2%}", flush=True)
    table = pl.DataFrame([level_row(results[("close", c, True)]) for c in LADDER])
    half, note = half_excess_aum(table["capital"].to_list(), table["excess_annual_return"].to_list())
    return results, (table, half, note)


def main() -> int:
    global ASHARE
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--home", type=Path, default=None, help="store folder (reused when it holds a store)")
    ap.add_argument("--threads", type=int, default=2, help="LightGBM threads")
    ap.add_argument("--every", type=int, default=5, help="rebalance every n score days")
    ap.add_argument("--horizons", default="1,5,20", help="label horizons of the LightGBM runs (blended)")
    ap.add_argument("--ashare", type=Path, default=ASHARE, help="the staged real data folder")
    a = ap.parse_args()
    ASHARE = a.ashare
    if not (ASHARE / "daily").is_dir():
        print(f"enhance bench: skipped ({ASHARE} not present)")
        return 0
    tmp = None if a.home else tempfile.TemporaryDirectory(prefix="flyer_enhance_bench_")
    home = a.home or Path(tmp.name)
    home.mkdir(parents=True, exist_ok=True)
    from flyer.backtest.attribution import attribution_for

    t0 = time.perf_counter()
    with open_store(home) as store:
        risk_cfg = bench_risk(store, home)
        scores = alpha(store, home, tuple(int(h) for h in a.horizons.split(",")), a.threads)
        print(f"\nenhance backtests {START}..{END}, every {a.every} score days, TE target 5 %, 10 % participation, "
              "sqrt impact k=1 (engine and optimiser):", flush=True)
        results, (cap_table, half, note) = run_settings(store, scores, risk_cfg, a.every)
        key = results[("close", 1e9, True)]
        att = attribution_for(store, key, risk_cfg, home)
    rows = [overall(results[(deal, cap, fees)], f"{deal} {cap:.0e} {'after fees' if fees else 'before fees'}")
            for deal in ("open", "close") for cap in (1e8, 1e9) for fees in (False, True)]
    show(pl.DataFrame(rows), "overall 2017-2024 (excess geometric vs 000905.SH price index / vs its total-return "
                             "estimate; after fees: 1.0 % + 0.15 % a year; years_positive of 8, after fees where "
                             "charged; drags per year of mean NAV)")
    years = per_year(key, att)
    show(years, "per year at 1e9 CNY, next close, impact on, after fees (TE realised = std of daily excess; predicted = "
                "the risk model's TE of the held book at each previous close, mean; IR after fees)")
    by_setting = pl.DataFrame({"year": results[("open", 1e8, True)].yearly()["year"]}).with_columns(
        *(pl.Series(f"{deal} {cap:.0e}", results[(deal, cap, True)].yearly()["excess_after_fees"])
          for deal in ("open", "close") for cap in (1e8, 1e9)))
    show(by_setting, "excess after fees per year (geometric vs the price index), by trade time and size")
    show(cap_table.select("capital", "excess_annual_return", "tracking_error", "information_ratio", "impact_drag",
                          "cost_drag", "annual_turnover", "avg_participation", "fill_rate"),
         "capacity: next close, after fees, impact on, planned anew at each level")
    print(f"AUM at half excess: {'not reached' if half is None else f'{half:,.0f} CNY'} ({note})")
    print(ANCHORS)
    m = overall(key, "")
    ratio = float(att.daily["excess"].std() / (att.daily["predicted_te"] / np.sqrt(att.periods_per_year)).mean())
    realised = float(att.daily["excess"].std() * np.sqrt(att.periods_per_year))
    predicted = float(att.daily["predicted_te"].mean())
    checks = [("excess >= 6 %/yr", m["excess_fees"] >= 0.06, f"{m['excess_fees']:.2%}"),
              ("IR >= 1.5", m["ir_fees"] >= 1.5, f"{m['ir_fees']:.2f}"),
              ("realised TE <= 5 %", m["te"] <= 0.05, f"{m['te']:.2%}"),
              ("positive excess in >= 7 of 8 years", m["years_positive"] >= 7, f"{m['years_positive']} of 8"),
              ("AUM at half excess >= 5e9 CNY", half is None or half >= 5e9,
               "not reached in the ladder" if half is None else f"{half:,.0f}"),
              ("realised / predicted TE in [0.9, 1.1]", 0.9 <= realised / predicted <= 1.1,
               f"{realised:.2%} / {predicted:.2%} = {realised / predicted:.2f} (std / mean-sigma {ratio:.2f})")]
    print("\ntargets at 1e9 CNY, impact on, after fees, next close, 2017-2024 (years from 2023-03-17 survivor-biased):")
    for name, ok, value in checks:
        print(f"  {'MET ' if ok else 'MISS'} {name}: {value}")
    print(f"\nbench wall time {time.perf_counter() - t0:.0f} s (shared 2-core machine, load {os.getloadavg()[0]:.1f})")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
