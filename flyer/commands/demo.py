"""``flyer demo``: ingest the sim market, train, backtest, report, print a summary."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from flyer.commands.common import HomeOpt, console


def demo(home: Optional[Path] = HomeOpt,
         stocks: Optional[int] = typer.Option(None, "--stocks", help="sim stocks (10-5000; default 800, 150 with --quick)"),
         quick: bool = typer.Option(False, "--quick", help="a first look in about a minute: a small sim over 2019-2021, "
                                    "one test year, top-20")) -> None:
    """The whole pipeline on the simulated market: ingest, Alpha158, LightGBM walk-forward,
    top-k backtest against CSI 500, HTML report, one-screen summary; then `flyer nightly` goes on
    from its last day with the config it writes."""
    from flyer.core.errors import UsageError
    from flyer.demo import DemoConfig, run_demo

    if stocks is not None and not 10 <= stocks <= 5000:
        raise UsageError(f"--stocks must be in 10..5000, got {stocks}")
    cfg = DemoConfig.quick(stocks or 150) if quick else DemoConfig(stocks=stocks or 800)
    t0 = time.perf_counter()
    s = run_demo(home, cfg, log=lambda m: console.print(m, markup=False, highlight=False))
    rows = [
        ("test IC / RankIC (all folds)", f"{s.ic:.4f} / {s.rank_ic:.4f}"),
        ("test ICIR / RankICIR (all folds)", f"{s.icir:.3f} / {s.rank_icir:.3f}"),
        ("annualized return", f"{s.annual_return:.2%}"),
        ("annualized excess (geometric)", f"{s.annual_excess:.2%}  vs {s.benchmark} (backtest {s.backtest})"),
        ("information ratio", f"{s.information_ratio:.2f}"),
        ("max drawdown", f"{s.max_drawdown:.2%}"),
        ("report", str(s.report)),
        ("wall time", f"{time.perf_counter() - t0:.0f}s" + (_breakdown(s.seconds, time.perf_counter() - t0)
                                                           if not s.reused else "")),
    ]
    console.print(f"[bold]flyer demo summary[/] (experiment {s.experiment}, run {s.run_id}, "
                  f"test {cfg.test[0]}..{cfg.test[1]})"
                  + (": reused, nothing recomputed" if s.reused else ""))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        console.print(f"  {k:<{width}}  {v}")
    if s.nightly_config is not None:
        console.print(f"next: flyer nightly --config {s.nightly_config} --date {s.last_date}   "
                      "(tomorrow's orders from the demo's last close; then the next dates)", markup=False)


def _breakdown(seconds: dict[str, float], wall: float) -> str:
    """`` (data 7s, train 58s, ...)`` with what the steps leave out (reports, saving, start-up)
    named, so the parts add up to the wall time."""
    rest = wall - sum(seconds.values())
    parts = [f"{k} {v:.0f}s" for k, v in seconds.items()] + ([f"reports, saving and start-up {rest:.0f}s"]
                                                              if rest >= 0.5 else [])
    return " (" + ", ".join(parts) + ")"


def warmup(keep: bool = typer.Option(False, "--keep-caches", help="keep numba's existing cache files")) -> None:
    """Compile every numba kernel into numba's disk cache once (``make setup`` runs it after
    install), so no later process pays the compilation."""
    from flyer.warmup import warm_all

    t0 = time.perf_counter()
    warm_all(log=lambda m: console.print(m), clear=not keep)
    console.print(f"numba caches warm ({time.perf_counter() - t0:.0f}s)")


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)
    app.command("warmup")(warmup)
