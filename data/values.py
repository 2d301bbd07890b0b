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
