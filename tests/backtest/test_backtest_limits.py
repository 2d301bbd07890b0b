"""Volume-limited execution and square-root market impact on hand-built markets: a thin stock
fills over several days, a rest is carried or cancelled, sells are cut in lots, impact equals
the formula, and the engine's liquidity windows match the reference simulator's constants."""
from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from flyer.backtest import market, reference, rules_nb
from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from tests.backtest.conftest import HISTORY, scores_frame

A, B = "600001.SH", "600002.SH"


def _cfg(days, start: int = HISTORY, **kw) -> BacktestConfig:
    costs = {k: kw.pop(k) for k in ("impact", "impact_k") if k in kw}
    base = dict(k=1, n_drop=0, deal_price="open", start=days[start], end=days[-1], capital=1e6)
    base.update(kw)
    return BacktestConfig(**base).replace(**costs)


def _buys(res, symbol: str = A) -> list[tuple[int, float]]:
    t = res.trades().filter((pl.col("side") == "buy") & (pl.col("symbol") == symbol))
    day = {d: i for i, d in enumerate(res.dates)}
    return [(day[d], s) for d, s in zip(t["date"].to_list(), t["shares"].to_list())]


def test_thin_stock_fills_over_several_days(tiny) -> None:
    # 1e6 CNY into A at 10 CNY = 100,000 shares wanted; A trades 250,000 shares a day: 10 %
    # participation fills at most 25,000 a day, so the order needs four days (the last one
    # bound by the cash left after fees, not by volume)
    store, days = tiny({A: [10.0] * 10}, volumes={A: [2.5e5] * 10})
    sc = scores_frame(days, {A: [None, None] + [1.0] * 8})
    res = run(store, sc, _cfg(days, participation=0.1))
    assert _buys(res) == [(1, 25_000), (2, 25_000), (3, 25_000), (4, 24_900)]
    assert res.diagnostics.capped_buys == 3 and res.capped[:, 0].tolist()[:5] == [0, 1, 1, 1, 0]
    ex = res.execution()
    assert ex["demand"][1] == pytest.approx(1e6) and ex["fill_rate"][1] == pytest.approx(0.25)
    assert ex["demand"][2] == pytest.approx(750_000) and ex["filled"][2] == pytest.approx(250_000)
    assert res.trades()["participation"].max() == pytest.approx(0.1)
    # the same order without a limit fills at once
    assert _buys(run(store, sc, _cfg(days, participation=0.0))) == [(1, 99_900)]
    # cancel: the next (daily) rebalance drops the rest, the holding stays at a quarter
    res = run(store, sc, _cfg(days, participation=0.1, remainder="cancel"))
    assert _buys(res) == [(1, 25_000)] and res.diagnostics.capped_buys == 1
    assert res.positions().filter(pl.col("date") == days[-1])["shares"].to_list() == [25_000]


def test_rest_survives_days_without_rebalance(tiny) -> None:
    # scores only on the first signal day and retry="next_rebalance": a limit-blocked order
    # would be forgotten the next day, a volume-capped rest is not
    store, days = tiny({A: [10.0] * 8}, volumes={A: [4e5] * 8})
    sc = scores_frame(days, {A: [None, None, 1.0]})
    res = run(store, sc, _cfg(days, participation=0.1, retry="next_rebalance", remainder="cancel"))
    assert _buys(res) == [(1, 40_000), (2, 40_000), (3, 19_900)]


def test_capped_sells_in_lots_then_the_whole_rest(tiny) -> None:
    # buy 99,900 A on day 1 (volume ample), then B scores higher from day 2 on: A is sold at
    # floor(0.1 x 123,450) = 12,345 -> 12,300 shares (a lot multiple) a day, the odd rest whole
    n = 16
    vol_a = [2e6] * 4 + [123_450.0] * (n - 4)
    store, days = tiny({A: [10.0] * n, B: [20.0] * n}, volumes={A: vol_a, B: [1e8] * n})
    sc = scores_frame(days, {A: [None, None, 1.0] + [0.0] * (n - 3), B: [None, None, 0.0] + [1.0] * (n - 3)})
    res = run(store, sc, _cfg(days, n_drop=1, participation=0.1))
    t = res.trades().filter((pl.col("side") == "sell") & (pl.col("symbol") == A))
    assert t["shares"].to_list() == [12_300] * 8 + [1_500]
    assert t["date"].to_list() == days[HISTORY + 2:HISTORY + 11]
    # B is bought only with the cash each day's A sale frees: holdings drift from the target
    assert res.trades().filter((pl.col("side") == "buy") & (pl.col("symbol") == B)).height == 1
    assert res.diagnostics.capped_sells == 8


