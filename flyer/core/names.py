"""User-given names that become paths (run ids, ...) stay inside their folder.

A leaf module (it imports only ``flyer.core.errors``) that every layer may use.
"""
from __future__ import annotations

import re

from flyer.core.errors import UsageError

_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def safe_name(name: object, what: str = "name") -> str:
    """``name`` when it is one plain path component (letters, digits, ``.``, ``_``, ``-``; not
    starting with a dot, no separators, no ``..``), else a ``UsageError`` (exit 2)."""
    if not isinstance(name, str) or not name:
        raise UsageError(f"{what} must be a non-empty string, got {name!r}")
    if len(name) > 128 or ".." in name or not _SAFE.match(name):
        raise UsageError(f"bad {what} {name!r}: use letters, digits, '.', '_' and '-' only "
                         "(no path separators or '..')")
    return name
