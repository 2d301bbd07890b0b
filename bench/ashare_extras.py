"""Bench-only adapter: the staged Shenwan industries and BaoStock valuations of ``../shared/ashare``
into a bench store's ``industries`` / ``fundamentals`` tables.

The ``ashare`` source does not load these files yet (issue 15 owns that); until it does, the
risk-model benchmarks write them here so ``flyer.risk`` reads them through the store like any
other data. Conventions (see SOURCE.md's addendum):
  * industries: standard ``sw``, level 1, code = ``l1_code`` (first two digits + 0000), name =
    ``l1_name``; intervals are point in time (pre-2014 / SW2014 / SW2021 versions as they were);
    ``sz300114`` is the store's ``302132.SZ`` (the qlib file carries its history under the new
    code), its intervals cut where the new code's start;
  * fundamentals: PB (MRQ), PE (TTM) and turnover rate (% -> fraction) for the Shenzhen stocks
    only, 2010-01-04 .. 2022-02-11 (BaoStock has no Shanghai valuations before 2020).
"""
from __future__ import annotations

from pathlib import Path

import polars as pl

RENAMED = {"300114.SZ": "302132.SZ"}


def _canonical(code: pl.Expr) -> pl.Expr:
    return (code.str.slice(2) + "." + code.str.slice(0, 2).str.to_uppercase()).replace(RENAMED)


def industries(root: Path) -> pl.DataFrame:
    """The store's ``industries`` frame from the SW point-in-time file."""
    raw = pl.read_parquet(next((root / "industry").glob("sw_industry_pit_*.parquet")))
    df = raw.select(_canonical(pl.col("code")).alias("symbol"), pl.lit("sw").alias("standard"),
                    pl.lit(1, pl.Int32).alias("level"), pl.col("l1_code").alias("code"),
                    pl.col("l1_name").alias("name"), "start_date", pl.col("end_date_excl").alias("end_date"))
    df = df.sort("symbol", "start_date").with_columns(
        pl.col("start_date").shift(-1).over("symbol").alias("_next"))
    return df.with_columns(
        pl.when(pl.col("_next").is_not_null() & (pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("_next"))))
        .then(pl.col("_next")).otherwise(pl.col("end_date")).alias("end_date")
    ).drop("_next").filter(pl.col("end_date").is_null() | (pl.col("end_date") > pl.col("start_date")))


def fundamentals(root: Path) -> pl.DataFrame:
    """The store's ``fundamentals`` frame from the BaoStock Shenzhen valuation file."""
    raw = pl.read_parquet(next((root / "valuation").glob("baostock_sz_csi800ever_*.parquet")))
    return raw.select(_canonical(pl.col("code")).alias("symbol"), "date", pl.col("peTTM").alias("pe_ttm"),
                      pl.col("pbMRQ").alias("pb_mrq"), pl.lit(None, pl.Float64).alias("ps_ttm"),
                      (pl.col("turn") / 100).alias("turnover_rate"), pl.lit(None, pl.Float64).alias("total_shares"),
                      pl.lit(None, pl.Float64).alias("float_shares"))


def write_extras(home: Path, root: Path) -> str:
    """Write both tables into the store at ``home`` unless it already holds ``sw`` industries;
    returns what was done (one line)."""
    from flyer.data.store import MarketStore

    with MarketStore.open(home) as store:
        if "sw" in store.industry_standards():
            return "industries/fundamentals already in the bench store"
        symbols = set(store.instruments()["symbol"].to_list())
        ind = industries(root).filter(pl.col("symbol").is_in(list(symbols)))
        fund = fundamentals(root).filter(pl.col("symbol").is_in(list(symbols)))
        rep = store.write("ashare-extras", {"industries": ind, "fundamentals": fund})
    return (f"bench store: wrote {rep.written.get('industries', 0):,} SW industry intervals and "
            f"{rep.written.get('fundamentals', 0):,} Shenzhen valuation rows "
            f"({rep.rows_rejected:,} rejected) through bench/ashare_extras.py")