def test_star_lot_under_the_cap_never_fills(tiny) -> None:
    # STAR: at least 200 shares; 10 % of 1,500 = 150 < 200, so nothing fills and the order waits
    star = "688001.SH"
    store, days = tiny({star: [10.0] * 6}, volumes={star: [1500.0] * 6})
    sc = scores_frame(days, {star: [None, None] + [1.0] * 4})
    res = run(store, sc, _cfg(days, participation=0.1))
    assert res.trades().height == 0 and res.diagnostics.capped_buys == 3
    assert res.execution()["fill_rate"].drop_nulls().to_list() == [0.0] * 3


def _impact_market(tiny):
    rng = np.random.default_rng(7)
    n = 30
    closes = list(np.round(10 * np.exp(np.cumsum(rng.normal(0, 0.02, n))), 2))
    vols = list(rng.integers(2e5, 2e6, n).astype(float))
    store, days = tiny({A: closes}, volumes={A: vols})
    return store, days, closes, vols


def test_impact_cost_equals_the_square_root_formula(tiny) -> None:
    store, days, closes, vols = _impact_market(tiny)
    t0 = 25                                   # signal on day 24, the buy fills at day 25's open
    sc = scores_frame(days, {A: [None] * (t0 - 1) + [1.0]})
    res = run(store, sc, _cfg(days, start=t0 - 1, participation=0.0, impact="sqrt", impact_k=0.8))
    fill = res.trades().row(0, named=True)
    # by hand: the 20 traded days before day 25, ADV = mean volume x close
    amounts = [v * c for v, c in zip(vols[t0 - 20:t0], closes[t0 - 20:t0])]
    rets = [math.log(closes[k] / closes[k - 1]) for k in range(t0 - 20, t0)]
    adv, sigma = sum(amounts) / 20, float(np.std(rets, ddof=1))
    q = fill["shares"] * closes[t0]
    assert fill["impact"] == pytest.approx(0.8 * sigma * math.sqrt(q / adv) * q, rel=1e-9)
    m = res.market.arrays
    assert m.adv[1, 0] == pytest.approx(adv, rel=1e-12) and m.sigma[1, 0] == pytest.approx(sigma, rel=1e-12)
    # the cash paid = value + commission + transfer fee + impact, and one more lot would not fit
    cash = res.cash[1]
    assert 1e6 - cash == pytest.approx(q + fill["commission"] + fill["transfer_fee"] + fill["impact"], rel=1e-12)
    more = fill["shares"] + 100
    cost = rules_nb.buy_cost_nb(more, closes[t0], closes[t0], 0.00025, 5.0, 0.00001, adv, sigma, 0.8)
    assert cost > 1e6 and fill["total_cost"] == pytest.approx(
        fill["commission"] + fill["transfer_fee"] + fill["impact"])
    # impact off: the same fill is bigger and its impact column is 0
    plain = run(store, sc, _cfg(days, start=t0 - 1, participation=0.0)).trades().row(0, named=True)
    assert plain["impact"] == 0.0 and plain["shares"] > fill["shares"]


def test_impact_needs_a_window(tiny) -> None:
    store, days, closes, vols = _impact_market(tiny)
    m = market.load_market(store, [A], days[0], days[-1], "open").arrays
    # day 0: no earlier bar; day 1: an ADV, no return; day 2: one return (sigma needs two); day 3: both
    assert np.isnan(m.adv[0, 0]) and m.adv[1, 0] > 0 and np.isnan(m.sigma[2, 0]) and m.sigma[3, 0] > 0
    unpriced = run(store, scores_frame(days, {A: [None, 1.0]}), _cfg(days, start=1, participation=0.0, impact="sqrt"))
    assert unpriced.trades()["impact"].to_list() == [0.0]
    priced = run(store, scores_frame(days, {A: [None, None, 1.0]}), _cfg(days, start=2, participation=0.0, impact="sqrt"))
    assert priced.trades()["impact"][0] > 0


