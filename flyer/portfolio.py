"""Tomorrow's book for the nightly job, using the backtester's own target and order logic.

``flyer.backtest.orders.orders_for_tomorrow`` turns tonight's scores and the current holdings and
cash into lot-sized orders for the ``[portfolio]`` config's embedded ``BacktestConfig`` (any
strategy the backtester runs: the same ``strategies.target_weights_nb``; sells first, buys within
the cash the sells free, fees by date); this module keeps the book between nights: holdings and
cash after the orders are assumed filled at their reference prices (tonight's raw close) and fees.
The orders are meant to fill at tomorrow's ``deal_price`` (open / close / vwap), noted each night.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl

from flyer.backtest.orders import order_fee, orders_for_tomorrow
from flyer.core.errors import FlyerError
from flyer.core.values import as_float

if TYPE_CHECKING:
    from flyer.night import Night

TARGET_SCHEMA = pl.Schema({"date": pl.Date, "trade_date": pl.Date, "symbol": pl.Utf8, "score": pl.Float64,
                           "weight": pl.Float64, "shares": pl.Float64, "ref_price": pl.Float64})
ORDER_SCHEMA = pl.Schema({"date": pl.Date, "trade_date": pl.Date, "symbol": pl.Utf8, "side": pl.Utf8,
                          "shares": pl.Float64, "ref_price": pl.Float64, "reason": pl.Utf8})
EMPTY = pl.DataFrame(schema={"symbol": pl.Utf8, "shares": pl.Float64})


def read_holdings_file(path: str | Path) -> pl.DataFrame:
    """A user's holdings: CSV or Parquet with columns ``symbol, shares``."""
    p = Path(path)
    if not p.exists():
        raise FlyerError(f"holdings file not found: {p}")
    df = pl.read_parquet(p) if p.suffix == ".parquet" else pl.read_csv(p)
    missing = {"symbol", "shares"} - set(df.columns)
    if missing:
        raise FlyerError(f"holdings file {p}: missing column(s) {', '.join(sorted(missing))}")
    return df.select(pl.col("symbol").cast(pl.Utf8), pl.col("shares").cast(pl.Float64)).filter(pl.col("shares") > 0)


def current_book(night: Night) -> tuple[pl.DataFrame, float]:
    """(holdings ``[symbol, shares]``, cash CNY) before the next trading day.

    A configured holdings file wins (its cash is ``portfolio.capital``); else the book left by
    the latest earlier night; else nothing held and all capital in cash.
    """
    cfg = night.config.portfolio
    capital = cfg.backtest.capital
    if cfg.holdings_file:
        return read_holdings_file(cfg.holdings_file), capital
    prev = night.log.last_date_before("nightly_targets", night.date)
    if prev is None:
        return EMPTY, capital
    held = night.log.read("nightly_targets", prev).select("symbol", "shares").filter(pl.col("shares") > 0)
    cash = night.store.one("SELECT cash FROM nightly_book WHERE date = ?", [prev])
    return held, float(cash[0]) if cash else capital


def plan_book(night: Night, scores: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame, float]:
    """(orders, targets, cash after) for ``night.next_date`` from tonight's ``scores``."""
    holdings, cash = current_book(night)
    cfg = night.config.portfolio.backtest
    book = orders_for_tomorrow(night.store, scores, holdings, cash, cfg, night.date)
    night.note(f"{cfg.strategy} orders sized at the {night.date} close, meant to fill at the "
               f"{cfg.deal_price} of {night.next_date} (portfolio.deal_price)")
    if cfg.participation > 0 and book.height and book["capped"].any():
        night.note(f"{int(book['capped'].sum())} order(s) cut to {cfg.participation:.0%} of the stock's 20-day "
                   f"average daily volume (portfolio.participation); the rest is not ordered tonight")
    delta = book.select("symbol", pl.when(pl.col("side") == "buy").then(pl.col("shares"))
                        .otherwise(-pl.col("shares")).cast(pl.Float64).alias("delta"))
    fees = sum(order_fee(r["value"], r["side"] == "sell", cfg, night.date, r["symbol"]) for r in book.iter_rows(named=True))
    flow = float(book.select(pl.when(pl.col("side") == "sell").then(pl.col("value")).otherwise(-pl.col("value")).sum()).item() or 0.0)
    cash_after = cash + flow - fees
    px = night.store.bars(night.date, night.date, adjust=False).select("symbol", pl.col("close").alias("ref_price"))
    targets = (holdings.join(delta, on="symbol", how="full", coalesce=True)
               .with_columns((pl.col("shares").fill_null(0.0) + pl.col("delta").fill_null(0.0)).alias("shares"))
               .filter(pl.col("shares") > 0)
               .join(scores.select("symbol", "score"), on="symbol", how="left")
               .join(px, on="symbol", how="left"))
    value = as_float((targets["shares"] * targets["ref_price"].fill_null(0.0)).sum()) + cash_after
    targets = targets.select(
        pl.lit(night.date).alias("date"), pl.lit(night.next_date).alias("trade_date"), "symbol", "score",
        (pl.col("shares") * pl.col("ref_price") / (value or 1.0)).alias("weight"), "shares", "ref_price",
    ).cast(TARGET_SCHEMA).sort("symbol")
    orders = book.select(
        pl.lit(night.date).alias("date"), pl.lit(night.next_date).alias("trade_date"), "symbol", "side",
        "shares", "ref_price", "reason").cast(ORDER_SCHEMA)
    return orders, targets, cash_after
