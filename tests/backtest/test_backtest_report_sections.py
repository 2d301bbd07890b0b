"""The backtest page's quantstats-style sections: the ratio functions against their textbook
formulas (quantstats' definitions re-derived by hand, annualised by the calendar instead of 252),
drawdown periods, trailing returns and win rates on hand-built NAVs, and the sections of a
generated page found by id."""
from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flyer.backtest import metrics as mx
from flyer.backtest import tearsheet as ts
from flyer.data.calendar import sse_calendar

RNG = np.random.default_rng(3)


def _daily(nav: list[float] | np.ndarray, bench: list[float] | np.ndarray, start: dt.date = dt.date(2019, 1, 2)
           ) -> pl.DataFrame:
    days = sse_calendar(start, start + dt.timedelta(days=3 * len(nav) + 30))[:len(nav)]
    return pl.DataFrame({"date": days, "nav": np.asarray(nav, float), "benchmark": np.asarray(bench, float),
                         "turnover": 0.0, "costs": 0.0})


def test_ratios_match_their_definitions() -> None:
    r = RNG.normal(0.0005, 0.01, 500)
    b = 0.6 * r + RNG.normal(0.0, 0.006, 500)
    per_year = 243.0
    down = math.sqrt(np.sum(np.minimum(r, 0) ** 2) / r.size)
    assert mx.sortino(r, per_year) == pytest.approx(r.mean() / down * math.sqrt(per_year))
    assert mx.omega(r) == pytest.approx(r[r > 0].sum() / -r[r < 0].sum())
    assert mx.tail_ratio(r) == pytest.approx(abs(np.quantile(r, 0.95)) / abs(np.quantile(r, 0.05)))
    assert mx.gain_pain(r) == pytest.approx(r.sum() / -r[r < 0].sum())
    assert mx.calmar(0.12, -0.3) == pytest.approx(0.4) and math.isnan(mx.calmar(0.1, 0.0))
    beta, alpha, corr = mx.beta_alpha(r, b, per_year)
    slope, intercept = np.polyfit(b, r, 1)
    assert beta == pytest.approx(slope) and alpha == pytest.approx(intercept * per_year)
    assert corr == pytest.approx(np.corrcoef(r, b)[0, 1])
    assert math.isnan(mx.sortino(np.abs(r), per_year)) and math.isnan(mx.omega(np.abs(r)))


def test_drawdown_periods_hand_case() -> None:
    curve = np.array([1.0, 1.1, 1.0, 0.9, 1.05, 1.1, 1.2, 1.08, 1.1])
    days = list(range(curve.size))
    got = mx.drawdown_periods(days, curve)
    assert got[0] == {"start": 2, "valley": 3, "recovery": 5, "depth": pytest.approx(0.9 / 1.1 - 1), "days": 3}
    assert got[1] == {"start": 7, "valley": 7, "recovery": None, "depth": pytest.approx(1.08 / 1.2 - 1), "days": 2}
    table = ts.drawdown_table(_daily(curve, np.ones(curve.size)))
    assert table["depth"].to_list() == pytest.approx([0.9 / 1.1 - 1, 1.08 / 1.2 - 1])  # deepest first
    assert table["recovery"].null_count() == 1 and table.columns == ["start", "valley", "recovery", "depth", "days",
                                                                     "calendar_days"]


def test_trailing_returns_are_whole_windows_or_nothing() -> None:
    n = 600
    nav = np.cumprod(np.r_[1.0, 1 + RNG.normal(0.0004, 0.01, n - 1)])
    bench = np.cumprod(np.r_[1.0, 1 + RNG.normal(0.0002, 0.01, n - 1)])
    daily = _daily(nav, bench, dt.date(2019, 3, 1))
    days = daily["date"].to_list()
    out = {r["period"]: r for r in ts.trailing_returns(daily).iter_rows(named=True)}
    last = days[-1]
    ytd = max(i for i, d in enumerate(days) if d < dt.date(last.year, 1, 1))
    assert out["YTD"]["start"] == days[ytd] and out["YTD"]["portfolio"] == pytest.approx(nav[-1] / nav[ytd] - 1)
    mtd = max(i for i, d in enumerate(days) if d < last.replace(day=1))
    assert out["MTD"]["portfolio"] == pytest.approx(nav[-1] / nav[mtd] - 1)
    assert out["3M"]["excess"] == pytest.approx((1 + out["3M"]["portfolio"]) / (1 + out["3M"]["benchmark"]) - 1)
    assert out["3Y (per year)"]["portfolio"] is None  # the data does not reach back three years: no shorter window
    assert out["all (per year)"]["portfolio"] == pytest.approx(mx.summary(daily)["annual_return"])


