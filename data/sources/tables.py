"""Industry and valuation files for the ``files`` source, recognised by their headers.

- tushare ``daily_basic`` (ts_code, trade_date, turnover_rate %, pe_ttm, pb, ps_ttm,
  total_share / float_share in 10^4 shares, ...) -> ``fundamentals`` (turnover as a fraction,
  shares in shares);
- tushare ``index_member_all`` (l1_code, l1_name, l2_code, ..., ts_code, in_date, out_date) ->
  ``industries`` levels 1-3 (standard ``sw``); tushare ``index_member`` (index_code, con_code,
  in_date, out_date) -> ``industries`` level 1 with the SW index code as the industry code.
  ``out_date`` (the removal day) is the EXCLUSIVE end, empty = still in force;
- akshare ``stock_industry_clf_hist_sw`` (symbol, start_date, industry_code, update_time) ->
  ``industries`` via ``flyer.data.sources.shenwan.sw_intervals``.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import polars as pl
from flyer.data.sources import shenwan
from flyer.data.symbols import normalize_symbols

SIGNATURES: dict[str, tuple[str, ...]] = {
    "tushare_daily_basic": ("ts_code", "trade_date", "pe_ttm", "pb"),
    "tushare_index_member_all": ("l1_code", "l3_code", "ts_code", "in_date"),
    "tushare_index_member": ("index_code", "con_code", "in_date"),
    "akshare_sw_history": ("symbol", "start_date", "industry_code"),
}
TABLE_OF = {"tushare_daily_basic": "fundamentals", "tushare_index_member_all": "industries",
            "tushare_index_member": "industries", "akshare_sw_history": "industries"}


def detect_table(headers: list[str]) -> str | None:
    """The table layout whose signature headers all appear, or None (a bar file)."""
    cols = {h.strip().lstrip("\ufeff") for h in headers}
    return next((name for name, sig in SIGNATURES.items() if set(sig) <= cols), None)


def _float(col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Utf8).str.strip_chars().replace("", None).cast(pl.Float64, strict=False)


def _date(col: str) -> pl.Expr:
    text = pl.col(col).cast(pl.Utf8).str.strip_chars().str.replace_all("-", "").str.slice(0, 8).replace("", None)
    return text.str.to_date("%Y%m%d", strict=False)


def _symbols(col: str) -> pl.Expr:
    return pl.col(col).map_batches(lambda s: normalize_symbols(s.cast(pl.Utf8)), return_dtype=pl.Utf8)


def daily_basic(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.select(_symbols("ts_code").alias("symbol"), _date("trade_date").alias("date"),
                      _float("pe_ttm").alias("pe_ttm"), _float("pb").alias("pb_mrq"),
                      (_float("ps_ttm") if "ps_ttm" in raw.columns else pl.lit(None, pl.Float64)).alias("ps_ttm"),
                      (_float("turnover_rate") / 100.0 if "turnover_rate" in raw.columns else pl.lit(None, pl.Float64))
                      .alias("turnover_rate"),
                      *((_float(c) * 1e4 if c in raw.columns else pl.lit(None, pl.Float64)).alias(t)
                        for c, t in (("total_share", "total_shares"), ("float_share", "float_shares"))))


def _intervals(df: pl.DataFrame, level: int, code: str, name: str | None) -> pl.DataFrame:
    return df.select(_symbols("ts_code" if "ts_code" in df.columns else "con_code").alias("symbol"),
                     pl.lit("sw").alias("standard"), pl.lit(level, pl.Int32).alias("level"),
                     pl.col(code).cast(pl.Utf8).alias("code"),
                     (pl.col(name).cast(pl.Utf8) if name else pl.lit(None, pl.Utf8)).alias("name"),
                     _date("in_date").alias("start_date"),
                     (_date("out_date") if "out_date" in df.columns else pl.lit(None, pl.Date)).alias("end_date"))


def index_member_all(raw: pl.DataFrame) -> pl.DataFrame:
    parts = [_intervals(raw, k, f"l{k}_code", f"l{k}_name" if f"l{k}_name" in raw.columns else None) for k in (1, 2, 3)]
    return shenwan.merge_adjacent(pl.concat(parts))


def index_member(raw: pl.DataFrame) -> pl.DataFrame:
    return shenwan.merge_adjacent(_intervals(raw, 1, "index_code", None))


def sw_history(raw: pl.DataFrame) -> pl.DataFrame:
    return shenwan.sw_intervals(raw.select("symbol", _date("start_date").alias("start_date"),
                                           pl.col("industry_code").cast(pl.Utf8)))


READERS: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {
    "tushare_daily_basic": daily_basic, "tushare_index_member_all": index_member_all,
    "tushare_index_member": index_member, "akshare_sw_history": sw_history}


def read_table(file: Path, layout: str, raw: pl.DataFrame) -> tuple[str, pl.DataFrame]:
    """``(table, frame)`` of one industry/valuation file already read as text columns."""
    return TABLE_OF[layout], READERS[layout](raw)
