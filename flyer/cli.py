"""The ``flyer`` command line: mounts the command groups of each area.

Errors that users can cause (bad input, missing data, bad formulas) are printed as one line on
stderr and exit with a non-zero code; tracebacks are shown only with ``FLYER_DEBUG=1``.
"""
from __future__ import annotations

import os
import sys

import typer

from flyer.commands import data as data_cmds

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="flyer: A-share factors, models and backtests against CSI 500.")
data_cmds.register(app)


def _mount_optional() -> None:
    """Mount the command groups of the other areas (each module exposes ``register(app)``)."""
    import importlib

    for name in ("factors", "backtest", "models", "mining", "nightly", "demo"):
        try:
            mod = importlib.import_module(f"flyer.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"flyer.commands.{name}":
                continue
            raise
        mod.register(app)


_mount_optional()


def main() -> None:
    """Console entry point with one-line error reporting."""
    from flyer.data.store import StoreError
    from flyer.errors import FlyerError

    try:
        app(standalone_mode=False)
    except (FlyerError, StoreError, ValueError, FileNotFoundError) as exc:
        if os.environ.get("FLYER_DEBUG"):
            raise
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        typer.echo(f"error: {msg}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
    except typer.Abort:
        typer.echo("aborted", err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
