"""``rules="qlib"`` (a migration aid): qlib's flat 9.5 % limit both ways, its costs, cash split
over the day's buys, the first trade on the start day; hand-computed on tiny markets."""
from __future__ import annotations

import polars as pl
import pytest

from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from tests.backtest.conftest import HISTORY, scores_frame

A, B, C = "600001.SH", "300001.SZ", "600003.SH"


def _cfg(days, **kw) -> BacktestConfig:
    base = dict(k=2, n_drop=0, deal_price="close", start=days[HISTORY], end=days[-1], capital=1e6)
    return BacktestConfig(**{**base, **kw})


def _buys(res) -> pl.DataFrame:  # noqa: ANN001
    return res.trades().filter(pl.col("side") == "buy")


def test_flat_limit_blocks_both_sides_on_every_board(tiny) -> None:
    # day 3: A (main board, 10 % limit) +9.6 %, B (ChiNext, 20 % limit) +12 %: tradable under
    # A-share rules, both at qlib's flat 9.5 % threshold
    store, days = tiny({A: [10, 10, 10, 10.96, 10.96], B: [10, 10, 10, 11.2, 11.2], C: [10.0] * 5})
    sc = scores_frame(days, {A: [None, None, 2.0], B: [None, None, 1.0], C: [None, None, 0.5]})
    ashare = run(store, sc, _cfg(days))
    qlib = run(store, sc, _cfg(days, rules="qlib", start=days[HISTORY + 1]))
    assert sorted(_buys(ashare)["symbol"].to_list()) == sorted([A, B])
    assert _buys(qlib).filter(pl.col("date") == days[3]).height == 0 and qlib.diagnostics.blocked_buys == 2


def test_cash_split_costs_and_start_day(tiny) -> None:
    store, days = tiny({A: [10.0] * 6, B: [10.0] * 6, C: [10.0] * 6})
    sc = scores_frame(days, {A: [None, None, 2.0, 2.0], C: [None, None, 1.0, 1.0]})
    # flyer's start is the first signal day, qlib's the first trading day: both trade on day 3
    ashare = run(store, sc, _cfg(days, k=2, n_drop=1, start=days[2]))
    qlib = run(store, sc, _cfg(days, k=2, n_drop=1, start=days[3], rules="qlib"))
    for res in (ashare, qlib):
        assert _buys(res)["date"].to_list() == [days[3]] * 2
    assert _buys(ashare)["value"].to_list() == pytest.approx([500_000.0] * 2, abs=1_000.0)  # 1/k of NAV (less a lot: fees)
    buys = _buys(qlib)
    assert buys["value"].to_list() == pytest.approx([1e6 * 0.95 / 2] * 2, abs=10.0)  # cash x 0.95 over 2 buys
    assert buys["commission"].to_list() == pytest.approx((buys["value"] * 0.0005).to_list())
    assert (buys["stamp_duty"] == 0).all() and (buys["transfer_fee"] == 0).all()
    sell = qlib.trades().filter(pl.col("side") == "sell").row(0, named=True)          # n_drop 1: C, the worst
    assert sell["symbol"] == C and sell["date"] == days[4]
    assert sell["commission"] + sell["stamp_duty"] == pytest.approx(sell["value"] * 0.0015)  # qlib's close cost
    assert sell["transfer_fee"] == 0


def test_qlib_rules_refuse_what_qlib_has_no_equivalent_for() -> None:
    with pytest.raises(ValueError, match="reproduces qlib's TopkDropout"):
        BacktestConfig(rules="qlib", weighting="score")
