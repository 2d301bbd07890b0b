"""``flyer demo``: ingest the sim market, train, backtest, report, print a summary."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import typer

from flyer.commands.common import HomeOpt, console


def demo(home: Optional[Path] = HomeOpt,
         stocks: int = typer.Option(800, "--stocks", help="sim stocks (10-5000)")) -> None:
    """The whole pipeline on the simulated market: ingest, Alpha158, LightGBM walk-forward,
    top-k backtest against CSI 500, HTML report, one-screen summary."""
    from flyer.demo import DemoConfig, run_demo

    t0 = time.perf_counter()
    s = run_demo(home, DemoConfig(stocks=stocks), log=lambda m: console.print(m, markup=False, highlight=False))
    rows = [
        ("test IC / RankIC", f"{s.ic:.4f} / {s.rank_ic:.4f}"),
        ("test ICIR / RankICIR", f"{s.icir:.3f} / {s.rank_icir:.3f}"),
        ("annualized return", f"{s.annual_return:.2%}"),
        ("annualized excess (geometric)", f"{s.annual_excess:.2%}  vs {s.benchmark}"),
        ("information ratio", f"{s.information_ratio:.2f}"),
        ("max drawdown", f"{s.max_drawdown:.2%}"),
        ("report", str(s.report)),
        ("wall time", f"{time.perf_counter() - t0:.0f}s"
         + (" (" + ", ".join(f"{k} {v:.0f}s" for k, v in s.seconds.items()) + ")" if not s.reused else "")),
    ]
    console.print(f"[bold]flyer demo summary[/] (experiment {s.experiment}, run {s.run_id}, "
                  f"test {DemoConfig().test[0]}..{DemoConfig().test[1]})"
                  + (": reused, nothing recomputed" if s.reused else ""))
    width = max(len(k) for k, _ in rows)
    for k, v in rows:
        console.print(f"  {k:<{width}}  {v}")


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
