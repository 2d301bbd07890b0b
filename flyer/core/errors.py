"""User-facing errors: the CLI prints their message as one line and exits non-zero."""
from __future__ import annotations


class FlyerError(Exception):
    """An error whose message is fit to show a user as-is (one line, names the problem)."""

    exit_code = 1


class UsageError(FlyerError):
    """The command line was used wrongly (an option that does not apply, a bad value): exit 2."""

    exit_code = 2
