"""The akshare module as the akshare source calls it, with the one call that is replaced.

``AkshareApi(akshare)`` hands every function through unchanged except ``index_zh_a_hist``:
akshare 1.19.5's version first pages through Eastmoney's whole index list
(``index_code_id_map_em``: ~60 requests of 100 rows) only to learn each index's market id,
then asks the kline endpoint. flyer knows the id from the code (``000xxx.SH`` -> 1,
``399xxx.SZ`` -> 0) and asks the kline endpoint once, with the same parameters akshare sends,
returning akshare's frame (日期 as text, 开盘 ... 换手率 numeric). An answer without data falls
back to akshare's own function. Tests pass a recorded stand-in for the whole module instead.
"""
from __future__ import annotations

from typing import Any

import pandas as pd

KLINE_URL = "https://push2his.eastmoney.com/api/qt/stock/kline/get"
INDEX_COLUMNS = ["日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率"]
PERIODS = {"daily": "101", "weekly": "102", "monthly": "103"}


def market_id(symbol: str) -> int:
    """Eastmoney's market id of an index code: 0 for Shenzhen (399xxx), else 1 (Shanghai, CSI)."""
    return 0 if symbol.startswith("399") else 1


class AkshareApi:
    """The akshare module with ``index_zh_a_hist`` asked in one request (module docstring)."""

    def __init__(self, module: Any) -> None:
        self._module = module

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def index_zh_a_hist(self, symbol: str = "000905", period: str = "daily", start_date: str = "19700101",
                        end_date: str = "22220101") -> pd.DataFrame:
        """Eastmoney's index kline, as akshare's ``index_zh_a_hist`` returns it (one request)."""
        import requests

        params = {"secid": f"{market_id(symbol)}.{symbol}", "ut": "7eea3edcaed734bea9cbfc24409ed989",
                  "fields1": "f1,f2,f3,f4,f5,f6", "fields2": "f51,f52,f53,f54,f55,f56,f57,f58,f59,f60,f61",
                  "klt": PERIODS[period], "fqt": "0", "beg": start_date, "end": end_date}
        data = requests.get(KLINE_URL, params=params).json().get("data")  # timeout: the caller's bound
        if not data or not data.get("klines"):
            return self._module.index_zh_a_hist(symbol=symbol, period=period, start_date=start_date,
                                                end_date=end_date)
        df = pd.DataFrame([item.split(",") for item in data["klines"]])
        df.columns = INDEX_COLUMNS
        for col in INDEX_COLUMNS[1:]:
            df[col] = pd.to_numeric(df[col], errors="coerce")
        return df
