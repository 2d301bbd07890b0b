"""Orders for the next trading day from today's scores and current holdings (nightly job, notebooks).

The same strategy functions and lot rules as the backtest engine:
  1. ``targets``: target weights for one day ([symbol, weight, action]) from scores + holdings;
  2. ``orders_for_tomorrow``: turn them into lot-sized orders at reference prices (today's raw
     close), sells first, then buys (best score first) within the cash the sells free up.
Limits of tomorrow are unknown tonight: orders are intentions; the broker/engine enforces them.
"""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from flyer.backtest import rules_nb
from flyer.backtest.config import BacktestConfig
from flyer.backtest.strategies import EQUAL, SCORE, benchmark_tilt, topk_dropout_nb, topk_weights_nb
from flyer.data import rules
from flyer.data.symbols import board_of
from flyer.errors import FlyerError

ORDER_SCHEMA = {"symbol": pl.Utf8, "side": pl.Utf8, "shares": pl.Int64, "ref_price": pl.Float64,
                "value": pl.Float64, "reason": pl.Utf8}


def targets(scores: pl.DataFrame, holdings: pl.DataFrame, config: BacktestConfig,
            members: pl.DataFrame | None = None) -> pl.DataFrame:
    """Target weights (fractions of NAV) for one day: [symbol, weight, action].

    ``scores``: [symbol, score] of the day; ``holdings``: [symbol, shares]; ``members``:
    [symbol, weight] benchmark members (benchmark strategy only). action is ``sell`` (drop),
    ``buy`` (new name), ``keep`` or ``rebalance`` (weights strategy / ``rebalance_kept``).
    """
    held_syms = holdings.filter(pl.col("shares") > 0)["symbol"].to_list()
    names = sorted(set(scores["symbol"].to_list()) | set(held_syms))
    sc_map = dict(zip(scores["symbol"].to_list(), scores["score"].to_list()))
    sc = np.array([np.nan if sc_map.get(s) is None else sc_map[s] for s in names], dtype=np.float64)
    held = np.array([s in set(held_syms) for s in names])
    if config.strategy == "benchmark":
        if members is None:
            raise FlyerError("the benchmark strategy needs the benchmark's members for the day")
        day = dt.date(2000, 1, 1)
        tilt = benchmark_tilt(members.with_columns(pl.lit(day).alias("date")),
                              scores.with_columns(pl.lit(day).alias("date")), config.active_limit)
        w_map = dict(zip(tilt["symbol"].to_list(), tilt["weight"].to_list()))
        w = np.array([w_map.get(s, 0.0) for s in names])
        action = np.where(w > 0, np.where(held, "rebalance", "buy"), np.where(held, "sell", ""))
    else:
        sell, buy = topk_dropout_nb(sc, held, config.k, config.n_drop)
        final = held & ~sell
        final[buy] = True
        w = topk_weights_nb(sc, final, config.k, EQUAL if config.weighting == "equal" else SCORE)
        action = np.where(sell, "sell", np.where(held & final, "rebalance" if config.rebalance_kept else "keep",
                                                  np.where(final, "buy", "")))
    df = pl.DataFrame({"symbol": names, "weight": w, "action": action, "score": sc})
    return df.filter(pl.col("action") != "").sort("score", descending=True, nulls_last=True).drop("score")


def orders_for_tomorrow(store, scores: pl.DataFrame, holdings: pl.DataFrame, cash: float,
                        config: BacktestConfig, date: dt.date | None = None) -> pl.DataFrame:
    """Orders for the trading day after ``date`` (default: the last date in ``scores``).

    ``holdings``: [symbol, shares] raw shares, optional ``available`` (T+1-free shares; default
    all). Returns [symbol, side, shares, ref_price, value, reason] with shares in valid lots,
    sells first. reason: ``dropout`` / ``new`` / ``rebalance``.
    """
    date = date or scores["date"].max()
    day = scores.filter(pl.col("date") == date)
    if day.height == 0:
        raise FlyerError(f"no scores on {date}")
    members = store.members(config.universe, date) if config.strategy == "benchmark" else None
    plan = targets(day.select("symbol", "score"), holdings, config, members)
    names = sorted(set(plan["symbol"].to_list()) | set(holdings["symbol"].to_list()))
    bars = store.bars(date, date, symbols=names, adjust=False)
    price = dict(zip(bars["symbol"].to_list(), bars["close"].to_list()))
    shares = dict(zip(holdings["symbol"].to_list(), holdings["shares"].cast(pl.Float64).to_list()))
    avail_col = "available" if "available" in holdings.columns else "shares"
    avail = dict(zip(holdings["symbol"].to_list(), holdings[avail_col].cast(pl.Float64).to_list()))
    nav = cash + sum(q * price.get(s, 0.0) for s, q in shares.items())
    rows, cash_left = _sells(plan, shares, avail, price, nav, config, date, cash)
    rows += _buys(plan, shares, price, nav, config, date, cash_left)
    return pl.DataFrame(rows, schema=ORDER_SCHEMA)


def order_fee(value: float, sell: bool, config: BacktestConfig, date: dt.date, symbol: str) -> float:
    """All fees (CNY) of one order of ``value`` CNY: commission with minimum, stamp duty, transfer fee."""
    c = config.costs
    return rules_nb.total_fee_nb(value, sell, c.commission, c.min_commission,
                                 rules.stamp_duty_rate(date) * c.stamp_duty,
                                 rules.transfer_fee_rate(date, symbol.split(".")[1]) * c.transfer_fee)


def _sells(plan, shares, avail, price, nav, config, date, cash) -> tuple[list[dict], float]:
    rows = []
    for r in plan.iter_rows(named=True):
        s, held, p = r["symbol"], shares.get(r["symbol"], 0.0), price.get(r["symbol"])
        if held <= 0 or p is None or r["action"] not in ("sell", "rebalance"):
            continue
        want = held if r["action"] == "sell" else held - r["weight"] * nav / p
        min_lot, inc = (float(v) for v in rules.lot_rules(board_of(s)))
        n = rules_nb.sell_lot_nb(want, held, avail.get(s, held), min_lot, inc)
        if n > 0:
            rows.append(dict(symbol=s, side="sell", shares=int(round(n)), ref_price=p, value=n * p,
                             reason="dropout" if r["action"] == "sell" else "rebalance"))
            cash += n * p - order_fee(n * p, True, config, date, s)
    return rows, cash


def _buys(plan, shares, price, nav, config, date, cash) -> list[dict]:
    rows = []
    c = config.costs
    for r in plan.iter_rows(named=True):
        s, p = r["symbol"], price.get(r["symbol"])
        if p is None or r["action"] not in ("buy", "rebalance"):
            continue
        want = r["weight"] * nav / p - shares.get(s, 0.0)
        min_lot, inc = (float(v) for v in rules.lot_rules(board_of(s)))
        tr = rules.transfer_fee_rate(date, s.split(".")[1]) * c.transfer_fee
        n = rules_nb.affordable_nb(cash, p, want, min_lot, inc, c.commission, c.min_commission, tr)
        if n > 0:
            rows.append(dict(symbol=s, side="buy", shares=int(round(n)), ref_price=p, value=n * p,
                             reason="new" if r["action"] == "buy" else "rebalance"))
            cash -= n * p + order_fee(n * p, False, config, date, s)
    return rows
