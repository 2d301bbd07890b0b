"""Typed scalars out of polars frames (polars types ``Series.min()`` / ``max()`` / ``item()``
as any scalar; these narrow it and fail loudly when the column is not what the caller says)."""
from __future__ import annotations

import datetime as dt


def as_date(value: object) -> dt.date:
    """``value`` (a polars date scalar) as a ``date``; TypeError when it is not one (e.g. null)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    raise TypeError(f"expected a date, got {value!r}")


def opt_date(value: object) -> dt.date | None:
    """``value`` as a ``date``, None for null."""
    return None if value is None else as_date(value)


def as_float(value: object, default: float = 0.0) -> float:
    """``value`` (a polars numeric scalar) as a ``float``; ``default`` for null."""
    if value is None:
        return default
    if isinstance(value, (int, float)):
        return float(value)
    raise TypeError(f"expected a number, got {value!r}")
