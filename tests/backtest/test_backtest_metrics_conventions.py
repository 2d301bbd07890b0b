"""Backtest metrics against hand-computed cases: calendar trading days per year, arithmetic and
geometric excess side by side, the total-return benchmark next to the price index, per year."""
from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from flyer.backtest.metrics import summary, yearly

D = dt.date


def _daily(dates: list[dt.date], nav: list[float], bench: list[float], tr: list[float] | None = None) -> pl.DataFrame:
    df = pl.DataFrame({"date": dates, "nav": nav, "benchmark": bench, "turnover": 0.1, "costs": 1.0})
    return df.with_columns(pl.Series("benchmark_tr", tr)) if tr is not None else df


def test_summary_annualises_by_calendar_days_with_both_excess_kinds() -> None:
    dates = [D(2020, 1, 2), D(2020, 1, 3), D(2020, 1, 6), D(2020, 1, 7), D(2020, 1, 8)]
    nav, bench = [100.0, 101.0, 102.01, 101.0, 103.0], [10.0, 10.1, 10.1, 10.0, 10.2]
    tr = [10.0, 10.1, 10.15, 10.05, 10.26]
    m = summary(_daily(dates, nav, bench, tr), "X", {2020: 243})
    years = 4 / 243
    assert m["days_per_year"] == pytest.approx(243)
    assert m["annual_return"] == pytest.approx((103 / 100) ** (1 / years) - 1)
    assert m["benchmark_annual_return"] == pytest.approx((10.2 / 10) ** (1 / years) - 1)
    assert m["excess_annual_return"] == pytest.approx((1.03 / 1.02) ** (1 / years) - 1)   # geometric
    rp, rb = np.diff(nav) / nav[:-1], np.diff(bench) / bench[:-1]
    d = rp - rb
    assert m["excess_annual_return_arith"] == pytest.approx(d.mean() * 243)          # qlib's convention
    assert m["tracking_error"] == pytest.approx(d.std(ddof=1) * math.sqrt(243))
    assert m["information_ratio"] == pytest.approx(d.mean() / d.std(ddof=1) * math.sqrt(243))
    assert m["annual_volatility"] == pytest.approx(rp.std(ddof=1) * math.sqrt(243))
    assert m["benchmark_tr_annual_return"] == pytest.approx((10.26 / 10) ** (1 / years) - 1)
    assert m["excess_tr_annual_return"] == pytest.approx((1.03 / 1.026) ** (1 / years) - 1)
    assert m["annual_turnover"] == pytest.approx(0.5 / years)
    # the old convention (252 a year) gives another figure: it is not what is reported
    assert m["annual_return"] != pytest.approx((103 / 100) ** (252 / 4) - 1)


def test_yearly_splits_returns_and_arithmetic_excess_by_year() -> None:
    dates = [D(2020, 12, 30), D(2020, 12, 31), D(2021, 1, 4), D(2021, 1, 5)]
    nav, bench = [100.0, 102.0, 101.0, 104.0], [1.0, 1.01, 1.02, 1.02]
    y = yearly(_daily(dates, nav, bench)).sort("year")
    assert y["year"].to_list() == [2020, 2021] and y["days"].to_list() == [1, 2]   # daily returns per year
    assert y["return"].to_list() == pytest.approx([0.02, 104 / 102 - 1])
    assert y["benchmark_return"].to_list() == pytest.approx([0.01, 1.02 / 1.01 - 1])
    assert y["excess"].to_list() == pytest.approx([1.02 / 1.01 - 1, (104 / 102) / (1.02 / 1.01) - 1])
    d21 = (101 / 102 - 1) - (1.02 / 1.01 - 1) + (104 / 101 - 1) - 0.0
    assert y["excess_arith"].to_list() == pytest.approx([0.02 - 0.01, d21])
    assert "benchmark_tr_return" not in y.columns
