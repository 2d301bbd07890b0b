"""Point-in-time fields that are not bar columns, joined onto bars in ONE place.

Formulas read ``$industry`` (for ``Neutralize``), ``$pe`` and ``$pb`` like bar fields; they come
from the store's ``industries`` and ``fundamentals`` tables, as they were on each day:

    bars = attach(store, store.bars(start, end), fields={"industry", "pe", "pb"})

- ``industry``: the code of the stock's industry in force that day (``store.industry_panel``,
  default standard and level 1); where the store has no industry table, the instruments'
  static ``industry`` (what older stores and plain files hold). Null where unknown.
- ``pe``: PE TTM, ``pb``: PB MRQ (``store.fundamentals``), null where unknown (e.g. Shanghai
  stocks before 2020 in the staged real data). Never forward-filled across missing days.
The factor pipeline, model inputs and mining all call ``attach``.
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import polars as pl
from flyer.core.values import as_date

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

#: formula field -> (store table, column)
EXTRA_FIELDS: dict[str, tuple[str, str]] = {"industry": ("industries", "code"), "pe": ("fundamentals", "pe_ttm"),
                                            "pb": ("fundamentals", "pb_mrq")}


def attach(store: MarketStore, bars: pl.DataFrame, fields: Iterable[str] | None = None, *,
           standard: str | None = None, level: int = 1) -> pl.DataFrame:
    """``bars`` (any columns incl. ``symbol, date``) with the requested extra fields added as
    columns (default all of ``EXTRA_FIELDS``); row order kept; fields already present are kept."""
    wanted = [f for f in (EXTRA_FIELDS if fields is None else fields) if f in EXTRA_FIELDS and f not in bars.columns]
    if not wanted or bars.height == 0:
        return bars.with_columns(pl.lit(None, pl.Utf8 if f == "industry" else pl.Float64).alias(f) for f in wanted)
    start, end = as_date(bars["date"].min()), as_date(bars["date"].max())
    symbols = bars["symbol"].unique().sort().to_list()
    out = bars
    if "industry" in wanted:
        if store.industry_standards():
            ind = store.industry_panel(start, end, standard=standard, level=level, symbols=symbols)
            out = _join(out, ind.select("symbol", "date", pl.col("code").alias("industry")), ["symbol", "date"])
        else:  # no industry history: the instruments' static column
            out = _join(out, store.instruments().select("symbol", pl.col("industry").cast(pl.Utf8)), ["symbol"])
    vals = [f for f in wanted if f != "industry"]
    if vals:
        cols = [EXTRA_FIELDS[f][1] for f in vals]
        fund = store.fundamentals(start, end, symbols=symbols, columns=cols)
        fund = fund.select("symbol", "date", *(pl.col(EXTRA_FIELDS[f][1]).alias(f) for f in vals))
        out = _join(out, fund, ["symbol", "date"])
    return out


def _join(bars: pl.DataFrame, extra: pl.DataFrame, on: list[str]) -> pl.DataFrame:
    return bars.join(extra, on=on, how="left", maintain_order="left")
