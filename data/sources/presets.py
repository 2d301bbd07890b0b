"""Column layouts of the common A-share file formats, for ``flyer.data.sources.files``.

A layout maps a file's headers to the store's column names (``flyer.data.schema.BARS``) and states
its units: ``volume_scale`` turns the file's volume into shares (lots x100), ``amount_scale``
turns its amount into CNY (tushare: thousand CNY x1000). ``prices="adjusted"`` means the file
holds back-adjusted prices and a ``factor`` column (qlib): raw = price / factor.
Extra canonical inputs a layout may map: ``pre_close`` (ex-rights previous close, from which
the adjustment factor follows), ``change`` (close - that previous close: akshare's 涨跌额,
tushare's ``change``; the previous close is derived from it when the file has none),
``factor``, ``adj_factor``, ``name`` (dated, for the ST flag), ``is_st``, ``total_cap``,
``float_cap``, ``industry``.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

_BAR_COLS = ("symbol", "date", "open", "high", "low", "close", "volume", "amount")
_OPTIONAL = ("pre_close", "change", "factor", "adj_factor", "name", "is_st", "is_suspended",
             "total_cap", "float_cap", "industry")


def _ro(d: dict[str, str]) -> Mapping[str, str]:
    return MappingProxyType(d)


@dataclass(frozen=True)
class Layout:
    """How to read one file format (see module docstring)."""

    name: str
    columns: Mapping[str, str]                       # file header -> canonical column
    volume_scale: float = 1.0                        # x -> shares
    amount_scale: float = 1.0                        # x -> CNY
    prices: str = "raw"                              # "raw" | "adjusted" (raw = price / factor)
    volume_adjusted: bool = False                    # qlib convention: raw volume = volume x factor
    skip_rows: int = 0                               # banner lines before the header
    date_formats: tuple[str, ...] = ("%Y-%m-%d", "%Y%m%d", "%Y/%m/%d")
    signature: tuple[str, ...] = field(default_factory=tuple)  # headers that identify it (auto)

    def with_columns(self, extra: Mapping[str, str] | None) -> Layout:
        """A copy whose column mapping is extended/overridden by ``extra`` (header -> canonical)."""
        if not extra:
            return self
        return Layout(self.name, _ro({**self.columns, **extra}), self.volume_scale, self.amount_scale,
                      self.prices, self.volume_adjusted, self.skip_rows, self.date_formats, self.signature)


TUSHARE = Layout(
    "tushare",
    _ro({"ts_code": "symbol", "trade_date": "date", "open": "open", "high": "high", "low": "low",
         "close": "close", "pre_close": "pre_close", "change": "change", "vol": "volume", "amount": "amount",
         "adj_factor": "adj_factor", "name": "name"}),
    volume_scale=100.0, amount_scale=1000.0, signature=("ts_code", "trade_date"),
)

AKSHARE = Layout(
    "akshare",
    _ro({"日期": "date", "股票代码": "symbol", "开盘": "open", "收盘": "close", "最高": "high",
         "最低": "low", "成交量": "volume", "成交额": "amount", "涨跌额": "change"}),
    volume_scale=100.0, signature=("日期", "开盘", "收盘"),
)

QLIB = Layout(
    "qlib",
    _ro({"date": "date", "symbol": "symbol", "instrument": "symbol", "open": "open", "high": "high",
         "low": "low", "close": "close", "volume": "volume", "factor": "factor"}),
    prices="adjusted", volume_adjusted=True, signature=("date", "factor"),
)

LONG = Layout(
    "long",
    _ro({c: c for c in (*_BAR_COLS, *_OPTIONAL)} | {"code": "symbol", "trade_date": "date"}),
    signature=("symbol", "date"),
)

# 邢不行 (xbx) per-stock CSVs: a one-line banner, then these headers; volume in shares, amount CNY.
XBX = Layout(
    "xbx",
    _ro({"股票代码": "symbol", "股票名称": "name", "交易日期": "date", "开盘价": "open", "最高价": "high",
         "最低价": "low", "收盘价": "close", "前收盘价": "pre_close", "成交量": "volume", "成交额": "amount",
         "流通市值": "float_cap", "总市值": "total_cap"}),
    signature=("交易日期", "前收盘价"),
)

LAYOUTS: dict[str, Layout] = {lay.name: lay for lay in (TUSHARE, AKSHARE, QLIB, XBX, LONG)}

# qlib instruments file stem -> index code
QLIB_INDEX_FILES: dict[str, str] = {
    "csi300": "000300.SH", "csi500": "000905.SH", "csi800": "000906.SH",
    "csi1000": "000852.SH", "csi100": "000903.SH",
}


def detect(headers: list[str]) -> Layout:
    """The layout whose signature headers all appear in ``headers`` (first match; LONG last)."""
    cols = {h.strip().lstrip("\ufeff") for h in headers}
    for lay in LAYOUTS.values():
        if lay.signature and set(lay.signature) <= cols:
            return lay
    raise ValueError(f"cannot detect the file layout from headers {sorted(cols)[:12]}")
