"""User-given names and ids: checked where they enter, confined to their folder.

* ``safe_name(name, what)``: one plain path component (letters, digits, ``.``, ``_``, ``-``; not
  starting with a dot, no separators, no ``..``, at most ``MAX_NAME`` characters). Run, backtest,
  experiment and risk-model ids, and every label that becomes a file or a folder (a workflow's
  model, backtest and factor names, factor names) pass it; so no name can carry a separator, a
  NUL, a control character or terminal markup into a path or a printout.
* ``resolve_id(base, ident, what)``: the one id resolver: ``ident`` must be id-shaped
  (``safe_name``; else a ``UsageError``, exit 2), names ``base/<ident>`` or the one folder under
  ``base`` whose name starts with it, and the folder found must lie inside ``base`` (a symlink
  out is refused); nothing found is a ``FlyerError`` (exit 1).

A leaf module (it imports only ``flyer.core.errors``) that every layer may use.
"""
from __future__ import annotations

import re
from pathlib import Path

from flyer.core.errors import FlyerError, UsageError

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAME = 128


class NotFoundError(FlyerError):
    """No folder of that id (exit 1); callers that try several kinds of id catch only this."""


def safe_name(name: object, what: str = "name") -> str:
    """``name`` when it is one plain path component (see the module docstring), else a
    ``UsageError`` (exit 2) that shows at most 40 characters of it."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"{what} must be a non-empty string, got {_shown(name)}")
    if len(name) > MAX_NAME:
        raise UsageError(f"bad {what} {_shown(name)}: at most {MAX_NAME} characters, got {len(name):,}")
    if ".." in name or not _SAFE.match(name):
        raise UsageError(f"bad {what} {_shown(name)}: use letters, digits, '.', '_' and '-' only "
                         "(no spaces, path separators, '..' or markup)")
    return name


def _shown(value: object) -> str:
    text = ascii(value)
    return text if len(text) <= 42 else text[:39] + "...'"


def resolve_id(base: Path, ident: str, what: str) -> Path:
    """The folder ``ident`` names under ``base`` (see the module docstring)."""
    safe_name(ident, f"{what} id")
    if not base.is_dir():
        raise NotFoundError(f"no {what} {ident!r}: {base} does not exist")
    path = base / ident
    if not path.is_dir():
        hits = [p for p in base.iterdir() if p.is_dir() and p.name.startswith(ident) and not p.name.startswith(".")]
        if not hits:
            raise NotFoundError(f"no {what} {ident!r} under {base}")
        if len(hits) > 1:
            raise FlyerError(f"{what} id {ident!r} is ambiguous")
        path = hits[0]
    if not path.resolve().is_relative_to(base.resolve()):
        raise UsageError(f"{what} {ident!r} leads outside {base}: refused")
    return path
