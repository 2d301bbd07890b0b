"""Orders for the next trading day from today's scores and current holdings (nightly job, notebooks).

The same strategy kernel and lot rules as the backtest engine:
  1. ``targets``: target weights for one day ([symbol, weight, action]) from scores + holdings,
     by ``flyer.backtest.strategies.target_weights_nb`` - the function the engine's ``plan_nb``
     calls - with the config's ``Params``; a weight strategy (benchmark tilt, enhance) gives its
     day's weights (``flyer.backtest.strategy``: ``Strategy.day_weights``), as in the backtest;
  2. ``orders_for_tomorrow``: turn them into lot-sized orders at reference prices (today's raw
     close), sells first, then buys (best score first) within the cash the sells free up.
Limits of tomorrow are unknown tonight: orders are intentions; the broker/engine enforces them.
Tomorrow's volume is unknown too: under ``config.participation`` an order is cut to that
fraction of the stock's average daily volume, ADV / tonight's close with ADV the mean traded
value (volume x close, CNY) of its last ``market.LIQUIDITY_WINDOW`` traded days (``volume_caps``; the backtest caps at
the day's actual volume), and flagged ``capped``.
``config.deal_price`` names the price of tomorrow's bar they are meant to fill at (``open``:
the opening auction, ``close``: the closing auction, ``vwap``: spread over the day), as the
backtest of the same config assumed; tonight's close is the reference price for all three.
"""
from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from flyer.backtest import rules_nb
from flyer.backtest.config import BacktestConfig
from flyer.backtest.params import Params
from flyer.backtest.strategies import MODE_WEIGHTS, hash_keys, rank_desc_nb, target_weights_nb, tie_keys_nb
from flyer.backtest.strategy import strategy_for
from flyer.data import rules
from flyer.data.symbols import board_of
from flyer.core.errors import FlyerError
from flyer.core.values import as_date

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

ORDER_SCHEMA = {"symbol": pl.Utf8, "side": pl.Utf8, "shares": pl.Int64, "ref_price": pl.Float64,
                "value": pl.Float64, "reason": pl.Utf8, "deal_price": pl.Utf8, "capped": pl.Boolean}


def targets(scores: pl.DataFrame, holdings: pl.DataFrame, config: BacktestConfig,
            weights: pl.DataFrame | None = None, date: dt.date | None = None) -> pl.DataFrame:
    """Target weights (fractions of NAV) for one day: [symbol, weight, action], best score first.

    ``scores``: [symbol, score] of the day; ``holdings``: [symbol, shares]; ``weights``:
    [symbol, weight] the day's targets of a weight strategy (``Strategy.day_weights``; names
    the strategy weights without a score are traded too, as in the backtest), ignored by
    top-k; ``date``: the scores' date, whose tie
    keys order equal scores as the backtest does (``strategies.tie_keys_nb``). action is ``sell`` (to 0), ``buy``
    (new name), ``keep`` (held, left as is) or ``rebalance`` (held, traded to its weight).
    """
    held_syms = set(holdings.filter(pl.col("shares") > 0)["symbol"].to_list())
    weighted = set(weights.filter(pl.col("weight") > 0)["symbol"].to_list()) if weights is not None else set()
    names = sorted(set(scores["symbol"].to_list()) | held_syms | weighted)
    sc_map = dict(zip(scores["symbol"].to_list(), scores["score"].to_list()))
    sc = np.array([np.nan if sc_map.get(s) is None else sc_map[s] for s in names], dtype=np.float64)
    held = np.array([s in held_syms for s in names], dtype=np.bool_)
    params = Params.from_configs([config])
    given = np.full(len(names), np.nan)
    if params.mode[0] == MODE_WEIGHTS:
        if weights is None:
            raise FlyerError(f"the {config.strategy} strategy needs the day's target weights (Strategy.day_weights)")
        w_map = dict(zip(weights["symbol"].to_list(), weights["weight"].to_list()))
        given = np.array([np.nan if w_map.get(s) is None else w_map[s] for s in names], dtype=np.float64)
    tie = tie_keys_nb(hash_keys(names), hash_keys([date])[0])
    w, trade = target_weights_nb(sc, rank_desc_nb(sc, tie), held, given, params.mode[0], params.k[0],
                                 params.n_drop[0], params.weighting[0], params.rebalance_kept[0])
    action = np.where(trade, np.where(w > 0, np.where(held, "rebalance", "buy"), np.where(held, "sell", "")),
                      np.where(held, "keep", ""))
    df = pl.DataFrame({"symbol": names, "weight": w, "action": action, "score": sc},
                      schema={"symbol": pl.Utf8, "weight": pl.Float64, "action": pl.Utf8, "score": pl.Float64})
    return df.filter(pl.col("action") != "").sort("score", descending=True, nulls_last=True).drop("score")


