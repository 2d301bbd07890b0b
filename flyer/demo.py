"""``flyer demo``: the whole pipeline on the simulated market, with a one-screen summary.

  1. ingest the sim market into the store (skipped when the store already holds it);
  2. train LightGBM on Alpha158 features over the CSI 500 point-in-time universe with a
     walk-forward split (``flyer.models.train``: features are computed by the factor engine);
  3. backtest top-k dropout on the out-of-sample scores against CSI 500 (``flyer.backtest.run``);
  4. write the HTML report (``flyer.backtest.report.write_report``) and return the summary.
Every step calls the same function as the corresponding CLI command.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from flyer.data.store import MarketStore, flyer_home


@dataclass(frozen=True)
class DemoConfig:
    """What the demo runs (defaults: 800 sim stocks 2016-2024, walk-forward from 2021)."""

    stocks: int = 800
    seed: int = 42
    start: dt.date = dt.date(2016, 1, 1)
    end: dt.date = dt.date(2024, 12, 31)
    factors: str = "alpha158"
    universe: str = "csi500"
    train: tuple[dt.date, dt.date] = (dt.date(2016, 4, 1), dt.date(2019, 12, 31))
    valid: tuple[dt.date, dt.date] = (dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    test: tuple[dt.date, dt.date] = (dt.date(2021, 1, 1), dt.date(2024, 12, 31))
    retrain_months: int = 12
    k: int = 50
    n_drop: int = 5


@dataclass(frozen=True)
class DemoSummary:
    """The figures the demo prints."""

    run_id: str
    ic: float
    rank_ic: float
    icir: float
    rank_icir: float
    annual_excess: float
    information_ratio: float
    max_drawdown: float
    annual_return: float
    benchmark: str
    report: Path
    seconds: dict[str, float]


def _has_sim(store: MarketStore, cfg: DemoConfig) -> bool:
    """True when an earlier successful ingest wrote this very sim market (same span)."""
    log = store.ingest_log()
    hits = log.filter((log["source"] == "sim") & (log["status"] == "ok") & (log["start_date"] == cfg.start)
                      & (log["end_date"] == cfg.end) & (log["rows_written"] > 0))
    return hits.height > 0 and store.info()["bar_rows"] > 0


def run_demo(home: str | Path | None = None, cfg: DemoConfig = DemoConfig(),
             log: Callable[[str], None] = print) -> DemoSummary:
    """Run steps 1-4 of the module docstring under ``home``; returns the summary."""
    from flyer import models
    from flyer.backtest import BacktestConfig, run
    from flyer.backtest.report import write_report
    from flyer.data.sources import ingest, make_source

    home = flyer_home(home)
    secs: dict[str, float] = {}
    t = time.perf_counter()
    with MarketStore.open(home) as store:
        if _has_sim(store, cfg):
            log(f"1/4 store already holds the sim market ({store.info()['bar_rows']:,} bars)")
        else:
            rep = ingest(store, make_source("sim", start=cfg.start, end=cfg.end, stocks=cfg.stocks, seed=cfg.seed))
            log(f"1/4 ingested the sim market: {rep.rows_written:,} rows")
        secs["ingest"] = time.perf_counter() - t
        t = time.perf_counter()
        mcfg = models.make_config("lgbm", train=cfg.train, valid=cfg.valid, test=cfg.test, walk_forward=True,
                                  retrain_months=cfg.retrain_months, factors=cfg.factors, universe=cfg.universe)
        log(f"2/4 training LightGBM on {cfg.factors} ({cfg.universe}, walk-forward every {cfg.retrain_months} months) ...")
        trained = models.train(store, mcfg, home=home)
        if trained.reused:
            log(f"    run {trained.id} exists with the same config: reused")
        secs["train"] = time.perf_counter() - t
        t = time.perf_counter()
        bcfg = BacktestConfig(k=cfg.k, n_drop=cfg.n_drop, start=cfg.test[0], end=cfg.test[1])
        log(f"3/4 backtesting top-{cfg.k} dropout-{cfg.n_drop} against CSI 500 ...")
        result = run(store, trained.predictions(), bcfg)
        report = write_report(result, home / "reports" / f"demo_{trained.id}.html", title=f"flyer demo: run {trained.id}")
        secs["backtest"] = time.perf_counter() - t
    m, test = result.metrics(), trained.metrics.get("test", {})
    log(f"4/4 report written: {report}")
    return DemoSummary(trained.id, test.get("IC", float("nan")), test.get("RankIC", float("nan")),
                       test.get("ICIR", float("nan")), test.get("RankICIR", float("nan")),
                       float(m["excess_annual_return"]), float(m["information_ratio"]), float(m["max_drawdown"]),
                       float(m["annual_return"]), str(m["benchmark"]), report, secs)
