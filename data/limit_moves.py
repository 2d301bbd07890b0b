"""Close-to-close moves beyond the price limit that no adjustment explains (``flyer check``).

The exchange bounds a stock's close on day t by its previous close ex-rights (what the
store's factor makes of yesterday's close: ``close[t-1] * f[t-1] / f[t]``) times 1 +- the
board's daily limit (``flyer.data.rules.limit_prices_expr``: 10 %, 5 % ST, 20 % ChiNext from
2020-08-24 and STAR, 30 % BSE; none on the first days after a listing). A close beyond that
limit price (by more than a tick) means the previous close it is measured from is wrong: a
bonus issue, split or rights issue the adjustment factor does not carry. A file without a
previous close, 涨跌额 or factor gets factor 1.0, and a 10-for-10 bonus day becomes a -50 %
"return" in every backtest. ``unexplained_moves`` finds them (pure polars); the ``files``
source notes them at ingest and the ``adjustment`` check reports them per year.

Not flagged: a stock's first bar, suspended days, days without a limit (the first days after a
listing: counted from a stock's first bar, unless it already trades on the data's first day).
ST flags the store does not know are stored False, so the 10 % limit applies there (lenient).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from flyer.data import rules
from flyer.data.findings import Finding, check
from flyer.data.symbols import board_expr

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

TICK = 0.01  # CNY: the price grid; limit prices are rounded to it
COLUMNS = ("symbol", "date", "close", "adj_factor", "is_st", "is_suspended")


def unexplained_moves(bars: pl.DataFrame) -> pl.DataFrame:
    """Moves beyond the limit: ``[symbol, date, prev_close, close, move, limit]`` (``move`` and
    ``limit`` fractions; ``prev_close`` ex-rights by the stored factor, CNY) from raw bars
    ``[symbol, date, close, adj_factor, is_st?, is_suspended?]`` (any order)."""
    c = pl.col
    df = bars.select(
        "symbol", "date", c("close").cast(pl.Float64), c("adj_factor").cast(pl.Float64).fill_null(1.0),
        (c("is_st") if "is_st" in bars.columns else pl.lit(False)).fill_null(False).alias("is_st"),
        (c("is_suspended") if "is_suspended" in bars.columns else pl.lit(False)).fill_null(False).alias("_susp"),
    ).sort("symbol", "date")
    prev = (c("close").shift(1) * c("adj_factor").shift(1) / c("adj_factor")).over("symbol")
    # day of listing: rows since the stock's first bar; a stock already trading on the data's
    # first day listed before it (its first days are not IPO days without a limit)
    seasoned = (c("date").min().over("symbol") == c("date").min()).cast(pl.Int64) * (rules.IPO_FREE_DAYS + 1)
    df = df.with_columns(prev.alias("prev_close"), (pl.int_range(pl.len()).over("symbol") + 1 + seasoned).alias("_dol"),
                         board_expr(c("symbol")).alias("_board"))
    up, down = rules.limit_prices_expr(c("prev_close"), c("_board"), c("is_st"), c("date"), c("_dol"))
    beyond = (c("close") > up + TICK + 1e-9) | (c("close") < down - TICK - 1e-9)
    hit = df.filter(beyond.fill_null(False) & ~c("_susp") & (c("prev_close") > 0))
    return hit.select("symbol", "date", "prev_close", "close", (c("close") / c("prev_close") - 1).alias("move"),
                      rules.limit_pct_expr(c("_board"), c("is_st"), c("date"), c("_dol")).alias("limit"))


def describe(moves: pl.DataFrame, limit: int = 3) -> str:
    """``600000.SH 2024-01-22 -49.5 % (limit 10 %), ...`` for the largest ``limit`` moves."""
    worst = moves.sort(pl.col("move").abs(), descending=True).head(limit)
    return ", ".join(f"{r['symbol']} {r['date']} {r['move']:+.1%} (limit {r['limit']:.0%})"
                     for r in worst.iter_rows(named=True))


@check("adjustment")
def unadjusted_moves(store: MarketStore) -> list[Finding]:
    """Moves beyond the price limit per year, with the worst examples (warning when any)."""
    bars = store.query(f"SELECT {', '.join(COLUMNS)} FROM bars ORDER BY symbol, date")
    if bars.height == 0:
        return []
    moves = unexplained_moves(bars)
    if moves.height == 0:
        return [Finding("info", "adjustment", "every close-to-close move lies within its price limit (the "
                                              "adjustment factors explain the corporate actions)")]
    t = (moves.group_by(pl.col("date").dt.year().alias("year"))
         .agg(pl.len().alias("moves"), pl.col("symbol").n_unique().alias("stocks"),
              pl.col("move").min().alias("lowest"), pl.col("move").max().alias("highest")).sort("year"))
    return [Finding("warning", "adjustment",
                    f"{moves.height:,} close-to-close move(s) beyond the price limit that no adjustment explains "
                    f"(a split, bonus or rights issue missing from adj_factor? re-ingest with a previous close, "
                    f"涨跌额 or factor): {describe(moves)}", t.with_columns(pl.col("year").cast(pl.Utf8)))]
