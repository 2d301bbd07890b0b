"""``flyer capacity``: the capacity curve of a run's (or a scores file's) strategy over capital levels."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from flyer.commands.backtest import build_config, read_scores, run_scores_path
from flyer.commands.common import HomeOpt, console, open_store, parse_date
from flyer.core.errors import FlyerError, UsageError

DEFAULT_LADDER = "1e7,1e8,5e8,1e9,5e9,1e10"


def parse_capitals(text: str) -> list[float]:
    """``1e7,1e8,...`` -> capital levels in CNY (UsageError on bad text)."""
    try:
        levels = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"bad --capitals {text!r}: expected comma-separated numbers, e.g. {DEFAULT_LADDER}") from None
    if len(levels) < 2 or min(levels) <= 0:
        raise UsageError(f"bad --capitals {text!r}: need at least two positive levels")
    return levels


def capacity_cmd(
    run_id: Optional[str] = typer.Option(None, "--run", help="use $FLYER_HOME/runs/<ID>/predictions.parquet"),
    scores: Optional[Path] = typer.Option(None, "--scores", help="Parquet/CSV with date, symbol, score"),
    config: Optional[Path] = typer.Option(None, "--config", help="TOML/YAML file with backtest settings"),
    capitals: str = typer.Option(DEFAULT_LADDER, "--capitals", help="capital levels, CNY, comma-separated"),
    k: Optional[int] = typer.Option(None, "--k", help="names held (topk)"),
    n_drop: Optional[int] = typer.Option(None, "--n-drop", help="names replaced per rebalance (topk)"),
    strategy: Optional[str] = typer.Option(None, "--strategy", help="topk | benchmark"),
    rebalance_every: Optional[int] = typer.Option(None, "--rebalance-every", help="rebalance every n score days"),
    deal_price: Optional[str] = typer.Option(None, "--deal-price", help="open | close | vwap"),
    start: Optional[str] = typer.Option(None, "--start", help="first signal day YYYY-MM-DD"),
    end: Optional[str] = typer.Option(None, "--end", help="last trading day YYYY-MM-DD"),
    participation: Optional[float] = typer.Option(None, "--participation", help="max fraction of the day's volume per fill (default 0.1)"),
    remainder: Optional[str] = typer.Option(None, "--remainder", help="carry | cancel"),
    impact: str = typer.Option("sqrt", "--impact", help="none | sqrt (default sqrt: a curve without impact is flat)"),
    impact_k: Optional[float] = typer.Option(None, "--impact-k", help="square-root impact prefactor (default 1.0)"),
    report: Optional[Path] = typer.Option(None, "--report", help="write an HTML page with the curve"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Run the same strategy at each capital level in one engine call; print excess return, IR,
    impact drag, participation, fill rate per level and the AUM at which excess return halves."""
    from flyer.backtest.capacity import capacity_curve

    levels = parse_capitals(capitals)
    overrides = dict(k=k, n_drop=n_drop, strategy=strategy, rebalance_every=rebalance_every, deal_price=deal_price, start=parse_date(start, "--start"),
                     end=parse_date(end, "--end"), participation=participation, remainder=remainder,
                     impact=impact, impact_k=impact_k)
    cfg, from_file = build_config(config, overrides)
    scores = scores or (Path(from_file["scores"]) if "scores" in from_file else None)
    run_id = run_id or from_file.get("run")
    if (scores is None) == (run_id is None):
        raise FlyerError("give exactly one of --scores PATH or --run ID")
    frame = read_scores(scores if scores is not None else run_scores_path(home, str(run_id)))
    with open_store(home, read_only=True, must_exist=True) as store:
        with console.status(f"capacity curve over {len(levels)} capital levels ..."):
            cap = capacity_curve(store, frame, cfg, levels)
    print_capacity(cap)
    if report is not None:
        from flyer.backtest.stress_report import write_capacity_report

        console.print(f"report saved: {write_capacity_report(cap, report)}")


def print_capacity(cap) -> None:
    """The curve as a rich table and the half-excess AUM line."""
    from rich.table import Table

    from flyer.backtest.stress_report import cell

    res = cap.results[0]
    cfg = res.config
    table = Table(*cap.table.columns, title=f"capacity vs {res.benchmark_name}")
    for row in cap.table.iter_rows(named=True):
        table.add_row(*(cell(c, v) for c, v in row.items()))
    console.print(table)
    console.print(f"participation {cfg.participation:.0%} of the day's volume (rest: {cfg.remainder}); impact "
                  f"{cfg.costs.impact} k={cfg.costs.impact_k}; {cfg.start}..{cfg.end}")
    half = f"{cap.half_aum:,.0f} CNY" if cap.half_aum is not None else "not reached"
    console.print(f"AUM at half excess return: {half} ({cap.note})")


def register(app: typer.Typer) -> None:
    """Mount ``flyer capacity``."""
    app.command("capacity")(capacity_cmd)