def orders_for_tomorrow(store: MarketStore, scores: pl.DataFrame, holdings: pl.DataFrame, cash: float,
                        config: BacktestConfig, date: dt.date | None = None) -> pl.DataFrame:
    """Orders for the trading day after ``date`` (default: the last date in ``scores``).

    ``scores``: [date, symbol, score]; ``holdings``: [symbol, shares] raw shares, optional
    ``available`` (T+1-free shares; default all); ``cash`` CNY. Any strategy of ``config``
    (see module doc). Returns [symbol, side, shares, ref_price, value, reason, deal_price,
    capped] with shares in valid lots, sells first; reason: ``dropout`` / ``new`` / ``rebalance``;
    ``deal_price``: the price of tomorrow's bar the order is meant to fill at; ``capped``: the
    participation limit cut it (see module doc).
    """
    if config.rules != "ashare":
        raise FlyerError("rules='qlib' is a backtest comparison mode; tomorrow's orders follow the exchange's rules")
    date = date or as_date(scores["date"].max(), "last score date")
    day = scores.filter(pl.col("date") == date)
    if day.height == 0:
        raise FlyerError(f"no scores on {date}")
    day_scores = day.select("symbol", "score")
    given = strategy_for(config.strategy).day_weights(store, day_scores, holdings, cash, config, date)
    plan = targets(day_scores, holdings, config, given, date)
    names = sorted(set(plan["symbol"].to_list()) | set(holdings["symbol"].to_list()))
    bars = store.bars(date, date, symbols=names, adjust=False)
    price = dict(zip(bars["symbol"].to_list(), bars["close"].to_list()))
    shares = dict(zip(holdings["symbol"].to_list(), holdings["shares"].cast(pl.Float64).to_list()))
    avail_col = "available" if "available" in holdings.columns else "shares"
    avail = dict(zip(holdings["symbol"].to_list(), holdings[avail_col].cast(pl.Float64).to_list()))
    nav = cash + sum(q * price.get(s, 0.0) for s, q in shares.items())
    caps = volume_caps(store, names, date, config.participation)
    rows, cash_left = _sells(plan, shares, avail, price, nav, config, date, cash, caps)
    rows += _buys(plan, shares, price, nav, config, date, cash_left, caps)
    return pl.DataFrame([{**r, "deal_price": config.deal_price} for r in rows], schema=ORDER_SCHEMA)


def volume_caps(store: MarketStore, symbols: list[str], date: dt.date, participation: float) -> dict[str, float]:
    """symbol -> most raw shares an order for the next day may take: floor(participation x ADV /
    close on ``date``), ADV the mean volume x close (CNY) of the stock's last ``LIQUIDITY_WINDOW`` traded
    days up to ``date``; 0 for a stock without any; empty when ``participation`` is 0 (unlimited)."""
    from flyer.backtest.market import LIQUIDITY_WINDOW

    if participation <= 0 or not symbols:
        return {}
    cal = store.calendar(None, date).to_list()[-3 * LIQUIDITY_WINDOW:]
    bars = store.bars(cal[0], date, symbols=symbols, adjust=False,
                      columns=["symbol", "date", "close", "volume", "is_suspended"])
    traded = bars.filter(~pl.col("is_suspended").fill_null(False) & (pl.col("volume") > 0))
    adv = traded.sort("symbol", "date").group_by("symbol").agg(
        (pl.col("volume") * pl.col("close")).tail(LIQUIDITY_WINDOW).mean().alias("amount"))
    close = bars.filter(pl.col("date") == date).select("symbol", "close")
    df = adv.join(close, on="symbol").filter(pl.col("close") > 0)
    caps = {s: float(np.floor(participation * a / c + rules_nb.EPS_SHARES))
            for s, a, c in zip(df["symbol"].to_list(), df["amount"].to_list(), df["close"].to_list())}
    return {s: caps.get(s, 0.0) for s in symbols}


def order_fee(value: float, sell: bool, config: BacktestConfig, date: dt.date, symbol: str) -> float:
    """All fees (CNY) of one order of ``value`` CNY: commission with minimum, stamp duty, transfer fee."""
    c = config.costs
    return rules_nb.total_fee_nb(value, sell, c.commission, c.min_commission,
                                 rules.stamp_duty_rate(date) * c.stamp_duty,
                                 rules.transfer_fee_rate(date, symbol.split(".")[1]) * c.transfer_fee)


def _sells(plan, shares, avail, price, nav, config, date, cash, caps) -> tuple[list[dict], float]:
    rows = []
    for r in plan.iter_rows(named=True):
        s, held, p = r["symbol"], shares.get(r["symbol"], 0.0), price.get(r["symbol"])
        if held <= 0 or p is None or r["action"] not in ("sell", "rebalance"):
            continue
        want = held if r["action"] == "sell" else held - r["weight"] * nav / p
        min_lot, inc = (float(v) for v in rules.lot_rules(board_of(s)))
        sellable = avail.get(s, held)
        n = rules_nb.sell_lot_nb(min(want, caps.get(s, np.inf)), held, sellable, min_lot, inc)
        if n > 0:
            capped = n < rules_nb.sell_lot_nb(want, held, sellable, min_lot, inc) - rules_nb.EPS_SHARES
            rows.append(dict(symbol=s, side="sell", shares=int(round(n)), ref_price=p, value=n * p,
                             reason="dropout" if r["action"] == "sell" else "rebalance", capped=capped))
            cash += n * p - order_fee(n * p, True, config, date, s)
    return rows, cash


def _buys(plan, shares, price, nav, config, date, cash, caps) -> list[dict]:
    rows = []
    c = config.costs
    for r in plan.iter_rows(named=True):
        s, p = r["symbol"], price.get(r["symbol"])
        if p is None or r["action"] not in ("buy", "rebalance"):
            continue
        want = r["weight"] * nav / p - shares.get(s, 0.0)
        min_lot, inc = (float(v) for v in rules.lot_rules(board_of(s)))
        tr = rules.transfer_fee_rate(date, s.split(".")[1]) * c.transfer_fee
        cap = caps.get(s, np.inf)
        n = rules_nb.affordable_nb(cash, p, min(want, cap), min_lot, inc, c.commission, c.min_commission, tr)
        if n > 0:
            capped = rules_nb.buy_lot_nb(min(want, cap), min_lot, inc) < rules_nb.buy_lot_nb(want, min_lot, inc)
            rows.append(dict(symbol=s, side="buy", shares=int(round(n)), ref_price=p, value=n * p,
                             reason="new" if r["action"] == "buy" else "rebalance", capped=capped))
            cash -= n * p + order_fee(n * p, False, config, date, s)
    return rows
