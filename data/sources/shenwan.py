"""Shenwan (申万) industry history -> ``industries`` intervals (standard ``sw``, levels 1-3).

Shenwan publishes one file of classification changes (``StockClassifyUse_stock.xls``, what
akshare's ``stock_industry_clf_hist_sw`` returns as ``symbol, start_date, industry_code,
update_time``): one row per (stock, effective date, 6-digit code). ``sw_intervals``:
  1. sorts by (symbol, start) and ends each row where the stock's next row starts (exclusive);
  2. splits every interval at the version switches (2014-02-21, 2021-07-30), because a 6-digit
     code can stay in force across a revision while its level-1 name changes;
  3. emits level 1 (``XX0000``, named from ``L1_NAMES`` of the piece's version), level 2
     (``XXXX00``) and level 3 (the code) rows; level 2/3 names where given (else null).
The level-1 names are the published SW standards' (pre-2014: 23, SW2014: 28, SW2021: 31).
"""
from __future__ import annotations

import datetime as dt

import polars as pl
from flyer.data.symbols import normalize_symbols

VERSIONS = (("SW_pre2014", None), ("SW2014", dt.date(2014, 2, 21)), ("SW2021", dt.date(2021, 7, 30)))

_COMMON = {"11": "农林牧渔", "24": "有色金属", "33": "家用电器", "34": "食品饮料", "36": "轻工制造",
           "37": "医药生物", "41": "公用事业", "42": "交通运输", "43": "房地产", "51": "综合"}
L1_NAMES: dict[str, dict[str, str]] = {
    "SW_pre2014": {**_COMMON, "21": "采掘", "22": "化工", "23": "黑色金属", "25": "建筑建材", "26": "机械设备",
                   "27": "电子元器件", "31": "交运设备", "32": "信息设备", "35": "纺织服装", "44": "金融服务",
                   "45": "商业贸易", "46": "餐饮旅游", "47": "信息服务"},
    "SW2014": {**_COMMON, "21": "采掘", "22": "化工", "23": "钢铁", "27": "电子", "28": "汽车", "35": "纺织服装",
               "45": "商业贸易", "46": "休闲服务", "48": "银行", "49": "非银金融", "61": "建筑材料",
               "62": "建筑装饰", "63": "电气设备", "64": "机械设备", "65": "国防军工", "71": "计算机",
               "72": "传媒", "73": "通信"},
    "SW2021": {**_COMMON, "22": "基础化工", "23": "钢铁", "27": "电子", "28": "汽车", "35": "纺织服饰",
               "45": "商贸零售", "46": "社会服务", "48": "银行", "49": "非银金融", "61": "建筑材料",
               "62": "建筑装饰", "63": "电力设备", "64": "机械设备", "65": "国防军工", "71": "计算机",
               "72": "传媒", "73": "通信", "74": "煤炭", "75": "石油石化", "76": "环保", "77": "美容护理"},
}
_INDUSTRY_COLS = ("symbol", "standard", "level", "code", "name", "start_date", "end_date")


def version_of(day: pl.Expr) -> pl.Expr:
    """The SW version in force on ``day``."""
    (v0, _), (v1, d1), (v2, d2) = VERSIONS
    return pl.when(day >= d2).then(pl.lit(v2)).when(day >= d1).then(pl.lit(v1)).otherwise(pl.lit(v0))


def split_at_versions(iv: pl.DataFrame) -> pl.DataFrame:
    """Step 2: intervals ``start_date, end_date`` (exclusive, null = open) cut at the switches."""
    for _, cut in VERSIONS[1:]:
        spans = (pl.col("start_date") < cut) & (pl.col("end_date").is_null() | (pl.col("end_date") > cut))
        crossing = iv.filter(spans)
        iv = pl.concat([iv.filter(~spans),
                        crossing.with_columns(pl.lit(cut).alias("end_date")),
                        crossing.with_columns(pl.lit(cut).alias("start_date"))])
    return iv.sort("symbol", "start_date")


def sw_intervals(raw: pl.DataFrame, names: pl.DataFrame | None = None) -> pl.DataFrame:
    """Shenwan change rows ``symbol, start_date, industry_code`` (any symbol spelling) -> the
    ``industries`` frame (steps 1-3). ``names``: optional ``code, level, name`` for levels 2/3."""
    rows = raw.select(normalize_symbols(raw["symbol"].cast(pl.Utf8)).alias("symbol"),
                      pl.col("start_date").cast(pl.Date), pl.col("industry_code").cast(pl.Utf8).str.zfill(6))
    rows = rows.drop_nulls().unique(["symbol", "start_date"], keep="last").sort("symbol", "start_date")
    iv = rows.with_columns(pl.col("start_date").shift(-1).over("symbol").alias("end_date"))
    iv = split_at_versions(iv).with_columns(version_of(pl.col("start_date")).alias("_v"))
    l1 = pl.col("industry_code").str.slice(0, 2)
    name1 = pl.struct("_v", l1.alias("_p")).map_elements(lambda r: L1_NAMES[r["_v"]].get(r["_p"]), return_dtype=pl.Utf8)
    levels = [
        iv.with_columns(pl.lit(1).alias("level"), (l1 + "0000").alias("code"), name1.alias("name")),
        iv.with_columns(pl.lit(2).alias("level"), (pl.col("industry_code").str.slice(0, 4) + "00").alias("code"),
                        pl.lit(None, pl.Utf8).alias("name")),
        iv.with_columns(pl.lit(3).alias("level"), pl.col("industry_code").alias("code"), pl.lit(None, pl.Utf8).alias("name")),
    ]
    out = pl.concat(levels).with_columns(pl.lit("sw").alias("standard"), pl.col("level").cast(pl.Int32))
    if names is not None:
        out = (out.join(names.select("code", pl.col("level").cast(pl.Int32), pl.col("name").alias("_n")),
                        on=["code", "level"], how="left")
               .with_columns(pl.coalesce("name", "_n").alias("name")).drop("_n"))
    return merge_adjacent(out.select(_INDUSTRY_COLS))


def merge_adjacent(iv: pl.DataFrame) -> pl.DataFrame:
    """Join back-to-back intervals of one (symbol, standard, level) with the same code and name
    (a level-2 code unchanged across a level-3 move is one interval)."""
    keys = ["symbol", "standard", "level"]
    iv = iv.sort(*keys, "start_date")
    same = ((pl.col("code") == pl.col("code").shift(1).over(keys))
            & (pl.col("name").eq_missing(pl.col("name").shift(1).over(keys)))
            & (pl.col("start_date") == pl.col("end_date").shift(1).over(keys)))
    run = (~same.fill_null(False)).cum_sum().over(keys)
    return (iv.with_columns(run.alias("_run"))
            .group_by(*keys, "_run", maintain_order=True)
            .agg(pl.col("code").first(), pl.col("name").first(), pl.col("start_date").first(),
                 pl.col("end_date").last())
            .select(_INDUSTRY_COLS))
