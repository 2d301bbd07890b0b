"""The ``flyer`` command line: mounts the command groups of each area.

Every failure is one line on stderr:
  * usage errors (unknown command or option, a bad value): ``error: ...``, exit 2;
  * errors a user can act on (``flyer.core.errors.FlyerError``: bad input, missing data, a source
    that cannot be reached): ``error: ...``, exit 1 (or the error's own code, e.g. 3 for a held
    lock);
  * the environment (disk full, permission denied): ``error: ...``, exit 1;
  * anything unexpected (a bug): ``error: unexpected <Type>: ... (run with FLYER_DEBUG=1 for
    the traceback)``, exit 1.
``FLYER_DEBUG=1`` re-raises instead, with the full traceback.

Start-up is cheap: the command modules import only typer and rich at module level; the
libraries behind a command (polars, DuckDB, vectorbt, torch, LightGBM, Ray, akshare, plotly)
are imported inside the command that uses them.
"""
from __future__ import annotations

import importlib
import inspect
import os
import sys
from typing import Sequence

import typer

from flyer.core.errors import FlyerError

COMMAND_MODULES = ("data", "calendar", "factors", "backtest", "capacity", "models", "mining", "risk", "nightly", "demo",
                   "research")

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="flyer: A-share factors, models and backtests against CSI 500.")
for _name in COMMAND_MODULES:
    importlib.import_module(f"flyer.commands.{_name}").register(app)


def plain_help(text: str | None) -> str | None:
    """A docstring as ``--help`` shows it: RST markup dropped (``x`` and :func:`x` -> x) and the
    lines of each paragraph joined, so the terminal wraps them (paragraphs stay apart)."""
    import re

    if not text:
        return text
    text = re.sub(r":[a-z]+:`([^`]+)`", r"\1", inspect.cleandoc(text)).replace("``", "")
    paragraphs = re.split(r"\n\s*\n", text)
    return "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)


def _plain_helps(typer_app: typer.Typer) -> None:
    """``plain_help`` on every command and group help of ``typer_app`` (recursively)."""
    for cmd in typer_app.registered_commands:
        cmd.help = plain_help(cmd.help or (inspect.getdoc(cmd.callback) if cmd.callback else None))
    for group in typer_app.registered_groups:
        group.help = plain_help(group.help)
        sub = group.typer_instance
        if sub is not None:
            sub.info.help = plain_help(sub.info.help)
            cb = sub.registered_callback
            if cb is not None and cb.callback is not None:
                cb.help = plain_help(cb.help or inspect.getdoc(cb.callback))
            _plain_helps(sub)


_plain_helps(app)


def _usage_exception(exc: BaseException) -> bool:
    """True for click's / typer's own usage errors (typer vendors click as ``typer._click``,
    so the class is matched by its interface, not by ``isinstance`` on one click)."""
    return hasattr(exc, "format_message") and hasattr(exc, "exit_code") and not isinstance(exc, FlyerError)


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


def _fail(message: str, code: int) -> None:
    typer.echo(f"error: {message}", err=True)
    sys.exit(code)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: runs the app and turns every failure into one line (see module doc)."""
    from flyer.core import progress
    from flyer.commands.common import console

    debug = bool(os.environ.get("FLYER_DEBUG"))
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 132  # logs and pipes: tables are not cut to 80 columns (a terminal uses its own width)
    try:
        with progress.reporting(progress.console_reporter(console)):  # bars on a terminal, lines when not
            result = app(args=list(argv) if argv is not None else None, prog_name="flyer", standalone_mode=False)
    except (KeyboardInterrupt, typer.Abort):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except SystemExit:
        raise
    except FlyerError as exc:
        if debug:
            raise
        _fail(_one_line(str(exc)) or type(exc).__name__, getattr(exc, "exit_code", 1))
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, never a traceback
        if debug:
            raise
        if isinstance(exc, typer.Exit) or type(exc).__name__ == "Exit":
            sys.exit(getattr(exc, "exit_code", 0))
        if _usage_exception(exc):
            code = int(getattr(exc, "exit_code", 2) or 2)
            message = _one_line(exc.format_message())  # type: ignore[attr-defined]
            if not message:  # no arguments: the help was printed
                sys.exit(code)
            ctx = getattr(exc, "ctx", None)
            path = getattr(ctx, "command_path", None) or "flyer"
            _fail(f"{message} (see `{path} --help`)", code)
        if isinstance(exc, OSError):
            where = f": {exc.filename}" if getattr(exc, "filename", None) else ""
            _fail(f"{exc.strerror or _one_line(str(exc)) or type(exc).__name__}{where}", 1)
        _fail(f"unexpected {type(exc).__name__}: {_one_line(str(exc))[:300]} "
              "(run with FLYER_DEBUG=1 for the traceback)", 1)
    sys.exit(result if isinstance(result, int) else 0)


if __name__ == "__main__":  # pragma: no cover
    main()
