"""Tomorrow's portfolio for the nightly job: holdings -> top-k dropout targets -> orders in lots.

The name choice is the backtester's own TopkDropout kernel (``backtest.strategies``), so the
nightly job trades exactly what a backtest of the same scores would choose. Sizing: each new
name gets ``capital / k`` CNY at the day's raw close, rounded down to the board's lot
(``data.rules.lot_rules``); kept names keep their shares (qlib TopkDropout does not resize them).
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import polars as pl

from backtest.strategies import topk_dropout_nb
from data.rules import lot_rules
from data.symbols import board_of
from flyer.errors import FlyerError

TARGET_SCHEMA = {"date": pl.Date, "trade_date": pl.Date, "symbol": pl.Utf8, "score": pl.Float64,
                 "weight": pl.Float64, "shares": pl.Float64, "ref_price": pl.Float64}
ORDER_SCHEMA = {"date": pl.Date, "trade_date": pl.Date, "symbol": pl.Utf8, "side": pl.Utf8,
                "shares": pl.Float64, "ref_price": pl.Float64, "reason": pl.Utf8}


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


def current_holdings(night) -> pl.DataFrame:  # noqa: ANN001 - flyer.nightly.Night
    """``[symbol, shares]`` before trading on the next day: the holdings file when configured,
    else the targets of the latest earlier night (assumed filled), else empty."""
    if night.config.portfolio.holdings_file:
        return read_holdings_file(night.config.portfolio.holdings_file)
    prev = night.log.last_date_before("nightly_targets", night.date)
    if prev is None:
        return pl.DataFrame(schema={"symbol": pl.Utf8, "shares": pl.Float64})
    return night.log.read("nightly_targets", prev).select("symbol", "shares").filter(pl.col("shares") > 0)


def _closes(store, day) -> pl.DataFrame:  # noqa: ANN001
    bars = store.bars(day, day, adjust=False)
    return bars.select("symbol", pl.col("close").alias("ref_price"), "is_suspended", "is_st")


def lot_shares(symbol: str, value: float, price: float) -> float:
    """Shares worth at most ``value`` CNY at ``price``, in the board's buy lots (0 if under one lot)."""
    if price <= 0 or not math.isfinite(price):
        return 0.0
    minimum, step = lot_rules(board_of(symbol))
    raw = value / price
    if raw < minimum:
        return 0.0
    return float(minimum + math.floor((raw - minimum) / step) * step)


def targets_for(night, scores: pl.DataFrame, holdings: pl.DataFrame) -> pl.DataFrame:  # noqa: ANN001
    """Target holdings ``nightly_targets`` rows for ``night.next_date``."""
    cfg = night.config.portfolio
    px = _closes(night.store, night.date)
    buyable = px.filter(~pl.col("is_suspended") & ~pl.col("is_st")).select("symbol")
    universe = (scores.join(buyable, on="symbol", how="semi").select("symbol", "score")
                .join(holdings, on="symbol", how="full", coalesce=True)
                .with_columns(pl.col("shares").fill_null(0.0)).sort("symbol"))
    score = universe["score"].to_numpy().astype(np.float64)
    held = (universe["shares"] > 0).to_numpy()
    sell, buy = topk_dropout_nb(np.where(np.isnan(score), np.nan, score), held, cfg.k, cfg.n_drop)
    keep = held & ~sell
    new = np.zeros(len(score), dtype=bool)
    new[buy] = True
    chosen = universe.with_columns(pl.Series("keep", keep), pl.Series("new", new)).filter(pl.col("keep") | pl.col("new"))
    chosen = chosen.join(px.select("symbol", "ref_price"), on="symbol", how="left")
    per_name = cfg.capital / cfg.k
    shares = [s if k else lot_shares(sym, per_name, p or 0.0)
              for sym, s, k, p in zip(chosen["symbol"], chosen["shares"], chosen["keep"], chosen["ref_price"])]
    out = chosen.with_columns(pl.Series("shares", shares, dtype=pl.Float64)).filter(pl.col("shares") > 0)
    value = (out["shares"] * out["ref_price"].fill_null(0)).sum()
    return out.select(
        pl.lit(night.date).alias("date"), pl.lit(night.next_date).alias("trade_date"), "symbol",
        pl.col("score").cast(pl.Float64),
        (pl.col("shares") * pl.col("ref_price") / (value or 1.0)).alias("weight"),
        "shares", pl.col("ref_price").cast(pl.Float64),
    ).cast(TARGET_SCHEMA).sort("symbol")


def orders_for(night, holdings: pl.DataFrame, targets: pl.DataFrame) -> pl.DataFrame:  # noqa: ANN001
    """Orders that move ``holdings`` to ``targets``: sells of dropped names, buys of new ones."""
    px = _closes(night.store, night.date).select("symbol", "ref_price", "is_suspended")
    both = (holdings.rename({"shares": "have"})
            .join(targets.select("symbol", "score", pl.col("shares").alias("want")), on="symbol",
                  how="full", coalesce=True)
            .with_columns(pl.col("have").fill_null(0.0), pl.col("want").fill_null(0.0))
            .join(px, on="symbol", how="left")
            .with_columns((pl.col("want") - pl.col("have")).alias("delta"))
            .filter(pl.col("delta") != 0))
    reason = (pl.when(pl.col("want") == 0).then(pl.lit("dropped from top-k"))
              .when(pl.col("have") == 0).then(pl.format("new in top-k (score rank {})", pl.col("rank")))
              .otherwise(pl.lit("resize")))
    suspended = pl.when(pl.col("is_suspended").fill_null(False)).then(pl.lit("; suspended today, may not fill")).otherwise(pl.lit(""))
    ranked = targets.select("symbol", pl.col("score").rank("ordinal", descending=True).cast(pl.Int64).alias("rank"))
    return (both.join(ranked, on="symbol", how="left").select(
        pl.lit(night.date).alias("date"), pl.lit(night.next_date).alias("trade_date"), "symbol",
        pl.when(pl.col("delta") > 0).then(pl.lit("buy")).otherwise(pl.lit("sell")).alias("side"),
        pl.col("delta").abs().alias("shares"), "ref_price",
        pl.concat_str([reason, suspended]).alias("reason"),
    ).cast(ORDER_SCHEMA).sort("side", "symbol"))
