"""The akshare source's stock list: every A-share listed today AND every one delisted since.

``stock_info_a_code_name()`` (code, name) holds only the stocks listed today, so a back-fill
from it alone drops every company that failed or was taken over since (survivorship bias).
The exchanges publish their delisted companies:
  - ``stock_info_sh_delist(symbol="全部")``: 公司代码, 公司简称, 上市日期, 暂停上市日期 (the
    delisting day); A shares (6xxxxx) are kept, B shares (9xxxxx) dropped. akshare asks for one
    page of 500 rows: a full page is reported (older delistings may be cut);
  - ``stock_info_sz_delist(symbol="终止上市公司")``: 证券代码, 证券简称, 上市日期, 终止上市日期;
    A shares (00xxxx, 30xxxx) kept, B shares (20xxxx) dropped.
The Beijing exchange has no such list in akshare (reported). ``listing`` returns
``symbol, name, list_date, delist_date`` (delist_date null while listed) and one line saying
which list was used; ``delisted=False`` takes the listed-today list only and says that the
result is survivor-biased.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
from flyer.data.sources import files
from flyer.data.sources.akshare_vendors import vendor_dates
from flyer.data.symbols import normalize_symbols

from flyer.core.errors import FlyerError

SSE_PAGE = 500
SCHEMA = {"symbol": pl.Utf8, "name": pl.Utf8, "list_date": pl.Date, "delist_date": pl.Date}


def listed_today(call: Callable[..., Any]) -> pl.DataFrame:
    """``symbol, name`` of every A-share listed today (``stock_info_a_code_name``)."""
    df = pl.from_pandas(call("exchanges", "stock_info_a_code_name"))
    codes = df["code"].cast(pl.Utf8).str.zfill(6)
    return pl.DataFrame({"symbol": normalize_symbols(codes), "name": df["name"].cast(pl.Utf8),
                         "list_date": pl.Series([None] * df.height, dtype=pl.Date),
                         "delist_date": pl.Series([None] * df.height, dtype=pl.Date)})


def _delisted(raw: Any, code: str, name: str, listed: str, delisted: str, a_share: str) -> pl.DataFrame:
    df = pl.from_pandas(raw) if raw is not None else pl.DataFrame()
    if df.height == 0:
        return pl.DataFrame(schema=SCHEMA)
    missing = [c for c in (code, name, delisted) if c not in df.columns]
    if missing:
        raise FlyerError(f"akshare delisting list: columns changed, missing {', '.join(missing)} (got "
                         f"{', '.join(map(str, df.columns[:8]))})")
    codes = df[code].cast(pl.Utf8).str.zfill(6)
    out = pl.DataFrame({"symbol": normalize_symbols(codes), "name": df[name].cast(pl.Utf8),
                        "list_date": vendor_dates(df[listed]) if listed in df.columns else [None] * df.height,
                        "delist_date": vendor_dates(df[delisted])}, schema=SCHEMA)
    return out.filter(codes.str.contains(a_share) & pl.col("delist_date").is_not_null())


def delisted_since(call: Callable[..., Any], since: dt.date) -> tuple[pl.DataFrame, list[str]]:
    """A-shares delisted on or after ``since`` from the SSE and SZSE lists, and notes."""
    sh = _delisted(call("exchanges", "stock_info_sh_delist", symbol="全部"), "公司代码", "公司简称", "上市日期",
                   "暂停上市日期", r"^6")
    sz = _delisted(call("exchanges", "stock_info_sz_delist", symbol="终止上市公司"), "证券代码", "证券简称", "上市日期",
                   "终止上市日期", r"^(00|30)")
    bse = "akshare: the Beijing exchange publishes no delisting list in akshare: BSE stocks delisted before today are missing"
    notes = [bse]
    if sh.height >= SSE_PAGE:
        notes.append(f"akshare: the SSE delisting list filled akshare's one page of {SSE_PAGE} rows: older "
                     "delistings may be missing")
    both = pl.concat([sh, sz]).unique("symbol", keep="last")
    return both.filter(pl.col("delist_date") >= since).sort("symbol"), notes


def listing(call: Callable[..., Any], lo: dt.date, hi: dt.date, delisted: bool) -> tuple[pl.DataFrame, list[str]]:
    """Stocks to read for ``[lo, hi]``: listed today, plus (``delisted``) those delisted since
    ``lo`` and listed by ``hi``; and the line saying which list it is."""
    live = listed_today(call)
    if not delisted:
        line = (f"akshare: stock list: {live.height:,} stocks listed today only (delisted=false): a back-fill is "
                "survivor-biased (companies delisted before today are missing)")
        return live, [line]
    gone, notes = delisted_since(call, lo)
    gone = gone.filter(~pl.col("symbol").is_in(live["symbol"].implode())
                       & (pl.col("list_date").is_null() | (pl.col("list_date") <= hi)))
    line = (f"akshare: stock list: {live.height:,} listed today (stock_info_a_code_name) + {gone.height:,} delisted "
            f"since {lo} (stock_info_sh_delist, stock_info_sz_delist): survivorship-free for SSE and SZSE")
    return pl.concat([live, gone]), [line, *notes]


def split_listed(stocks: pl.DataFrame, names: pl.DataFrame, days: pl.Series, lo: dt.date,
                 hi: dt.date) -> dict[str, pl.DataFrame]:
    """``files.assemble`` of ``stocks``: stocks listed through ``hi`` are filled to the calendar's
    end (``listed=True``); those delisted by ``hi`` stop at their last bar, which is their
    ``delist_date``."""
    gone = names.filter(pl.col("delist_date") <= hi)["symbol"].implode()  # delisted later: listed in the window
    parts = [files.assemble(stocks.filter(~pl.col("symbol").is_in(gone)), days, lo, hi, listed=True),
             _delisted_part(files.assemble(stocks.filter(pl.col("symbol").is_in(gone)), days, lo, hi))]
    out: dict[str, pl.DataFrame] = {}
    for part in parts:
        for table, frame in part.items():
            out[table] = frame if table not in out or table == "calendar" else pl.concat([out[table], frame])
    return out


def _delisted_part(out: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Delisted stocks' instruments end on their last bar (``assemble`` cannot tell from the
    bars alone when every stock of the part stops early)."""
    if "instruments" not in out or "bars" not in out:
        return out
    last = out["bars"].group_by("symbol").agg(pl.col("date").max().alias("_last"))
    inst = (out["instruments"].join(last, on="symbol", how="left")
            .with_columns(pl.coalesce("delist_date", "_last").alias("delist_date")).drop("_last"))
    return {**out, "instruments": inst}
