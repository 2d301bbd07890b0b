"""The vendors behind akshare's daily bars, one reader each, all giving the same rows.

Stock bars (``STOCK_VENDORS``, tried in this order per symbol):
  - ``eastmoney``: ``stock_zh_a_hist(symbol="600000", period="daily", start_date, end_date,
    adjust="")``: 日期 (date), 开盘/收盘/最高/最低 (CNY), 成交量 (LOTS), 成交额 (CNY), 涨跌额
    (close - the exchange's ex-rights previous close, CNY). One call per symbol: the previous
    close gives the adjustment ratio.
  - ``sina``: ``stock_zh_a_daily(symbol="sh600000", start_date, end_date, adjust="")``: date
    (date), open/high/low/close, volume (SHARES), amount (CNY), outstanding_share, turnover
    (2 HTTP requests); and ``adjust="hfq-factor"``: date (datetime64), hfq_factor (text), one
    row per factor change; "hfq factor not available" is an answer (``VendorNoData``: the next
    vendor serves the stock), not a failure of Sina.
  - ``tencent``: ``stock_zh_a_hist_tx(symbol="sh600000", start_date, end_date, adjust="")`` and
    ``adjust="hfq"`` (ISO dates; one request for the first year, then one per calendar year):
    date (date), open, close, high, low, volume, turnover, amount; akshare scales volume to
    shares except for codes starting sz000 (its index test also catches Shenzhen main-board
    stocks), which ``_fix_volume_unit`` detects from amount / volume.
Every request is paced and bounded by ``Caller`` (``flyer.data.sources.vendors``); the calls
that take a ``timeout`` get it explicitly too.
Index bars (``INDEX_VENDORS``): ``eastmoney`` ``index_zh_a_hist(symbol="000905", ...)`` (日期 as
text, 成交量 in lots, 成交额 CNY; ``flyer.data.sources.akshare_api`` asks the kline endpoint
directly, without akshare's paging through the whole index list first) and ``sina``
``stock_zh_index_daily(symbol="sh000905")`` (date, open, high, low, close, volume; whole
history, no amount).

Every reader returns ``BAR_SCHEMA`` rows: raw prices, volume in shares, amount in CNY and the
back-adjustment factor in ONE canonical form whatever the vendor: ratio[t] = close[t-1] /
pre_close[t] with the exchange's previous close rounded to the cent (it is a cent price), so
vendors that agree on prices and corporate actions give bit-identical factors (1.0 on the
first row of the window). A frame without the expected columns raises ``VendorSchemaError``.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import polars as pl
from flyer.data import panel
from flyer.data.sources.vendors import Caller

STOCK_VENDORS: tuple[str, ...] = ("eastmoney", "sina", "tencent")
INDEX_VENDORS: tuple[str, ...] = ("eastmoney", "sina")

BAR_SCHEMA = {"symbol": pl.Utf8, "date": pl.Date, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
              "close": pl.Float64, "volume": pl.Float64, "amount": pl.Float64, "adj_factor": pl.Float64}
INDEX_SCHEMA = {"index_code": pl.Utf8, "date": pl.Date, "open": pl.Float64, "high": pl.Float64,
                "low": pl.Float64, "close": pl.Float64, "volume": pl.Float64, "amount": pl.Float64}
PRICES = ("open", "high", "low", "close")


def empty_bars() -> pl.DataFrame:
    return pl.DataFrame(schema=BAR_SCHEMA)


def vendor_symbol(symbol: str) -> str:
    """``600000.SH`` -> ``sh600000`` (Sina, Tencent)."""
    code, ex = symbol.split(".")
    return f"{ex.lower()}{code}"


# ------------------------------------------------------------------------------ helpers
def _frame(pdf: Any) -> pl.DataFrame:
    if pdf is None:
        return pl.DataFrame()
    return pdf if isinstance(pdf, pl.DataFrame) else pl.from_pandas(pdf)


def _require(caller: Caller, vendor: str, df: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise caller.schema_error(vendor, f"{vendor} {what}: columns changed, missing {', '.join(missing)} "
                                          f"(got {', '.join(map(str, df.columns[:12]))})")


def vendor_dates(s: pl.Series) -> pl.Series:
    """Vendor dates (python date, datetime64 or ``YYYY-MM-DD`` text) as ``pl.Date``."""
    if s.dtype == pl.Date:
        return s
    if isinstance(s.dtype, pl.Datetime):
        return s.dt.date()
    return s.cast(pl.Utf8).str.slice(0, 10).str.replace_all("/", "-").str.to_date("%Y-%m-%d", strict=False)


def _num(df: pl.DataFrame, col: str) -> pl.Expr:
    return pl.col(col).cast(pl.Float64, strict=False)


def canonical_factor(rows: pl.DataFrame) -> pl.DataFrame:
    """``adj_factor`` from ``pre_close`` (rounded to the cent): cumulative close[t-1] / pre_close[t],
    1.0 on the first row; rows of one symbol in date order."""
    rows = rows.with_columns(pl.col("pre_close").round(2))
    return rows.with_columns(panel.adj_factor_from_prev_close(rows)).drop("pre_close")


def stable_factor(hfq_close: pl.Expr, raw_close: pl.Expr) -> pl.Expr:
    """hfq close / raw close, held at its last value while it moves less than the 0.01 CNY rounding
    of both prices allows (so rounding noise is not mistaken for a corporate action); 1 when missing.
    Expects rows of one symbol in date order."""
    f = hfq_close / raw_close
    noise = 2 * (0.005 / hfq_close + 0.005 / raw_close)
    jump = (f / f.shift(1) - 1).abs() > noise
    held = pl.when(jump.fill_null(True)).then(f).otherwise(None).forward_fill()
    return pl.when(held.is_finite() & (held > 0)).then(held).otherwise(None).forward_fill().fill_null(1.0)


def pre_close_from_factor(close: pl.Expr, factor: pl.Expr) -> pl.Expr:
    """The exchange's previous close implied by a vendor's hfq factor: close[t-1] / (f[t] / f[t-1]),
    exactly close[t-1] where the factor did not change."""
    prev, ratio = close.shift(1), factor / factor.shift(1)
    return pl.when(ratio.is_null() | (ratio == 1.0)).then(prev).otherwise(prev / ratio)


def _finish(rows: pl.DataFrame, symbol: str, caller: Caller, vendor: str, what: str) -> pl.DataFrame:
    rows = rows.filter(pl.col("date").is_not_null()).unique("date", keep="first").sort("date")
    rows = _fix_volume_unit(rows, caller, vendor, what)
    rows = canonical_factor(rows.with_columns(pl.lit(symbol).alias("symbol")))
    caller.parsed(vendor)
    return rows.select(*(pl.col(c).cast(t) for c, t in BAR_SCHEMA.items()))


def _fix_volume_unit(rows: pl.DataFrame, caller: Caller, vendor: str, what: str) -> pl.DataFrame:
    """Volume in shares, checked against amount: amount / volume must lie near the close. About
    100x the close means lots (scaled, noted); anything else is a schema error."""
    traded = rows.filter((pl.col("volume") > 0) & (pl.col("amount") > 0) & (pl.col("close") > 0))
    if traded.height == 0:
        return rows
    ratio = traded.select((pl.col("amount") / pl.col("volume") / pl.col("close")).median()).item()
    if 0.5 <= ratio <= 2.0:
        return rows
    if 50.0 <= ratio <= 200.0:
        caller.vendor(vendor).last_error = f"{what}: volume in lots, scaled to shares"
        caller.notes.append(f"{vendor} {what}: volume came in lots (amount/volume = {ratio:.0f} x close); scaled x100")
        return rows.with_columns(pl.col("volume") * 100)
    raise caller.schema_error(vendor, f"{vendor} {what}: amount / volume is {ratio:.3g} x the close "
                                      "(units changed?)")


# ------------------------------------------------------------------------------ stock readers
def eastmoney_bars(caller: Caller, ak: Any, symbol: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    code = symbol.split(".")[0]
    what = f"stock_zh_a_hist({code})"
    df = _frame(caller.call("eastmoney", what, ak.stock_zh_a_hist, symbol=code, period="daily",
                            start_date=f"{start:%Y%m%d}", end_date=f"{end:%Y%m%d}", adjust="",
                            timeout=caller.policy.timeout))
    if df.height == 0:
        return empty_bars()
    _require(caller, "eastmoney", df, ("日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "涨跌额"), what)
    rows = df.select(vendor_dates(df["日期"]).alias("date"), _num(df, "开盘").alias("open"), _num(df, "最高").alias("high"),
                     _num(df, "最低").alias("low"), _num(df, "收盘").alias("close"),
                     (_num(df, "成交量") * 100).alias("volume"), _num(df, "成交额").alias("amount"),
                     (_num(df, "收盘") - _num(df, "涨跌额")).alias("pre_close"))
    return _finish(rows, symbol, caller, "eastmoney", what)


def sina_bars(caller: Caller, ak: Any, symbol: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    sym = vendor_symbol(symbol)
    what = f"stock_zh_a_daily({sym})"
    df = _frame(caller.call("sina", what, ak.stock_zh_a_daily, symbol=sym, start_date=f"{start:%Y%m%d}",
                            end_date=f"{end:%Y%m%d}", adjust=""))
    if df.height == 0:
        return empty_bars()
    _require(caller, "sina", df, ("date", "open", "high", "low", "close", "volume", "amount"), what)
    fq = _frame(caller.call("sina", f"stock_zh_a_daily({sym}, hfq-factor)", _sina_factor, ak=ak, symbol=sym))
    if fq.height == 0:  # Sina has no factor for this stock: not a vendor failure, the next vendor is asked
        raise caller.no_data("sina", f"sina {what}: no hfq factor for this stock")
    _require(caller, "sina", fq, ("date", "hfq_factor"), f"{what} hfq-factor")
    factors = fq.select(vendor_dates(fq["date"]).alias("date"), _num(fq, "hfq_factor").alias("_f")).drop_nulls().sort("date")
    rows = (df.select(vendor_dates(df["date"]).alias("date"), *(_num(df, c).alias(c) for c in (*PRICES, "volume", "amount")))
            .filter(pl.col("date").is_not_null()).sort("date")
            .join_asof(factors, on="date", strategy="backward")
            .with_columns(pl.col("_f").fill_null(1.0)))
    rows = rows.with_columns(pre_close_from_factor(pl.col("close"), pl.col("_f")).alias("pre_close")).drop("_f")
    return _finish(rows, symbol, caller, "sina", what)


def _sina_factor(ak: Any, symbol: str) -> Any:
    """Sina's hfq factors; an empty frame where akshare raises "hfq factor not available"
    (an answer, not a failure of the vendor)."""
    try:
        return ak.stock_zh_a_daily(symbol=symbol, adjust="hfq-factor")
    except ValueError as exc:
        if "factor not available" in str(exc):
            return None
        raise


def tencent_bars(caller: Caller, ak: Any, symbol: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    sym = vendor_symbol(symbol)
    what = f"stock_zh_a_hist_tx({sym})"
    # ISO dates: akshare reads the end year as end_date.split("-")[0] (YYYYMMDD would make it
    # loop one request per year up to the current year)
    span = {"start_date": f"{start:%Y-%m-%d}", "end_date": f"{end:%Y-%m-%d}", "timeout": caller.policy.timeout}
    df = _frame(caller.call("tencent", what, ak.stock_zh_a_hist_tx, symbol=sym, adjust="", **span))
    if df.height == 0:
        return empty_bars()
    cols = ("date", "open", "close", "high", "low", "volume", "amount")
    _require(caller, "tencent", df, cols, what)
    hfq = _frame(caller.call("tencent", f"{what} hfq", ak.stock_zh_a_hist_tx, symbol=sym, adjust="hfq", **span))
    _require(caller, "tencent", hfq, ("date", "close"), f"{what} hfq")
    adj = hfq.select(vendor_dates(hfq["date"]).alias("date"), _num(hfq, "close").alias("_hfq"))
    rows = (df.select(vendor_dates(df["date"]).alias("date"), *(_num(df, c).alias(c) for c in (*PRICES, "volume", "amount")))
            .filter(pl.col("date").is_not_null()).unique("date", keep="first").sort("date")
            .join(adj.unique("date", keep="first"), on="date", how="left"))
    rows = rows.with_columns(stable_factor(pl.col("_hfq"), pl.col("close")).alias("_f"))
    rows = rows.with_columns(pre_close_from_factor(pl.col("close"), pl.col("_f")).alias("pre_close")).drop("_f", "_hfq")
    return _finish(rows, symbol, caller, "tencent", what)


STOCK_READERS: dict[str, Callable[..., pl.DataFrame]] = {
    "eastmoney": eastmoney_bars, "sina": sina_bars, "tencent": tencent_bars}


# ------------------------------------------------------------------------------ index readers
def eastmoney_index(caller: Caller, ak: Any, code: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    what = f"index_zh_a_hist({code})"
    df = _frame(caller.call("eastmoney", what, ak.index_zh_a_hist, symbol=code.split(".")[0], period="daily",
                            start_date=f"{start:%Y%m%d}", end_date=f"{end:%Y%m%d}"))
    if df.height == 0:
        return pl.DataFrame(schema=INDEX_SCHEMA)
    _require(caller, "eastmoney", df, ("日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额"), what)
    return _index_rows(df.select(vendor_dates(df["日期"]).alias("date"), _num(df, "开盘").alias("open"),
                                 _num(df, "最高").alias("high"), _num(df, "最低").alias("low"),
                                 _num(df, "收盘").alias("close"), (_num(df, "成交量") * 100).alias("volume"),
                                 _num(df, "成交额").alias("amount")), code, start, end)


def sina_index(caller: Caller, ak: Any, code: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    sym = vendor_symbol(code)
    what = f"stock_zh_index_daily({sym})"
    df = _frame(caller.call("sina", what, ak.stock_zh_index_daily, symbol=sym))
    if df.height == 0:
        return pl.DataFrame(schema=INDEX_SCHEMA)
    _require(caller, "sina", df, ("date", "open", "high", "low", "close", "volume"), what)
    return _index_rows(df.select(vendor_dates(df["date"]).alias("date"), *(_num(df, c).alias(c) for c in (*PRICES, "volume")),
                                 pl.lit(None, pl.Float64).alias("amount")), code, start, end)


def _index_rows(rows: pl.DataFrame, code: str, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Rows in [start, end] as an ``index_bars`` frame."""
    rows = rows.filter(pl.col("date").is_between(start, end)).unique("date", keep="first").sort("date")
    return rows.with_columns(pl.lit(code).alias("index_code")).select(
        *(pl.col(c).cast(t) for c, t in INDEX_SCHEMA.items()))


