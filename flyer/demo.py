"""``flyer demo``: the whole pipeline on the simulated market, with a one-screen summary.

The demo is a workflow (``examples/demo.toml`` is the same workflow as ``DemoConfig()``;
tests check their content keys agree), run by ``flyer.experiments.run``:
  1. ingest the sim market into the store (skipped when this home already ingested it);
  2. train LightGBM on Alpha158 features over the CSI 500 point-in-time universe with a
     walk-forward split (``flyer.models.train``; an identical run is reused);
  3. backtest top-k dropout on the out-of-sample scores against CSI 500 (``flyer.backtest.run``),
     saved with its HTML report under ``$FLYER_HOME/backtests/`` and linked from the
     experiment's ``reports/``;
  4. return the summary (the experiment folder holds ``summary.json`` / ``summary.md``);
     before that, ``store_factors`` stores the run's factor values (``flyer.factors.pipeline.update``,
     what the nightly's factors stage keeps up to date) so the next ``flyer nightly`` computes
     only its new date, and ``write_nightly_config`` writes ``$FLYER_HOME/nightly/demo.toml``: the
     demo's run scored every night on the same simulated market (whose feed goes on past the
     demo's last day), with the demo's portfolio.
Progress (per fold, per boosting round) goes to the reporter in force, else to ``log``.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

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

    @classmethod
    def quick(cls, stocks: int = 150) -> "DemoConfig":
        """A first look in about a minute: ``stocks`` sim stocks over 2019-2021, every stock the
        universe, one walk-forward test year (2021), top-20 dropout-3."""
        return cls(stocks=stocks, start=dt.date(2019, 1, 1), end=dt.date(2021, 12, 31), universe="all",
                   train=(dt.date(2019, 3, 1), dt.date(2020, 6, 30)), valid=(dt.date(2020, 7, 1), dt.date(2020, 12, 31)),
                   test=(dt.date(2021, 1, 1), dt.date(2021, 12, 31)), retrain_months=12, k=20, n_drop=3)

    def nightly_toml(self, run_id: str) -> str:
        """The nightly config of the demo's run on the demo's market (``write_nightly_config``)."""
        feed_end = dt.date(self.end.year + 1, 12, 31)
        return (f"# written by `flyer demo`: score the demo's run every night on the same simulated market\n"
                f"# (`flyer nightly --config <this file>`; the sim feed goes on past the demo's last day)\n"
                f"runs = [\"{run_id}\"]\n\n[source]\nkind = \"sim\"\nstocks = {self.stocks}\nseed = {self.seed}\n"
                f"start = {self.start.isoformat()}\nend = {feed_end.isoformat()}\n\n"
                f"[portfolio]\nstrategy = \"topk\"\nk = {self.k}\nn_drop = {self.n_drop}\n")

    def workflow(self) -> dict[str, Any]:
        """The demo as workflow tables (what ``examples/demo.toml`` writes down)."""
        span = lambda r: f"{r[0]}:{r[1]}"  # noqa: E731
        return {
            "description": "LightGBM on Alpha158, walk-forward, top-k dropout vs CSI 500 (sim market)",
            "data": {"source": "sim", "stocks": self.stocks, "seed": self.seed, "start": self.start, "end": self.end},
            "models": [{"name": "lgbm", "model": "lgbm", "factors": self.factors, "universe": self.universe,
                        "label_horizon": 1, "train": span(self.train), "valid": span(self.valid),
                        "test": span(self.test), "walk_forward": True, "retrain_months": self.retrain_months}],
            "backtests": [{"name": f"top{self.k}", "strategy": "topk", "k": self.k, "n_drop": self.n_drop}],
            "reports": {"backtest": True},
        }


@dataclass(frozen=True)
class DemoSummary:
    """The figures the demo prints: test IC / RankIC of the run over all folds (stitched out of
    sample), the backtest's figures from the experiment's own saved backtest (``backtest``)."""

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
    experiment: str = ""
    reused: bool = False
    nightly_config: Path | None = None
    last_date: dt.date | None = None
    backtest: str = ""  # the saved backtest the figures come from (the experiment's own)


def store_factors(home: Path, run_id: str) -> Any:
    """The factor store the nightly reads for the run (its set, under its content key, through
    the store's last date), so the first ``flyer nightly`` after the demo computes only the new
    date; None when the run scores from bars. Returns the ``UpdateReport``."""
    from flyer.factors.pipeline import update
    from flyer.models import load_run
    from flyer.models.predict import stored_set

    fs, _ = stored_set(load_run(home, run_id))
    if fs is None:
        return None
    with MarketStore.open(home) as store:
        return update(store, home, fs)


def write_nightly_config(home: Path, cfg: DemoConfig, run_id: str) -> Path:
    """``$FLYER_HOME/nightly/demo.toml`` (``DemoConfig.nightly_toml``), written atomically."""
    from flyer.core.atomic import atomic_text

    path = home / "nightly" / "demo.toml"
    atomic_text(cfg.nightly_toml(run_id), path)
    return path


def run_demo(home: str | Path | None = None, cfg: DemoConfig = DemoConfig(),
             log: Callable[[str], None] = print) -> DemoSummary:
    """Run the demo workflow under ``home``; returns the summary."""
    from flyer import experiments
    from flyer.core import progress
    from flyer.workflow import from_dict

    home = flyer_home(home)
    wf = from_dict(cfg.workflow(), name="demo")
    reporter = progress.current() if progress.active() else progress.LineReporter(log)
    with progress.reporting(reporter):
        exp = experiments.run(home, wf, log=log)
    model, bt = exp.runs()[0], exp.backtests()[0]
    t_values = time.perf_counter()
    rep = store_factors(home, model["run"])
    values_s = time.perf_counter() - t_values
    if rep is not None and rep.dates_written:
        log(f"    stored {rep.dates_written:,} dates of {rep.set_name} values ({rep.key}) for `flyer nightly`")
    nightly = write_nightly_config(home, cfg, model["run"])
    with MarketStore.open(home, read_only=True) as store:
        last = store.one("SELECT max(date) FROM bars WHERE date <= ?", [cfg.end])[0]
    nan = float("nan")
    num = lambda v: nan if v is None else float(v)  # noqa: E731
    return DemoSummary(model["run"], num(model.get("IC")), num(model.get("RankIC")), num(model.get("ICIR")),
                       num(model.get("RankICIR")), num(bt.get("excess_annual_return")), num(bt.get("information_ratio")),
                       num(bt.get("max_drawdown")), num(bt.get("annual_return")), str(bt.get("benchmark")),
                       Path(bt.get("report") or exp.path / "summary.md"),
                       {**exp.summary.get("seconds", {}), "values for the nightly": values_s},
                       exp.id, exp.reused, nightly, last, str(bt.get("backtest") or ""))
