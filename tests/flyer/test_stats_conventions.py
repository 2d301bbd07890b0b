"""Conventions against hand-computed cases: trading days per year from the calendar, elapsed
years, Newey-West t statistics (``flyer.core.stats``)."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from flyer.data.calendar import sse_calendar
from flyer.core.stats import elapsed_years, newey_west_se, newey_west_t, periods_per_year, year_days

D = dt.date


def test_year_days_counts_complete_years_and_fills_partial_ones() -> None:
    cal = sse_calendar(D(2019, 1, 1), D(2021, 6, 30))
    counts = {y: sum(1 for d in cal if d.year == y) for y in (2019, 2020)}
    assert counts == {2019: 244, 2020: 243}             # the SSE calendar, not 252
    days = year_days(cal)
    assert days[2019] == 244 and days[2020] == 243
    assert days[2021] == round((244 + 243) / 2)         # partial year: mean of the complete ones
    # only a partial year: its count scaled by weekdays (83 days over Mar-Jun -> a full year)
    part = sse_calendar(D(2021, 3, 1), D(2021, 6, 30))
    weekdays = int(np.busday_count(D(2021, 1, 1), D(2022, 1, 1)))
    covered = int(np.busday_count(D(2021, 3, 1), D(2021, 7, 1)))
    assert year_days(part) == {2021: round(len(part) * weekdays / covered)}


def test_elapsed_years_counts_each_return_by_its_year() -> None:
    cal = sse_calendar(D(2019, 1, 1), D(2020, 12, 31))
    days = year_days(cal)
    assert elapsed_years(cal, days) == pytest.approx((244 - 1) / 244 + 243 / 243)
    assert periods_per_year(cal, days) == pytest.approx((len(cal) - 1) / ((243 / 244) + 1))
    # a half year of returns in 2020 is half a year, whatever the weekday count
    h = [d for d in cal if D(2020, 1, 1) <= d <= D(2020, 7, 1)]
    assert elapsed_years(h, days) == pytest.approx((len(h) - 1) / 243)


def test_newey_west_hand_computed() -> None:
    x = np.array([1.0, 2.0, 3.0, 4.0])
    # e = x - 2.5; g0 = 5/4, g1 = 1.25/4, g2 = -1.5/4 (autocovariances divided by n)
    assert newey_west_t(x, 0) == pytest.approx(2.5 / math.sqrt(1.25 / 4))
    assert newey_west_se(x, 1) == pytest.approx(math.sqrt((1.25 + 2 * 0.5 * 0.3125) / 4))
    assert newey_west_t(x, 1) == pytest.approx(4.0)
    assert newey_west_t(x, 2) == pytest.approx(2.5 / math.sqrt((1.25 + 2 * (2 / 3) * 0.3125 + 2 * (1 / 3) * -0.375) / 4))
    assert newey_west_t(np.array([1.0, np.nan, 2.0, 3.0, 4.0]), 1) == pytest.approx(4.0)  # NaN dropped
    assert math.isnan(newey_west_t(np.array([1.0]), 1))


def test_newey_west_deflates_overlapping_horizons() -> None:
    """A 5-day overlapping sum of iid noise: the naive t (ICIR x sqrt(n)) overstates the mean's
    significance by about sqrt(5); Newey-West with 5 lags takes most of that back."""
    rng = np.random.default_rng(3)
    base = rng.normal(0.02, 1.0, 5000)
    over = np.convolve(base, np.ones(5), mode="valid")
    naive = over.mean() / over.std(ddof=1) * math.sqrt(over.size)
    nw = newey_west_t(over, 5)
    assert 1.5 < naive / nw < math.sqrt(5) * 1.2
    assert newey_west_t(base, 1) == pytest.approx(base.mean() / base.std() * math.sqrt(base.size), rel=0.1)
