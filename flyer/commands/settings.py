"""Config settings as command-line options, generically: a new setting is one line of a table.

A command lists the config keys it exposes (``Setting``: the key ``Config.from_dict`` takes, and
a help text); ``with_settings`` adds one ``--key-with-dashes`` option per entry to the command's
signature, typed from the config class's annotations (dates and literals as text), and
``chosen(kwargs, settings)`` returns the ``{key: value}`` the user gave, which the command lays
over its config file and hands to ``Config.from_dict`` (which validates and names the field).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import inspect
import typing
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import typer

from flyer.commands.common import parse_date


@dataclass(frozen=True)
class Setting:
    """One config key exposed as ``--<key with dashes>`` (or ``flag``) with its help text."""

    key: str
    help: str
    flag: str | None = None

    @property
    def option(self) -> str:
        return self.flag or "--" + self.key.replace("_", "-")

    @property
    def param(self) -> str:
        return f"set_{self.key}"


def _hints(classes: Sequence[type]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cls in classes:
        hints = typing.get_type_hints(cls)
        out.update({f.name: hints[f.name] for f in dataclasses.fields(cls)})
    return out


def _cli_type(hint: Any) -> type:
    """The type typer parses an option as: int, float, bool or text (dates, literals, others)."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    base = args[0] if typing.get_origin(hint) in (typing.Union, getattr(__import__("types"), "UnionType")) and args \
        else hint
    return base if base in (int, float, bool) else str


def with_settings(settings: Sequence[Setting], classes: Sequence[type]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: append one typer option per setting to the command's signature (before
    ``**kwargs``); the command receives them in ``kwargs`` (read them with ``chosen``)."""
    hints = _hints(classes)

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        sig = inspect.signature(fn)
        fixed = [p for p in sig.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
        extra = []
        for s in settings:
            kind = _cli_type(hints[s.key])
            default: Any = (typer.Option(None, f"{s.option}/--no-{s.option[2:]}", help=s.help) if kind is bool
                            else typer.Option(None, s.option, help=s.help))
            extra.append(inspect.Parameter(s.param, inspect.Parameter.KEYWORD_ONLY, default=default,
                                           annotation=Optional[kind]))
        fn.__signature__ = sig.replace(parameters=[*fixed, *extra])  # type: ignore[attr-defined]
        return fn

    return wrap


def chosen(kwargs: dict[str, Any], settings: Sequence[Setting], classes: Sequence[type]) -> dict[str, Any]:
    """``{key: value}`` of the settings given on the command line (dates parsed, naming the flag)."""
    hints = _hints(classes)
    out: dict[str, Any] = {}
    for s in settings:
        value = kwargs.get(s.param)
        if value is None:
            continue
        if dt.date in typing.get_args(hints[s.key]) or hints[s.key] is dt.date:
            value = parse_date(value, s.option)
        out[s.key] = value
    return out