def test_impact_on_a_sale(tiny) -> None:
    _, _, closes, vols = _impact_market(tiny)
    store2, days2 = tiny({A: closes, B: [20.0] * 30}, volumes={A: vols, B: [1e8] * 30})
    sc = scores_frame(days2, {A: [None] * 22 + [1.0, 0.0], B: [None] * 22 + [0.0, 1.0]})
    res = run(store2, sc, _cfg(days2, start=22, n_drop=1, participation=0.0, impact="sqrt"))
    sell = res.trades().filter((pl.col("side") == "sell")).row(0, named=True)
    i = res.dates.index(sell["date"])
    m = res.market.arrays
    q = sell["shares"] * m.deal[i, 0]
    assert sell["impact"] == pytest.approx(m.sigma[i, 0] * math.sqrt(q / m.adv[i, 0]) * q, rel=1e-9)
    assert sell["impact"] > 0


def test_impact_rate_kernel() -> None:
    assert rules_nb.impact_rate_nb(1e4, 10.0, 1e7, 0.02, 1.0) == pytest.approx(0.02 * math.sqrt(0.01))
    assert rules_nb.impact_rate_nb(1e4, 10.0, np.nan, 0.02, 1.0) == 0.0
    assert rules_nb.impact_rate_nb(1e4, 10.0, 1e7, np.nan, 1.0) == 0.0
    assert rules_nb.impact_rate_nb(1e4, 10.0, 1e7, 0.02, 0.0) == 0.0
    assert rules_nb.volume_cap_nb(123_456.0, 0.1) == 12_345 and rules_nb.volume_cap_nb(0.0, 0.1) == 0.0
    assert rules_nb.volume_cap_nb(np.nan, 0.1) == 0.0 and math.isinf(rules_nb.volume_cap_nb(5.0, 0.0))
    # bisection = the largest lot whose cost fits, found by stepping down one lot at a time
    args = (10.0, 10.0, 0.00025, 5.0, 0.00001, 2e6, 0.03, 1.0)
    for cash in (1e5, 3.3e5, 1e6, 4e6):
        n = rules_nb.affordable_impact_nb(cash, 10.0, 10.0, 1e6, 100.0, 100.0, *args[2:])
        step = 1e6
        while step >= 100 and rules_nb.buy_cost_nb(step, *args) > cash:
            step -= 100
        assert n == step


def test_reference_uses_the_engines_windows() -> None:
    assert reference.WINDOW == market.LIQUIDITY_WINDOW and reference.LOOKBACK == market.LOOKBACK


def test_config_validates_the_new_settings() -> None:
    with pytest.raises(ValueError, match="participation"):
        BacktestConfig(participation=1.5)
    with pytest.raises(ValueError, match="remainder"):
        BacktestConfig(remainder="later")
    with pytest.raises(ValueError, match="impact"):
        BacktestConfig().replace(impact="linear")
    assert BacktestConfig.from_dict({"participation": 0.05, "impact": "sqrt", "impact_k": 0.6}).costs.impact_k == 0.6


def test_tomorrows_orders_honour_the_participation_limit(tiny) -> None:
    from flyer.backtest.orders import orders_for_tomorrow

    # ADV = 250,000 shares x 10 CNY: 10 % of it is 25,000 shares, what the backtest fills on day one too
    store, days = tiny({A: [10.0] * 26}, volumes={A: [2.5e5] * 26})
    sc = scores_frame(days, {A: [None] * 24 + [1.0]})
    none = pl.DataFrame(schema={"symbol": pl.Utf8, "shares": pl.Float64})
    cfg = BacktestConfig(k=1, n_drop=0, capital=1e6, participation=0.1)
    orders = orders_for_tomorrow(store, sc, none, 1e6, cfg, days[24])
    assert orders["shares"].to_list() == [25_000] and orders["capped"].to_list() == [True]
    first = run(store, sc, cfg.replace(start=days[24], end=days[25])).trades()
    assert first["shares"].to_list() == [25_000]
    free = orders_for_tomorrow(store, sc, none, 1e6, cfg.replace(participation=0.0), days[24])
    assert free["shares"].to_list() == [99_900] and free["capped"].to_list() == [False]
    # a sale is cut in lots of the cap as well
    held = pl.DataFrame({"symbol": [A], "shares": [60_000.0]})
    sc2 = scores_frame(days, {A: [None] * 24 + [-1.0], B: [None] * 24 + [1.0]})
    sells = orders_for_tomorrow(store, sc2, held, 0.0, cfg.replace(n_drop=1), days[24]).filter(pl.col("side") == "sell")
    assert sells["shares"].to_list() == [25_000] and sells["capped"].to_list() == [True]
