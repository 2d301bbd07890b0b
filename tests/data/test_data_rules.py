"""A-share rules by date and symbol formats."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from flyer.data import rules
from flyer.data.symbols import SymbolError, board_of, normalize


@pytest.mark.parametrize("raw,canon", [("sh600000", "600000.SH"), ("SZ000001", "000001.SZ"),
                                       ("600000.SS", "600000.SH"), ("688001", "688001.SH"),
                                       ("430047", "430047.BJ"), ("300750.SZ", "300750.SZ")])
def test_normalize(raw: str, canon: str) -> None:
    assert normalize(raw) == canon


def test_normalize_rejects_garbage() -> None:
    with pytest.raises(SymbolError, match="unknown symbol format"):
        normalize("AAPL")


def test_limits_by_board_and_date() -> None:
    d0, d1 = dt.date(2020, 8, 21), dt.date(2020, 8, 24)
    assert rules.limit_pct("chinext", False, d0, 100) == (0.1, 0.1)
    assert rules.limit_pct("chinext", False, d1, 100) == (0.2, 0.2)
    assert rules.limit_pct("chinext", False, d1, 3) is None
    assert rules.limit_pct("main", True, d1, 100) == (0.05, 0.05)
    assert rules.limit_pct("main", False, dt.date(2023, 4, 7), 1) == (0.44, 0.36)
    assert rules.limit_pct("main", False, dt.date(2023, 4, 10), 1) is None
    assert rules.limit_pct("star", False, d0, 10) == (0.2, 0.2)
    assert rules.limit_pct("bse", False, d1, 10) == (0.3, 0.3)
    assert board_of("688001.SH") == "star" and board_of("301001.SZ") == "chinext"


def test_limit_expr_matches_scalar() -> None:
    cases = [("main", False, dt.date(2019, 1, 2), 50), ("main", True, dt.date(2019, 1, 2), 50),
             ("chinext", False, dt.date(2021, 1, 4), 50), ("chinext", False, dt.date(2021, 1, 4), 2),
             ("bse", False, dt.date(2022, 1, 4), 9), ("main", False, dt.date(2018, 1, 2), 1)]
    df = pl.DataFrame(cases, schema=["board", "st", "date", "day"], orient="row")
    got = df.select(rules.limit_pct_expr(pl.col("board"), pl.col("st"), pl.col("date"), pl.col("day")))
    want = [None if (x := rules.limit_pct(*c)) is None else x[0] for c in cases]
    assert got.to_series().to_list() == want


def test_costs_by_date() -> None:
    assert rules.stamp_duty_rate(dt.date(2023, 8, 25)) == 0.001
    assert rules.stamp_duty_rate(dt.date(2023, 8, 28)) == 0.0005
    assert rules.transfer_fee_rate(dt.date(2021, 1, 4), "SH") == 0.00002
    assert rules.transfer_fee_rate(dt.date(2021, 1, 4), "SZ") == 0.0
    assert rules.transfer_fee_rate(dt.date(2022, 4, 29), "SZ") == 0.00001
    assert rules.lot_rules("star") == (200, 1) and rules.lot_rules("main") == (100, 100)
