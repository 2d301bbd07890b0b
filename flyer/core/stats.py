"""Statistical conventions shared by every layer (a leaf module, like ``flyer.core.errors``).

* Trading days per year come from the calendar, not a constant: ``year_days`` counts each
  calendar year's trading days (a year the calendar covers only in part gets the mean of the
  complete years, or, with none complete, its count scaled by weekdays); ``elapsed_years``
  counts each day as ``1 / days of its year``, so a full year is exactly 1.
* ``newey_west_t``: the t statistic of a mean under autocorrelation (Bartlett kernel), for IC
  series of overlapping ``h``-day returns (lags = ``h``; ``h = 1`` leaves the plain t-stat
  up to the lag-1 autocorrelation of the series itself).
"""
from __future__ import annotations

import datetime as dt
import math
from typing import Iterable, Mapping, Sequence

import numpy as np

#: the stated fallback when no calendar is at hand (A-share years hold ~242-244 trading days)
DEFAULT_YEAR_DAYS = 243


def _weekdays(a: dt.date, b: dt.date) -> int:
    """Mon-Fri days in [a, b]."""
    return int(np.busday_count(a, b + dt.timedelta(days=1))) if b >= a else 0


def year_days(calendar: Iterable[dt.date]) -> dict[int, int]:
    """``{year: trading days}`` of every year in ``calendar`` (ascending or not).

    A year is complete when the calendar also holds a day of the years before and after it,
    or its first/last trading day lies within a week of 1 January / 31 December. Incomplete
    years get the mean of the complete ones (rounded), else their count x weekdays(year) /
    weekdays(covered part)."""
    days = sorted(calendar)
    if not days:
        return {}
    counts: dict[int, int] = {}
    for d in days:
        counts[d.year] = counts.get(d.year, 0) + 1
    first, last = days[0], days[-1]
    complete = {y for y in counts
                if (y > first.year or first <= dt.date(y, 1, 7)) and (y < last.year or last >= dt.date(y, 12, 24))}
    full = [counts[y] for y in complete]
    out = {}
    for y, n in counts.items():
        if y in complete:
            out[y] = n
        elif full:
            out[y] = int(round(sum(full) / len(full)))
        else:
            lo, hi = max(first, dt.date(y, 1, 1)), min(last, dt.date(y, 12, 31))
            out[y] = int(round(n * _weekdays(dt.date(y, 1, 1), dt.date(y, 12, 31)) / max(_weekdays(lo, hi), 1)))
    return out


def elapsed_years(dates: Sequence[dt.date], days: Mapping[int, int] | None = None) -> float:
    """Years spanned by the returns between consecutive ``dates``: each return dated ``d``
    (``dates[1:]``) counts ``1 / days[d.year]`` (``days`` default: ``year_days(dates)``)."""
    if len(dates) < 2:
        return 0.0
    days = days or year_days(dates)
    return float(sum(1.0 / days.get(d.year, DEFAULT_YEAR_DAYS) for d in dates[1:]))


def periods_per_year(dates: Sequence[dt.date], days: Mapping[int, int] | None = None) -> float:
    """Returns per year over ``dates`` (daily returns: ~243 on the A-share calendar)."""
    years = elapsed_years(dates, days)
    return (len(dates) - 1) / years if years > 0 else float(DEFAULT_YEAR_DAYS)


def newey_west_se(x: np.ndarray, lags: int) -> float:
    """Newey-West standard error of the mean of ``x`` (NaN dropped), Bartlett weights
    ``1 - l / (lags + 1)``: ``sqrt((g0 + 2 sum_l w_l g_l) / n)`` with ``g_l`` the lag-``l``
    autocovariance (divided by n)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    n = x.size
    if n < 2:
        return float("nan")
    e = x - x.mean()
    var = float(e @ e) / n
    for lag in range(1, min(int(lags), n - 1) + 1):
        var += 2.0 * (1.0 - lag / (lags + 1.0)) * float(e[lag:] @ e[:-lag]) / n
    return math.sqrt(var / n) if var > 0 else float("nan")


def newey_west_t(x: np.ndarray, lags: int) -> float:
    """Mean of ``x`` over its Newey-West standard error (``newey_west_se``)."""
    x = np.asarray(x, dtype=np.float64)
    x = x[np.isfinite(x)]
    se = newey_west_se(x, lags)
    return float(x.mean() / se) if x.size and math.isfinite(se) and se > 0 else float("nan")
