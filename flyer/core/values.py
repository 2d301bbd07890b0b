"""Scalars read back from frames, typed: ``polars`` returns ``min()`` / ``max()`` / ``item()`` as
any Python literal; these say which one the caller expects, and fail loudly otherwise."""
from __future__ import annotations

import datetime as dt
import math


def as_date(value: object, what: str = "value") -> dt.date:
    """``value`` when it is a date (a datetime becomes its date); ``TypeError`` otherwise (null too)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"{what}: expected a date, got {value!r}")


def opt_date(value: object, what: str = "value") -> dt.date | None:
    """``value`` as a date, None for null."""
    return None if value is None else as_date(value, what)


def as_float(value: object, what: str = "value", default: float = math.nan) -> float:
    """``value`` as a float, ``default`` (NaN) for null; ``TypeError`` for anything not a number
    (a bool included)."""
    if value is None:
        return default
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    to_float = getattr(value, "__float__", None)  # numpy and Decimal scalars
    if callable(to_float) and not isinstance(value, bool):
        return float(to_float())
    raise TypeError(f"{what}: expected a number, got {value!r}")
