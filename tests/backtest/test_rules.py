"""One tiny hand-built market per A-share rule, run through ``flyer.backtest.api.run``."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from flyer.backtest import rules_nb
from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from flyer.backtest.market import load_market
from tests.backtest.conftest import HISTORY, scores_frame

A, B, C = "600001.SH", "600002.SH", "600003.SH"
FLAT = [10.0] * 8


def _cfg(days, **kw) -> BacktestConfig:
    base = dict(k=1, n_drop=1, deal_price="open", start=days[HISTORY], end=days[-1], capital=1e6)
    base.update(kw)
    return BacktestConfig(**base)


def _trades(res, side=None, symbol=None) -> pl.DataFrame:
    t = res.trades()
    if side:
        t = t.filter(pl.col("side") == side)
    if symbol:
        t = t.filter(pl.col("symbol") == symbol)
    return t


def test_buy_blocked_at_limit_up_then_retried_next_day(tiny):
    # A opens at 11.00 = 10 * 1.1 on day 3: limit-up, no buy; day 4 opens 11.5 (< 12.10)
    store, days = tiny({A: [10, 10, 10, 11.0, 11.5, 11.5, 11.5], B: [20.0] * 7},
                       opens={A: [10, 10, 10, 11.0, 11.5, 11.5, 11.5]})
    sc = scores_frame(days, {A: [None, None, 1.0], B: [None, None, 0.0]})
    res = run(store, sc, _cfg(days, retry="next_day"))
    buys = _trades(res, "buy")
    assert buys["symbol"].to_list() == [A] and buys["date"][0] == days[4]
    assert res.diagnostics.blocked_buys == 1
    res = run(store, sc, _cfg(days, retry="next_rebalance"))
    assert _trades(res, "buy").height == 0 and res.nav[-1] == pytest.approx(1e6)


def test_limit_up_st_is_five_percent(tiny):
    # ST A opening at +5 % (10.50) is at its limit on day 3; day 4 opens at 10.0
    store, days = tiny({A: [10, 10, 10, 10.5, 10.5, 10.5]}, opens={A: [10, 10, 10, 10.5, 10.0, 10.5]},
                       st={A: list(range(6))})
    sc = scores_frame(days, {A: [None, None, 1.0, 1.0]})
    assert _trades(run(store, sc, _cfg(days)), "buy")["date"].to_list() == [days[4]]


def test_close_at_limit_up_blocks_close_deals_only(tiny):
    # A opens at 10.2 and closes at its limit 11.00 on day 3
    store, days = tiny({A: [10, 10, 10, 11.0, 11.0, 11.0]}, opens={A: [10, 10, 10, 10.2, 11.0, 11.0]})
    sc = scores_frame(days, {A: [None, None, 1.0, 1.0]})
    assert _trades(run(store, sc, _cfg(days)), "buy")["date"].to_list() == [days[3]]
    assert _trades(run(store, sc, _cfg(days, deal_price="close")), "buy")["date"].to_list() == [days[4]]


def test_sell_blocked_at_limit_down(tiny):
    closes = {A: [10, 10, 10, 10, 9.0, 9.5, 9.5], B: [20.0] * 7}
    store, days = tiny(closes, opens={A: [10, 10, 10, 10, 9.0, 9.5, 9.5]})
    sc = scores_frame(days, {A: [None, None, 1.0, 0.0, 0.0], B: [None, None, 0.0, 1.0, 1.0]})
    res = run(store, sc, _cfg(days))
    sells = _trades(res, "sell")
    assert sells["date"].to_list() == [days[5]] and sells["price"][0] == pytest.approx(9.5)
    assert res.diagnostics.blocked_sells == 1


def test_ipo_and_chinext_limits(tiny):
    # C lists on day 2 (main board after 2023-04-10: no limit for 5 days); 300001 has +-20 %;
    # A (main board, listed long ago) at +15 % is at/above its 10 % limit
    store, days = tiny({C: [None, None, 10, 13, 13, 13], "300001.SZ": [10, 10, 10, 11.5, 11.5, 11.5],
                        A: [10, 10, 10, 11.5, 11.5, 11.5]}, start=dt.date(2023, 6, 1))
    m = load_market(store, [A, C, "300001.SZ"], days[HISTORY], days[-1], "close")
    col = {s: j for j, s in enumerate(m.symbols)}
    assert not m.arrays.buy_block[:2, col[C]].any() and not m.arrays.buy_block[:2, col["300001.SZ"]].any()
    assert m.arrays.buy_block[1, col[A]] and not m.arrays.buy_block[2, col[A]]


def test_lot_rounding_main_and_star(tiny):
    store, days = tiny({A: [33.33] * 5, "688001.SH": [33.33] * 5})
    sc = scores_frame(days, {A: [None, None, 1.0]})
    res = run(store, sc, _cfg(days, capital=10_000))
    assert _trades(res, "buy")["shares"].to_list() == [200.0]     # 300 lots cost 9999 + fees > cash
    sc = scores_frame(days, {"688001.SH": [None, None, 1.0]})
    res = run(store, sc, _cfg(days, capital=10_000))
    assert _trades(res, "buy")["shares"].to_list() == [299.0]     # STAR: >= 200, then 1 share steps
    assert res.cash.min() >= 0


def test_minimum_commission(tiny):
    store, days = tiny({A: [33.33] * 5})
    sc = scores_frame(days, {A: [None, None, 1.0]})
    small = _trades(run(store, sc, _cfg(days, capital=10_000)), "buy")
    assert small["commission"][0] == pytest.approx(5.0)
    big = _trades(run(store, sc, _cfg(days, capital=1e7)), "buy")
    assert big["commission"][0] == pytest.approx(big["value"][0] * 0.00025)
    assert big["value"][0] * 0.00025 > 5


def test_stamp_duty_before_and_after_2023_08_28(tiny):
    # trade days: 08-23 buy A; 08-25 sell A (0.1 %), buy B; 08-28 sell B (0.05 %)
    store, days = tiny({A: [10.0] * 7, B: [10.0] * 7}, start=dt.date(2023, 8, 21))
    assert days[4] == dt.date(2023, 8, 25) and days[5] == dt.date(2023, 8, 28)
    sc = scores_frame(days, {A: [None, 1.0, None, 0.0, 1.0], B: [None, 0.0, None, 1.0, 0.0]})
    res = run(store, sc, _cfg(days, start=days[1]))
    sells = _trades(res, "sell").sort("date")
    assert sells["date"].to_list() == [days[4], days[5]]
    assert sells["stamp_duty"][0] == pytest.approx(sells["value"][0] * 0.001)
    assert sells["stamp_duty"][1] == pytest.approx(sells["value"][1] * 0.0005)
    assert (res.trades().filter(pl.col("side") == "buy")["stamp_duty"] == 0).all()


def test_suspended_holding_waits_for_next_rebalance(tiny):
    store, days = tiny({A: [10.0] * 8, B: [10.0] * 8}, suspended={A: [4]})
    sc = scores_frame(days, {A: [None, None, 1.0, 0.0, None, 0.0], B: [None, None, 0.0, 1.0, None, 1.0]})
    res = run(store, sc, _cfg(days))
    assert _trades(res, "sell", A)["date"].to_list() == [days[6]]
    assert res.diagnostics.blocked_sells == 1
    # the NAV keeps valuing A at its last close while suspended
    assert res.daily()["nav"][2] == pytest.approx(res.nav[1], rel=1e-9)


def test_delisted_holding_sold_at_last_price(tiny):
    store, days = tiny({A: [10, 10, 10, 10, 12.0, None, None, None], B: [10.0] * 8})
    sc = scores_frame(days, {A: [None, None, 1.0]})
    res = run(store, sc, _cfg(days))
    sells = _trades(res, "sell")
    assert sells["reason"].to_list() == ["delisted"] and sells["date"][0] == days[5]
    assert sells["price"][0] == pytest.approx(12.0) and sells["slippage"][0] == 0
    nav = res.nav
    assert nav[-1] == pytest.approx(nav[2] - sells["total_cost"][0], rel=1e-12)   # value kept, fees paid
    assert res.positions().filter(pl.col("date") >= days[5]).height == 0


def test_split_scales_raw_shares_and_keeps_nav(tiny):
    # 2-for-1 split on day 4: raw price halves, adj factor doubles
    store, days = tiny({A: [10, 10, 10, 10, 5.0, 5.0]}, adj={A: [1, 1, 1, 1, 2.0, 2.0]})
    sc = scores_frame(days, {A: [None, None, 1.0]})
    res = run(store, sc, _cfg(days))
    pos = res.positions().sort("date")
    assert pos["shares"][1] == pytest.approx(2 * pos["shares"][0])
    assert res.nav[2] == pytest.approx(res.nav[1], rel=1e-12)


def test_t_plus_one_rules():
    # 300 held, 200 of them bought today: only the 100 old shares may be sold, not the whole
    assert rules_nb.sell_lot_nb(300.0, 300.0, 100.0, 100.0, 100.0) == 100.0
    assert rules_nb.sell_lot_nb(300.0, 300.0, 0.0, 100.0, 100.0) == 0.0
    assert rules_nb.sell_lot_nb(250.0, 350.0, 350.0, 100.0, 100.0) == 200.0   # lots
    assert rules_nb.sell_lot_nb(350.0, 350.0, 350.0, 100.0, 100.0) == 350.0   # odd remainder sold whole
    assert rules_nb.sell_lot_nb(150.0, 350.0, 350.0, 200.0, 1.0) == 0.0       # STAR: >= 200 per order
