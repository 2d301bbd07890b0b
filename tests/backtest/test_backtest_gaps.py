"""Coverage gaps in a backtest are never silent: a stock whose bars end because a file ended is
not delisted (held at its last close, untradable, reported), the benchmark weight in members
without bars is reported per year, and the total-return benchmark is estimated from members'
cash dividends when the store has no TR index."""
from __future__ import annotations

import polars as pl
import pytest

from flyer.backtest.api import run
from flyer.backtest.benchmark import estimated_total_return
from flyer.backtest.config import BacktestConfig
from flyer.backtest.loader import load
from tests.backtest.conftest import HISTORY, scores_frame

A, B = "600001.SH", "600002.SH"


def _cfg(days, **kw) -> BacktestConfig:
    # no volume limit: these markets trade 1e6 shares a day, a 10 % cap would spread the buys
    return BacktestConfig(k=1, n_drop=1, deal_price="close", start=days[HISTORY], end=days[-1],
                          **{"participation": 0.0, **kw})


def test_file_ending_stock_is_held_not_force_sold(tiny) -> None:
    closes = {A: [10, 10, 10, 10.5, 11.0, None, None, None], B: [10.0] * 8}
    store, days = tiny(closes, ends_unknown=(A,), members={A: 0.5, B: 0.5})
    sc = scores_frame(days, {A: [None, None, 1.0, 1.0, 1.0, None, None], B: [None, None, 0.0] * 1 + [0.0] * 4})
    res = run(store, sc, _cfg(days))
    assert store.instruments().filter(pl.col("symbol") == A)["delist_date"][0] is None
    trades = res.trades()
    assert trades.filter(pl.col("reason") == "delisted").height == 0      # not "delisted"
    assert trades.filter((pl.col("symbol") == A) & (pl.col("side") == "sell")).height == 0   # nor sold
    pos = res.positions().filter(pl.col("symbol") == A)
    assert pos["date"].max() == days[-1]                                   # still held at the end
    assert pos["value"].tail(3).to_list() == pytest.approx([pos["value"][-1]] * 3)   # frozen at the last close
    assert res.diagnostics.blocked_sells > 0                                   # B would replace it: no bar to sell on
    held = {r["year"]: r for r in res.diagnostics.held_without_bars.iter_rows(named=True)}
    assert held[days[-1].year]["max_share"] > 0.9
    assert any("NAV held in stocks without bars" in n for n in res.diagnostics.notes)
    missing = {r["year"]: r for r in res.diagnostics.run.members_without_bars.iter_rows(named=True)}
    share = sum(1 for d in days[HISTORY:] if d > days[4]) / len(days[HISTORY:])
    assert missing[days[-1].year]["weight_missing"] == pytest.approx(0.5 * share)
    assert any("benchmark members without bars" in n for n in res.diagnostics.notes)


def test_known_delisting_is_still_force_sold(tiny) -> None:
    closes = {A: [10, 10, 10, 10.5, 11.0, None, None, None], B: [10.0] * 8}
    store, days = tiny(closes)
    res = run(store, scores_frame(days, {A: [None, None, 1.0]}), _cfg(days))
    assert res.trades().filter(pl.col("reason") == "delisted")["date"].to_list() == [days[5]]
    assert all(r["max_share"] == 0 for r in res.diagnostics.held_without_bars.iter_rows(named=True))


def test_total_return_estimate_adds_members_cash_dividends(tiny) -> None:
    # A pays a 2 % cash dividend on day 3 (adj factor step), B splits 2-for-1 on day 4 (ignored)
    adj = {A: [1, 1, 1, 1.02, 1.02, 1.02, 1.02], B: [1, 1, 1, 1, 2.0, 2.0, 2.0]}
    closes = {A: [10.0, 10, 10, 9.8, 9.8, 9.8, 9.8], B: [10.0, 10, 10, 10, 5, 5, 5]}
    store, days = tiny(closes, adj=adj, members={A: 0.5, B: 0.5})
    price = store.index_bars("000905.SH").select("date", "close")
    data, _, _ = load(store, scores_frame(days, {A: [1.0] * len(days)}), BacktestConfig(start=days[0], end=days[-1]))
    est = estimated_total_return(data, "000905.SH", price)
    assert est is not None
    tr, label = est
    assert "estimated" in label
    ratio = (tr["tr"] / price["close"]).to_list()
    assert ratio == pytest.approx([1, 1, 1, 1.01, 1.01, 1.01, 1.01])
    res = run(store, scores_frame(days, {A: [None, None, 1.0], B: [None, None, 0.5]}), _cfg(days))
    m = res.metrics()
    assert "estimated total return" in m["benchmark_tr"]
    assert m["benchmark_tr_annual_return"] > m["benchmark_annual_return"]
    assert "benchmark_tr" in res.daily().columns
