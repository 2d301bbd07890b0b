"""Recorded akshare frames (no network) for the akshare source tests.

Every frame is built the way akshare 1.19.5 builds it (read in
``.venv/lib/python3.11/site-packages/akshare/``): the same column names, order and pandas dtypes
(kline strings through ``pd.to_numeric``, ``pd.to_datetime(...).dt.date`` for dates, Sina's
hfq factors as text with datetime64 dates, Tencent's volume left in lots for ``sz000`` codes).
All vendors describe ONE market (``truth``), so a run served by any vendor must store the same rows.
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Callable

import pandas as pd
import requests

from flyer.data.calendar import sse_calendar

D = dt.date
START, END = D(2024, 1, 2), D(2024, 2, 8)
DAYS = sse_calendar(START, END)  # 27 trading days
LIST = [("600000", "浦发银行"), ("000001", "平安银行"), ("300750", "宁德时代"), ("688981", "中芯国际"),
        ("000004", "*ST国华")]
HAS_BARS = ("600000", "000001", "300750", "688981", "600087")
PREFIX = {"600000": "sh", "000001": "sz", "300750": "sz", "688981": "sh", "000004": "sz", "600087": "sh"}
DIVIDEND_DAY = 15  # 600000 pays 0.5 CNY cash: the exchange's previous close drops by 0.5


def truth(code: str, days: list[dt.date] = DAYS) -> list[dict[str, Any]]:
    """Raw bars of one stock: prices to the cent, volume in shares, amount CNY, the exchange's
    previous close and the hfq factor it implies (base 1 on the first day of ``DAYS``)."""
    if code not in HAS_BARS:
        return []
    if code == "000001":
        days = [d for i, d in enumerate(days) if i not in (5, 6, 7)]  # suspended 3 days: no rows
    if code == "300750":
        days = [d for d in days if d >= DAYS[10]]  # listed mid-range
    if code == "600087":
        days = [d for d in days if d < DAYS[15]]  # delisted mid-range (only in a test's delisting list)
    rows, close, factor = [], 10.0 + int(code[-2:]) / 10, 1.0
    for i, d in enumerate(days):
        prev = close
        pre_close = round(prev - 0.5, 2) if code == "600000" and i == DIVIDEND_DAY else prev
        factor *= prev / pre_close
        close = round(pre_close * (1 + 0.01 * ((i * 7 + int(code[-1])) % 5 - 2)), 2)
        shares = (1000 + d.day) * 100
        rows.append({"date": d, "open": round(close * 0.99, 2), "close": close, "high": round(close * 1.02, 2),
                     "low": round(close * 0.98, 2), "pre_close": pre_close, "volume": shares,
                     "amount": round(shares * close, 2), "factor": factor})
    return rows


def _in(rows: list[dict], start: str, end: str) -> list[dict]:
    lo, hi = (D(int(s[:4]), int(s[4:6]), int(s[6:8])) for s in (start.replace("-", ""), end.replace("-", "")))
    return [r for r in rows if lo <= r["date"] <= hi]


# ------------------------------------------------------------------------------- vendor frames
def em_hist(code: str, start: str, end: str, hfq_base: float = 7.0) -> pd.DataFrame:
    """``stock_zh_a_hist(adjust="")``: kline strings -> frame, as akshare builds it."""
    rows = _in(truth(code), start, end)
    if not rows:
        return pd.DataFrame()
    lines = [f"{r['date']},{r['open']},{r['close']},{r['high']},{r['low']},{r['volume'] // 100},{r['amount']:.2f},"
             f"4.0,{(r['close'] / r['pre_close'] - 1) * 100:.2f},{r['close'] - r['pre_close']:.2f},0.5" for r in rows]
    temp = pd.DataFrame([x.split(",") for x in lines])
    temp["股票代码"] = code
    temp.columns = ["日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率", "股票代码"]
    temp["日期"] = pd.to_datetime(temp["日期"], errors="coerce").dt.date
    for col in ("开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率"):
        temp[col] = pd.to_numeric(temp[col], errors="coerce")
    return temp[["日期", "股票代码", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率"]]


def sina_daily(code: str, start: str, end: str) -> pd.DataFrame:
    """``stock_zh_a_daily(adjust="")``: date (date objects), float OHLCV, shares, turnover."""
    rows = _in(truth(code), start, end)
    if not rows:
        return pd.DataFrame()
    df = pd.DataFrame({"date": [r["date"] for r in rows]})
    for c in ("open", "high", "low", "close", "volume", "amount"):
        df[c] = [float(r[c]) for r in rows]
    df["outstanding_share"] = 1.0e9
    df["turnover"] = df["volume"] / df["outstanding_share"]
    return df


def sina_hfq_factor(code: str, base: float = 13.7) -> pd.DataFrame:
    """``stock_zh_a_daily(adjust="hfq-factor")``: one row per factor change, newest first, the
    factor as text; Sina's base differs from Eastmoney's (only ratios matter)."""
    rows = truth(code)
    changes = [("1900-01-01", base)]
    for prev, r in zip(rows, rows[1:]):
        if r["factor"] != prev["factor"]:
            changes.append((str(r["date"]), base * r["factor"]))
    df = pd.DataFrame({"d": [d for d, _ in changes][::-1], "f": [f"{f:.16g}" for _, f in changes][::-1]})
    df.columns = ["date", "hfq_factor"]
    df.index = pd.to_datetime(df.date)
    del df["date"]
    df.reset_index(inplace=True)
    return df


def tx_hist(code: str, start: str, end: str, adjust: str) -> pd.DataFrame:
    """``stock_zh_a_hist_tx``: date, open, close, high, low, volume, turnover, amount (万元 x 1e4);
    akshare leaves the volume in lots for sz000 codes (its index test catches them)."""
    rows = _in(truth(code), start, end)
    if not rows:
        return pd.DataFrame()
    k = [r["factor"] * 3.1 if adjust == "hfq" else 1.0 for r in rows]
    df = pd.DataFrame({"date": [r["date"] for r in rows]})
    for c in ("open", "close", "high", "low"):
        df[c] = [round(r[c] * f, 2) for r, f in zip(rows, k)]
    lots = [r["volume"] / 100 for r in rows]
    df["volume"] = lots if (PREFIX[code] + code).startswith("sz000") else [v * 100 for v in lots]
    df["turnover"] = 0.5 / 100
    df["amount"] = [r["amount"] / 10000 * 10000 for r in rows]
    return df


def em_index(start: str, end: str) -> pd.DataFrame:
    """``index_zh_a_hist``: 日期 stays text (akshare only parses it for the index slice)."""
    rows = _in(truth("688981"), start, end)
    lines = [f"{r['date']},{r['open'] * 500:.2f},{r['close'] * 500:.2f},{r['high'] * 500:.2f},{r['low'] * 500:.2f},"
             f"{r['volume'] // 100},{r['amount']:.2f},1.0,0.1,0.5,0.3" for r in rows]
    temp = pd.DataFrame([x.split(",") for x in lines])
    temp.columns = ["日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率"]
    for col in ("开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率"):
        temp[col] = pd.to_numeric(temp[col], errors="coerce")
    return temp


def sina_index() -> pd.DataFrame:
    """``stock_zh_index_daily``: the whole history; date (date objects), open, high, low, close, volume."""
    rows = truth("688981", sse_calendar(D(2023, 12, 1), END))
    return pd.DataFrame({"date": [r["date"] for r in rows], "open": [round(r["open"] * 500, 2) for r in rows],
                         "high": [round(r["high"] * 500, 2) for r in rows], "low": [round(r["low"] * 500, 2) for r in rows],
                         "close": [round(r["close"] * 500, 2) for r in rows], "volume": [float(r["volume"]) for r in rows]})


CSI_COLS = ["日期", "指数代码", "指数名称", "指数英文名称", "成分券代码", "成分券名称", "成分券英文名称", "交易所", "交易所英文名称"]
EX_NAMES = {"SH": ("上海证券交易所", "Shanghai Stock Exchange"), "SZ": ("深圳证券交易所", "Shenzhen Stock Exchange")}


def csindex(day: dt.date, members: list[str], weights: list[float] | None = None) -> pd.DataFrame:
    """``index_stock_cons_csindex`` (weights None) / ``index_stock_cons_weight_csindex``."""
    ex = ["SH" if m.startswith("6") else "SZ" for m in members]
    df = pd.DataFrame({"日期": [day] * len(members), "指数代码": ["000905"] * len(members),
                       "指数名称": ["中证500"] * len(members), "指数英文名称": ["CSI 500"] * len(members),
                       "成分券代码": members, "成分券名称": ["x"] * len(members), "成分券英文名称": ["x"] * len(members),
                       "交易所": [EX_NAMES[e][0] for e in ex], "交易所英文名称": [EX_NAMES[e][1] for e in ex]})
    if weights is not None:
        df["权重"] = pd.to_numeric(pd.Series(weights))
    return df


ST_COLS = ["序号", "代码", "名称", "最新价", "涨跌幅", "涨跌额", "成交量", "成交额", "振幅", "最高", "最低", "今开", "昨收",
           "量比", "换手率", "市盈率-动态", "市净率"]


def st_board(codes: list[str]) -> pd.DataFrame:
    """``stock_zh_a_st_em``: the risk-warning board today."""
    rows = [[i + 1, c, f"*ST{c}", 3.0, 1.0, 0.03, 1000.0, 3000.0, 2.0, 3.1, 2.9, 3.0, 2.97, 1.0, 0.5, -5.0, 1.2]
            for i, c in enumerate(codes)]
    df = pd.DataFrame(rows, columns=ST_COLS)
    return df


def sw_history() -> pd.DataFrame:
    """``stock_industry_clf_hist_sw``: symbol, start_date, industry_code, update_time."""
    rows = [("600000", D(1999, 11, 10), "440101"), ("600000", D(2014, 2, 21), "480101"),
            ("600000", D(2021, 7, 30), "480301"), ("000001", D(1991, 4, 3), "440101"),
            ("000001", D(2014, 2, 21), "480101"), ("000001", D(2021, 7, 30), "480301"),
            ("300750", D(2018, 6, 11), "630701"), ("300750", D(2021, 7, 30), "630701"),
            ("688981", D(2020, 7, 16), "270101"), ("000004", D(1991, 1, 14), "370101"),
            ("000002", D(1991, 1, 29), "430101")]  # 000002: not in the run, not stored
    return pd.DataFrame({"symbol": [r[0] for r in rows], "start_date": [r[1] for r in rows],
                         "industry_code": [r[2] for r in rows], "update_time": [D(2024, 1, 31)] * len(rows)})


SH_DELIST_COLS = ["公司代码", "公司简称", "上市日期", "暂停上市日期"]
SZ_DELIST_COLS = ["证券代码", "证券简称", "上市日期", "终止上市日期", "所属行业"]
#: delisted long before the recorded window (the source must leave them out)
OLD_DELISTED = {"sh": [("600001", "邯郸钢铁", D(1998, 1, 22), D(2009, 12, 29)), ("900951", "大化B股", D(1997, 1, 1),
                                                                                   D(2019, 1, 1))],
                "sz": [("000003", "PT金田A", D(1991, 7, 3), D(2002, 6, 14)), ("200003", "PT金田B", D(1991, 7, 3),
                                                                               D(2002, 6, 14))]}


def sh_delist(rows: list[tuple[str, str, dt.date, dt.date]]) -> pd.DataFrame:
    """``stock_info_sh_delist``: 公司代码, 公司简称, 上市日期, 暂停上市日期 (dates as date objects)."""
    return pd.DataFrame(rows, columns=SH_DELIST_COLS)


def sz_delist(rows: list[tuple[str, str, dt.date, dt.date]]) -> pd.DataFrame:
    """``stock_info_sz_delist``: 证券代码 (int in the xlsx: zero-filled by akshare), 证券简称, 上市日期,
    终止上市日期 (dates), 所属行业."""
    return pd.DataFrame([(c, n, a, b, "x") for c, n, a, b in rows], columns=SZ_DELIST_COLS)


# ------------------------------------------------------------------------------- the fake module
class Clock:
    """A fake clock the source's sleeps advance; every vendor call also takes ``call_time``."""

    def __init__(self, call_time: float = 0.2) -> None:
        self.t, self.call_time, self.sleeps = 0.0, call_time, []

    def __call__(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


class FakeAk:
    """Stands in for the akshare module. ``down``: vendor -> predicate(call number, clock time)
    telling when that vendor refuses (ConnectionError); ``fail``: call number -> error raised;
    ``edit``: function name -> frame editor (a vendor whose columns changed, a wrong price)."""

    VENDOR = {"stock_zh_a_hist": "eastmoney", "index_zh_a_hist": "eastmoney", "stock_zh_a_st_em": "eastmoney",
              "stock_zh_a_daily": "sina", "stock_zh_index_daily": "sina", "tool_trade_date_hist_sina": "sina",
              "stock_zh_a_hist_tx": "tencent", "stock_info_a_code_name": "exchanges",
              "index_stock_cons_csindex": "csindex", "index_stock_cons_weight_csindex": "csindex",
              "stock_industry_clf_hist_sw": "swsresearch", "stock_info_sh_delist": "exchanges",
              "stock_info_sz_delist": "exchanges"}

    def __init__(self, clock: Clock | None = None, down: dict[str, Callable[[int, float], bool]] | None = None,
                 fail: dict[int, BaseException] | None = None, edit: dict[str, Callable] | None = None,
                 members: Callable[[], list[str]] | None = None, st: Callable[[], list[str]] | None = None,
                 delisted: dict[str, list[tuple[str, str, dt.date, dt.date]]] | None = None) -> None:
        self.clock, self.down, self.fail, self.edit = clock or Clock(), down or {}, fail or {}, edit or {}
        self.members = members or (lambda: ["600000", "000001", "688981"])
        self.st = st or (lambda: ["000004"])
        self.delisted = delisted or OLD_DELISTED
        self.log: list[tuple[str, Any, Any, float]] = []

    def _record(self, name: str, **kw: Any) -> None:
        self.log.append((name, kw.get("symbol"), kw.get("adjust"), self.clock.t))
        self.clock.t += self.clock.call_time
        n, vendor = len(self.log), self.VENDOR[name]
        if vendor in self.down and self.down[vendor](n, self.clock.t):
            raise requests.exceptions.ConnectionError(f"Connection aborted by {vendor}")
        if n in self.fail:
            raise self.fail[n]

    def _out(self, name: str, df: pd.DataFrame, **kw: Any) -> pd.DataFrame:
        return self.edit[name](df, **kw) if name in self.edit else df

    def calls(self, name: str) -> list[tuple]:
        return [c for c in self.log if c[0] == name]

    def stock_info_a_code_name(self) -> pd.DataFrame:
        self._record("stock_info_a_code_name")
        return pd.DataFrame(LIST, columns=["code", "name"])

    def stock_info_sh_delist(self, symbol: str = "全部") -> pd.DataFrame:
        self._record("stock_info_sh_delist")
        assert symbol == "全部"
        return sh_delist(self.delisted.get("sh", []))

    def stock_info_sz_delist(self, symbol: str = "终止上市公司") -> pd.DataFrame:
        self._record("stock_info_sz_delist")
        assert symbol == "终止上市公司"
        return sz_delist(self.delisted.get("sz", []))

    def stock_zh_a_hist(self, symbol: str, period: str = "daily", start_date: str = "19700101",
                        end_date: str = "20500101", adjust: str = "", timeout: float | None = None) -> pd.DataFrame:
        self._record("stock_zh_a_hist", symbol=symbol, adjust=adjust)
        assert period == "daily" and adjust == ""
        return self._out("stock_zh_a_hist", em_hist(symbol, start_date, end_date), symbol=symbol)

    def stock_zh_a_daily(self, symbol: str = "sh603843", start_date: str = "19900101", end_date: str = "21000118",
                         adjust: str = "") -> pd.DataFrame:
        self._record("stock_zh_a_daily", symbol=symbol, adjust=adjust)
        code = symbol[2:]
        if adjust == "hfq-factor":
            return sina_hfq_factor(code)
        return self._out("stock_zh_a_daily", sina_daily(code, start_date, end_date), symbol=symbol)

    def stock_zh_a_hist_tx(self, symbol: str = "sz000001", start_date: str = "19000101", end_date: str = "20500101",
                           adjust: str = "", timeout: float | None = None) -> pd.DataFrame:
        self._record("stock_zh_a_hist_tx", symbol=symbol, adjust=adjust)
        assert start_date[4] == end_date[4] == "-", "ISO dates: akshare reads the end year as end_date[:4] of 'Y-M-D'"
        return tx_hist(symbol[2:], start_date, end_date, adjust)

    def index_zh_a_hist(self, symbol: str = "000859", period: str = "daily", start_date: str = "19700101",
                        end_date: str = "22220101") -> pd.DataFrame:
        self._record("index_zh_a_hist", symbol=symbol)
        return em_index(start_date, end_date)

    def stock_zh_index_daily(self, symbol: str = "sh000922") -> pd.DataFrame:
        self._record("stock_zh_index_daily", symbol=symbol)
        return sina_index()

    def index_stock_cons_csindex(self, symbol: str = "000300") -> pd.DataFrame:
        self._record("index_stock_cons_csindex", symbol=symbol)
        return csindex(self._today(), self.members())

    def index_stock_cons_weight_csindex(self, symbol: str = "000300") -> pd.DataFrame:
        self._record("index_stock_cons_weight_csindex", symbol=symbol)
        return csindex(D(2024, 1, 31), ["600000", "000001", "688981"], [50.0, 30.0, 20.0])

    def stock_zh_a_st_em(self) -> pd.DataFrame:
        self._record("stock_zh_a_st_em")
        return st_board(self.st())

    def stock_industry_clf_hist_sw(self) -> pd.DataFrame:
        self._record("stock_industry_clf_hist_sw")
        return sw_history()

    def tool_trade_date_hist_sina(self) -> pd.DataFrame:
        self._record("tool_trade_date_hist_sina")
        return pd.DataFrame({"trade_date": sse_calendar(D(2023, 12, 1), D(2024, 3, 29))})

    today: dt.date = END

    def _today(self) -> dt.date:
        return self.today