INDEX_READERS: dict[str, Callable[..., pl.DataFrame]] = {"eastmoney": eastmoney_index, "sina": sina_index}


# ------------------------------------------------------------------------------ cross-check
def disagreements(a: pl.DataFrame, b: pl.DataFrame, vendor_a: str, vendor_b: str) -> pl.DataFrame:
    """Days both vendors answered whose raw prices differ by a cent or more, as reject rows
    ``tbl, symbol, date, rule, detail`` (rule ``vendor_disagreement``)."""
    both = a.select("symbol", "date", *PRICES).join(b.select("date", *(pl.col(c).alias(f"_{c}") for c in PRICES)),
                                                     on="date")
    off = pl.any_horizontal([(pl.col(c) - pl.col(f"_{c}")).abs() > 0.005 + 1e-9 for c in PRICES])
    bad = both.filter(off)
    detail = pl.format(f"{vendor_a} o/h/l/c={{}}/{{}}/{{}}/{{}} vs {vendor_b} {{}}/{{}}/{{}}/{{}}",
                       *(pl.col(c) for c in PRICES), *(pl.col(f"_{c}") for c in PRICES))
    return bad.select(pl.lit("bars").alias("tbl"), "symbol", "date", pl.lit("vendor_disagreement").alias("rule"),
                      detail.alias("detail"))