def test_win_rates_count_periods() -> None:
    nav = [1.0, 1.01, 1.00, 1.02, 1.03]
    bench = [1.0, 1.0, 1.01, 1.00, 1.01]
    rates = ts.win_rates(_daily(nav, bench)).row(0, named=True)  # days
    assert rates["period"] == "day" and rates["periods"] == 4
    assert rates["portfolio"] == pytest.approx(3 / 4) and rates["benchmark"] == pytest.approx(2 / 4)
    assert rates["beat_benchmark"] == pytest.approx(2 / 4)  # days 1 and 3 (day 4: 0.98 % < 1 %)


def test_ratio_table_uses_the_calendar_and_the_benchmark_column() -> None:
    n = 300
    nav = np.cumprod(np.r_[1.0, 1 + RNG.normal(0.0004, 0.01, n - 1)])
    bench = np.cumprod(np.r_[1.0, 1 + RNG.normal(0.0002, 0.01, n - 1)])
    daily = _daily(nav, bench)
    t = {r["ratio"]: r for r in ts.ratio_table(daily, {2019: 244, 2020: 243}).iter_rows(named=True)}
    m = mx.summary(daily, year_days={2019: 244, 2020: 243})
    assert t["sharpe"]["portfolio"] == pytest.approx(m["sharpe"]) and t["max_drawdown"]["portfolio"] == m["max_drawdown"]
    assert t["annual_volatility"]["portfolio"] == pytest.approx(m["annual_volatility"])
    assert t["calmar"]["portfolio"] == pytest.approx(m["annual_return"] / abs(m["max_drawdown"]))
    assert t["beta"]["benchmark"] is None and t["omega"]["benchmark"] is not None
    rb = ts.rolling_beta_vol(daily, windows=(60,))
    assert rb.columns == ["date", "beta_60", "volatility", "benchmark_volatility"] and rb["beta_60"].drop_nulls().len()


SECTION_IDS = ("definitions", "ratios", "trailing", "win-rates", "drawdowns", "excess-drawdowns", "rolling-beta",
               "yearly", "monthly-returns", "monthly-excess", "costs", "rolling", "distribution", "signal",
               "exposures", "top-holdings", "largest-trades")


def test_generated_page_has_every_section(sim_store, tmp_path: Path) -> None:  # noqa: ANN001
    from flyer import backtest, factors
    from flyer.backtest.report import write_report

    values = factors.values(sim_store, {"rev5": "-1 * ($close / Ref($close, 5) - 1)"}, universe="csi500",
                            start=dt.date(2019, 1, 1))
    scores = values.select("date", "symbol", pl.col("rev5").alias("score"))
    result = backtest.run(sim_store, scores, backtest.BacktestConfig(k=10, n_drop=2))
    page = write_report(result, tmp_path / "r.html", store=sim_store, scores=scores).read_text()
    ids = set(re.findall(r"id='([^']+)'", page))
    missing = [s for s in SECTION_IDS if s not in ids]
    assert not missing, missing
    assert page.count("<h2>Definitions</h2>") == 1 and "never a fixed 252" in page
    for heading in ("Key ratios", "Trailing returns", "Win rates", "Worst drawdowns", "Rolling beta and volatility",
                    "Monthly returns", "Sortino ratio", "Calmar ratio", "Omega ratio", "tail ratio", "gain/pain"):
        assert heading in page, heading
