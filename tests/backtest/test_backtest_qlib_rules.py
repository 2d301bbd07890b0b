"""``rules="qlib"`` (a migration aid): qlib's flat 9.5 % limit both ways, its costs, cash split
over the day's buys, the first trade on the start day; hand-computed on tiny markets."""
from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest

from flyer.backtest import execution
from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from flyer.backtest.params import applied
from flyer.backtest.result import BacktestResult
from tests.backtest.conftest import HISTORY, scores_frame

A, B, C = "600001.SH", "300001.SZ", "600003.SH"


def _cfg(days: list[dt.date], **kw: Any) -> BacktestConfig:
    base = {"k": 2, "n_drop": 0, "deal_price": "close", "start": days[HISTORY], "end": days[-1], "capital": 1e6}
    return BacktestConfig(**{**base, **kw})


def _buys(res: BacktestResult) -> pl.DataFrame:
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


# --------------------------------------------------------------- unscored holdings: qlib's order
# qlib codes: 600001.SH -> SH600001, 000008.SZ -> SZ000008, 600003.SH -> SH600003. Sorted as qlib
# sorts its pandas index: SH600001 < SH600003 < SZ000008 (flyer's symbol order would put the SZ
# stock first). A held name without a score ranks last; among several, the last code goes first.
# (Under flyer's rules the seeded tie order of that day is SZ000008, SH600001, SH600003: it would
# sell SH600003 first, and SH600001 + SH600003 for two.)
S1, Z2, S3, S4, S5 = "600001.SH", "000008.SZ", "600003.SH", "600004.SH", "600005.SH"


@pytest.mark.parametrize("n_drop, sold", [(1, [Z2]), (2, [S3, Z2])])
def test_unscored_holdings_are_dropped_last_code_first(tiny, n_drop, sold) -> None:
    flat = [10.0] * 6
    store, days = tiny({S1: flat, Z2: flat, S3: flat, S4: flat, S5: flat})
    # day 2 scores buy S1, Z2, S3 on day 3; day 3 scores only S4, S5: the three holdings are unscored
    sc = scores_frame(days, {S1: [None, None, 3.0], Z2: [None, None, 2.0], S3: [None, None, 1.0],
                             S4: [None, None, 0.5, 5.0], S5: [None, None, 0.4, 4.0]})
    res = run(store, sc, _cfg(days, k=3, n_drop=n_drop, start=days[3], rules="qlib"))
    sells = res.trades().filter(pl.col("side") == "sell")
    assert sorted(sells["symbol"].to_list()) == sorted(sold) and set(sells["date"].to_list()) == {days[4]}
    bought = _buys(res).filter(pl.col("date") == days[4])["symbol"].to_list()
    assert bought == [S4, S5][:n_drop]                       # as many buys as sells, best score first


def test_qlib_order_is_its_code_order_not_flyers_symbol_order() -> None:
    from flyer.backtest.engine import qlib_code, qlib_code_keys

    syms = ["000002.SZ", S1, "300750.SZ", S3, "430047.BJ", "688001.SH"]
    keys = qlib_code_keys(syms)
    assert [s for _, s in sorted(zip(keys.tolist(), syms))] == ["430047.BJ", S1, S3, "688001.SH", "000002.SZ",
                                                                "300750.SZ"]
    assert qlib_code("000002.SZ") == "SZ000002"


# --------------------------------------------------------------- delisted stocks: qlib keeps them
def test_delisted_stock_is_held_at_its_last_close_and_takes_a_drop_slot(tiny) -> None:
    # S1 delists after day 3 (its last bar, close 10.5). Under qlib rules it stays in the book at 10.5,
    # unsellable, without a score from day 4: it fills the one drop slot, so the day-5 rebalance
    # sells nothing, buys one name (slots: 1 + k - |held| = 1) and the book holds k + 1 names;
    # from day 6 on (|held| = k + 1) no name is bought or sold.
    store, days = tiny({S1: [10.0, 10.0, 10.0, 10.5, None, None, None],
                        S3: [10.0] * 7, S4: [10.0] * 7, S5: [10.0] * 7})
    live = [None, None, 3.0, 3.0, 3.0, 3.0]
    sc = scores_frame(days, {S1: [None, None, 5.0, 5.0], S3: live, S4: [None, None, 1.0, 2.0, 2.0, 2.0],
                             S5: [None, None, 0.5, 1.0, 1.0, 1.0]})
    qlib = run(store, sc, _cfg(days, k=2, n_drop=1, start=days[3], rules="qlib"))
    trades = qlib.trades()
    assert (trades["reason"] == "trade").all() and trades.filter(pl.col("side") == "sell").height == 0
    assert trades.filter(pl.col("side") == "buy").select("date", "symbol").rows() == [
        (days[3], S1), (days[3], S3), (days[5], S4)]
    last = qlib.positions().filter(pl.col("date") == days[-1])
    assert last["symbol"].to_list() == [S1, S3, S4]
    held = last.filter(pl.col("symbol") == S1).row(0, named=True)
    assert held["value"] == pytest.approx(held["shares"] * 10.5)           # valued at its last close
    assert qlib.diagnostics.blocked_sells == 2                                 # its sell, tried on days 5 and 6
    # qlib places no order for an untradable stock: the blocked sells add no demand, the fill rate
    # counts the orders sent (lot rounding alone keeps it below 1)
    assert qlib.execution().filter(pl.col("date") == days[6])["demand"].to_list() == [0.0]
    assert 0.99 < execution.summary(qlib)["fill_rate"] <= 1.0
    ashare = run(store, sc, _cfg(days, k=2, n_drop=1, start=days[2]))    # flyer's rules: sold at the last close
    assert ashare.trades().filter(pl.col("reason") == "delisted")["symbol"].to_list() == [S1]


def test_applied_rules_say_what_qlib_mode_replaces() -> None:
    cfg = BacktestConfig().replace(participation=0.3, impact="sqrt", commission=0.001)
    ashare, qlib = applied(cfg), applied(cfg.replace(rules="qlib"))
    assert (ashare.participation, ashare.impact_k, ashare.buy_cost, ashare.sell_cost) == (0.3, 1.0, 0.001, None)
    assert (ashare.limit, ashare.cash_share, ashare.delisted) == ("board", 1.0, "sold")
    assert (qlib.participation, qlib.impact_k, qlib.buy_cost, qlib.sell_cost, qlib.min_cost) == (0.0, 0.0, 0.0005, 0.0015, 5.0)
    assert (qlib.limit, qlib.cash_share, qlib.delisted) == ("flat 9.5%", 0.95, "held")
