"""``flyer nightly``: today's close in, tomorrow's orders out (see ``flyer.nightly``).

Exit codes: 0 done (or nothing to do: a non-trading day, a finished date), 1 a stage failed
(rerun to resume at it) or the date lies beyond the known calendar ("calendar ends on D:
update it"), 2 bad usage or a bad config, 3 another run holds the lock.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from flyer.commands.common import HomeOpt, console, parse_date


def nightly(
    date: Optional[str] = typer.Option(None, "--date", help="trading day YYYY-MM-DD (default: the latest)"),
    config: Optional[Path] = typer.Option(None, "--config", help="nightly config, TOML or YAML"),
    dry_run: bool = typer.Option(False, "--dry-run", help="show the stages that would run, change nothing"),
    force: bool = typer.Option(False, "--force", help="rerun every stage even if done"),
    home: Optional[Path] = HomeOpt,
) -> None:
    """Run the nightly job for one trading day: ingest, validate, factors, score, portfolio, orders."""
    from flyer import config as nightly_config
    from flyer.data.store import MarketStore, flyer_home
    from flyer.nightly import default_date, plan, run_night

    cfg = nightly_config.load(config)
    day = parse_date(date, "--date") or default_date(cfg)
    if dry_run:
        todo = ["ingest", "validate", "factors", "score", "portfolio", "orders"]
        if not force and (flyer_home(home, create=False) / "market.duckdb").exists():
            with MarketStore.open(home, read_only=True) as store:
                todo = plan(store, cfg, day)
        console.print(f"nightly {day} (config {cfg.key()}, home {flyer_home(home)}): would run "
                      + (", ".join(todo) if todo else "nothing (all stages done)"))
        return
    result = run_night(home, cfg, day, force=force)
    if not result.trading_day:
        console.print(result.messages[0])
        return
    for msg in result.messages:
        console.print(f"  {msg}")
    if result.seconds:
        console.print("  stage times: " + ", ".join(f"{k} {v:.2f}s" for k, v in result.seconds.items()))
    done = ", ".join(result.ran) or "nothing (already done)"
    console.print(f"[green]nightly {day} complete[/]: ran {done}"
                  + (f"; skipped {', '.join(result.skipped)}" if result.skipped and result.ran else "")
                  + f"\n  outputs: {result.outdir}")


def register(app: typer.Typer) -> None:
    app.command("nightly")(nightly)
