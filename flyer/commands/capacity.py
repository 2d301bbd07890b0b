"""``flyer capacity``: the capacity curve of a run's (or a scores file's) strategy over capital levels."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer

from flyer.commands.backtest import SETTINGS, _classes, build_config, score_source
from flyer.commands.common import HomeOpt, console, open_store, research_runner
from flyer.commands.settings import chosen, with_settings
from flyer.core.errors import UsageError

if TYPE_CHECKING:
    from flyer.backtest.capacity import Capacity

DEFAULT_LADDER = "1e7,1e8,5e8,1e9,5e9,1e10"


def parse_capitals(text: str) -> list[float]:
    """``1e7,1e8,...`` -> capital levels in CNY (UsageError on bad text)."""
    try:
        levels = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"bad --capitals {text!r}: expected comma-separated numbers, e.g. {DEFAULT_LADDER}") from None
    if len(levels) < 2 or not all(0 < x < float("inf") for x in levels):
        raise UsageError(f"bad --capitals {text!r}: need at least two positive levels")
    return levels


@with_settings(SETTINGS, _classes())
def capacity_cmd(
    run_id: Optional[str] = typer.Option(None, "--run", help="use $FLYER_HOME/runs/<ID>/predictions.parquet"),
    scores: Optional[Path] = typer.Option(None, "--scores", help="Parquet/CSV with date, symbol, score"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML/YAML file with backtest settings"),
    capitals: str = typer.Option(DEFAULT_LADDER, "--capitals", help="capital levels, CNY, comma-separated"),
    report: Optional[Path] = typer.Option(None, "--report", help="write an HTML page with the curve"),
    self_contained: bool = typer.Option(False, "--self-contained", help="--report: one file with plotly.js inlined"),
    mode: str = typer.Option("serial", "--mode", help="serial | ray: one Ray task per capital level (a local Ray on "
                             "loopback, or --address); the same records"),
    address: Optional[str] = typer.Option(None, "--address", help="existing Ray cluster HOST:PORT (implies --mode ray)"),
    workers: int = typer.Option(0, "--workers", help="Ray workers (0 = every CPU of the machine or cluster)"),
    home: Optional[Path] = HomeOpt,
    **kwargs: Any,
) -> None:
    """Run the same strategy at each capital level in one engine call; print excess return, IR,
    impact drag, participation, fill rate per level and the AUM at which excess return halves.
    Market impact is on unless --impact none (a curve without it is flat by construction)."""
    from flyer.backtest.capacity import capacity_curve
    from flyer.backtest.session import scores_of

    levels = parse_capitals(capitals)
    given = chosen(kwargs, SETTINGS, _classes())
    given.setdefault("impact", "sqrt")
    cfg, from_file = build_config(config, given)
    source = score_source(scores, run_id, None, None, False, from_file)
    with open_store(home, read_only=True, must_exist=True) as store, research_runner(mode, workers, address) as runner:
        frame = scores_of(home, store, source, cfg).frame
        on = f" on {runner.describe()}" if runner.workers > 1 else ""
        with console.status(f"capacity curve over {len(levels)} capital levels{on} ..."):
            cap = capacity_curve(store, frame, cfg, levels, runner=runner)
    print_capacity(cap)
    if report is not None:
        from flyer.backtest.stress_report import write_capacity_report

        console.print(f"report saved: {write_capacity_report(cap, report, self_contained=self_contained)}", markup=False)


def print_capacity(cap: Capacity) -> None:
    """The curve as a rich table and the half-excess AUM line."""
    from flyer.backtest.report_format import short_label
    from flyer.backtest.stress_report import cell
    from flyer.commands.common import fitted_table

    res = cap.results[0]
    cfg = res.config
    rows = [[cell(c, v) for c, v in row.items()] for row in cap.table.iter_rows(named=True)]
    console.print(fitted_table([short_label(c) for c in cap.table.columns], rows,
                               title=f"capacity vs {res.benchmark_name} (per year: annualised by the calendar)"))
    console.print(f"participation {cfg.participation:.0%} of the day's volume (rest: {cfg.remainder}); impact "
                  f"{cfg.costs.impact} k={cfg.costs.impact_k}; {cfg.start}..{cfg.end}")
    half = f"{cap.half_aum:,.0f} CNY" if cap.half_aum is not None else "not reached"
    console.print(f"AUM at half excess return: {half} ({cap.note})")


def register(app: typer.Typer) -> None:
    """Mount ``flyer capacity``."""
    app.command("capacity")(capacity_cmd)
