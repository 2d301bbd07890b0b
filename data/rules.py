"""A-share trading rules by date (see ../shared/reference/ashare_rules.md).

Pure functions and polars expressions; no I/O. Percentages are fractions (0.1 = 10%).
"""
from __future__ import annotations

import datetime as dt

import polars as pl

CHINEXT_REFORM = dt.date(2020, 8, 24)      # ChiNext +-20%, no limit first 5 days
STAR_START = dt.date(2019, 7, 22)          # STAR +-20% from day one, no limit first 5 days
BSE_START = dt.date(2021, 11, 15)          # BSE +-30%
MAIN_REGISTRATION = dt.date(2023, 4, 10)   # main board: no limit for the first 5 days
STAMP_HALVED = dt.date(2023, 8, 28)        # seller stamp duty 0.1% -> 0.05%
STAMP_SELLER_ONLY = dt.date(2008, 9, 19)
TRANSFER_UNIFIED = dt.date(2022, 4, 29)    # 0.001% both exchanges
IPO_FREE_DAYS = 5
MAIN_IPO_UP, MAIN_IPO_DOWN = 0.44, 0.36    # main-board first day cap before registration reform


def limit_pct(board: str, is_st: bool, date: dt.date, day_of_listing: int) -> tuple[float, float] | None:
    """(up, down) daily limit fractions for one stock-day, or None when no limit applies.

    ``day_of_listing`` is 1 on the first trading day after the IPO.
    """
    if board == "star" or (board == "chinext" and date >= CHINEXT_REFORM):
        return None if day_of_listing <= IPO_FREE_DAYS else (0.2, 0.2)
    if board == "bse":
        return None if day_of_listing <= 1 else (0.3, 0.3)
    if board == "main" and date >= MAIN_REGISTRATION and day_of_listing <= IPO_FREE_DAYS:
        return None
    if day_of_listing == 1:
        return (MAIN_IPO_UP, MAIN_IPO_DOWN)
    pct = 0.05 if is_st else 0.1
    return (pct, pct)


def limit_pct_expr(board: pl.Expr, is_st: pl.Expr, date: pl.Expr, day_of_listing: pl.Expr) -> pl.Expr:
    """Vectorised symmetric part of :func:`limit_pct`: the +-limit fraction, null where no limit.

    The main-board first-day asymmetric cap (+44%/-36%) is returned as 0.44 (the up side);
    use :func:`limit_prices_expr` for exact up/down prices.
    """
    free = day_of_listing <= IPO_FREE_DAYS
    return (
        pl.when((board == "star") | ((board == "chinext") & (date >= CHINEXT_REFORM)))
        .then(pl.when(free).then(None).otherwise(pl.lit(0.2)))
        .when(board == "bse").then(pl.when(day_of_listing <= 1).then(None).otherwise(pl.lit(0.3)))
        .when((board == "main") & (date >= MAIN_REGISTRATION) & free).then(None)
        .when(day_of_listing == 1).then(pl.lit(MAIN_IPO_UP))
        .when(is_st).then(pl.lit(0.05))
        .otherwise(pl.lit(0.1))
    )


def limit_prices_expr(prev_close: pl.Expr, board: pl.Expr, is_st: pl.Expr, date: pl.Expr,
                      day_of_listing: pl.Expr) -> tuple[pl.Expr, pl.Expr]:
    """(limit_up, limit_down) prices in CNY rounded to 0.01; null where no limit applies."""
    up = limit_pct_expr(board, is_st, date, day_of_listing)
    down = pl.when(up == MAIN_IPO_UP).then(pl.lit(MAIN_IPO_DOWN)).otherwise(up)
    return round_price(prev_close * (1 + up)), round_price(prev_close * (1 - down))


def round_price(x: pl.Expr) -> pl.Expr:
    """Round to the 0.01 CNY tick, half away from zero (exchange convention)."""
    return (x * 100 + 0.5 - 1e-9).floor() / 100


def stamp_duty_rate(date: dt.date) -> float:
    """Seller stamp duty as a fraction of traded value on ``date``."""
    return 0.0005 if date >= STAMP_HALVED else 0.001


def transfer_fee_rate(date: dt.date, exchange: str) -> float:
    """Transfer fee per side as a fraction of value (SSE 0.002% before 2022-04-29, SZSE none)."""
    if date >= TRANSFER_UNIFIED:
        return 0.00001
    return 0.00002 if exchange == "SH" else 0.0


def lot_rules(board: str) -> tuple[int, int]:
    """(minimum buy, buy increment) in shares: STAR 200 then 1, everything else 100 lots."""
    return (200, 1) if board == "star" else (100, 100)
