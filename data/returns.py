"""Forward returns: the one definition of a label used by evaluation, mining and models.

A score known after the close of day t trades on day t+1, so the return it can earn over ``h``
days is ``p[t+1+h] / p[t+1] - 1`` (a fraction, on back-adjusted prices). Days are rows of the
stock's dense panel: a suspended day is a row (its price is the last close), so ``h`` counts
market days as the store does. A return whose rows do not exist (end of data, delisting) is
null; NaN from a zero price is null too.
"""
from __future__ import annotations

import polars as pl


def forward_return(horizon: int, price: str = "close") -> pl.Expr:
    """``p[t+1+h] / p[t+1] - 1`` per symbol, as an expression over rows sorted by (symbol, date)."""
    if horizon < 1:
        raise ValueError(f"horizon must be >= 1 day, got {horizon}")
    p = pl.col(price)
    return (p.shift(-(1 + horizon)) / p.shift(-1) - 1).over("symbol").fill_nan(None)


def forward_returns(bars: pl.DataFrame, horizons: tuple[int, ...], price: str = "close",
                    names: tuple[str, ...] | None = None) -> pl.DataFrame:
    """``[date, symbol, <one Float64 column per horizon>]`` from ``bars[symbol, date, price]``;
    columns are named ``names`` (default ``ret_<h>``). Rows come out sorted by (symbol, date)."""
    names = names or tuple(f"ret_{h}" for h in horizons)
    return (bars.select("symbol", "date", price).sort("symbol", "date")
            .select("date", "symbol", *[forward_return(h, price).alias(n) for h, n in zip(horizons, names)]))
