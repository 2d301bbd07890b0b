"""Source ``akshare`` against recorded frames (no network): units, factor, cache, retries, resume."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
import requests

from flyer.data.calendar import sse_calendar
from flyer.data.sources import akshare_source as aks
from flyer.data.sources.base import ingest, make_source
from flyer.data.store import MarketStore

D = dt.date
START, END = D(2024, 1, 2), D(2024, 2, 8)
DAYS = sse_calendar(START, END)  # 27 trading days
LIST = [("600000", "浦发银行"), ("000001", "平安银行"), ("300750", "宁德时代"), ("688981", "中芯国际"),
        ("000004", "*ST国华")]
HFQ_BASE = {"600000": 7.0, "000001": 40.0, "300750": 1.5, "688981": 1.0}


def _klines(code: str) -> list[tuple[dt.date, float, float]]:
    """(date, raw close, hfq factor) of the recorded symbols; eastmoney rounds both prices to 0.01."""
    days = DAYS
    if code == "000001":
        days = [d for i, d in enumerate(DAYS) if i not in (5, 6, 7)]  # suspended 3 days: no rows
    if code == "300750":
        days = DAYS[10:]  # listed mid-range
    out, factor, close = [], HFQ_BASE[code], 10.0 + int(code[-2:]) / 10
    for i, d in enumerate(days):
        close = round(close * (1 + 0.01 * ((i * 7 + int(code[-1])) % 5 - 2)), 2)
        if code == "600000" and i == 15:  # 0.5 CNY cash dividend: raw drops, hfq does not
            factor *= (close + 0.5) / close
        out.append((d, close, factor))
    return out


def _hist_frame(code: str, adjust: str) -> pd.DataFrame:
    """A frame built exactly as akshare 1.19.5's stock_zh_a_hist builds it from kline strings."""
    lines = []
    for d, close, factor in _klines(code):
        k = factor if adjust == "hfq" else 1.0
        o, c = round(close * 0.99 * k, 2), round(close * k, 2)
        h, low = round(close * 1.02 * k, 2), round(close * 0.98 * k, 2)
        lines.append(f"{d},{o},{c},{h},{low},{1000 + d.day},{(1000 + d.day) * 100 * close:.2f},4.0,1.0,0.1,0.5")
    temp = pd.DataFrame([x.split(",") for x in lines])
    temp["股票代码"] = code
    temp.columns = ["日期", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率", "股票代码"]
    temp["日期"] = pd.to_datetime(temp["日期"], errors="coerce").dt.date
    for col in ("开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率"):
        temp[col] = pd.to_numeric(temp[col], errors="coerce")
    return temp[["日期", "股票代码", "开盘", "收盘", "最高", "最低", "成交量", "成交额", "振幅", "涨跌幅", "涨跌额", "换手率"]]


class FakeAk:
    """Stands in for the akshare module; ``fail`` maps a call number (1-based) to the error it raises."""

    def __init__(self, fail: dict[int, BaseException] | None = None, down_from: int | None = None) -> None:
        self.fail, self.down_from, self.log = fail or {}, down_from, []

    def _record(self, name: str, **kw: Any) -> None:
        self.log.append((name, kw.get("symbol"), kw.get("adjust")))
        n = len(self.log)
        if self.down_from is not None and n >= self.down_from:
            raise requests.exceptions.ConnectionError("Failed to resolve 'push2his.eastmoney.com'")
        if n in self.fail:
            raise self.fail[n]

    def stock_info_a_code_name(self) -> pd.DataFrame:
        self._record("stock_info_a_code_name")
        return pd.DataFrame(LIST, columns=["code", "name"])

    def stock_zh_a_hist(self, symbol: str, period: str, start_date: str, end_date: str, adjust: str = "") -> pd.DataFrame:
        self._record("stock_zh_a_hist", symbol=symbol, adjust=adjust)
        assert (period, start_date, end_date) == ("daily", "20240102", "20240208")
        return pd.DataFrame() if symbol not in HFQ_BASE else _hist_frame(symbol, adjust)

    def index_zh_a_hist(self, symbol: str, period: str, start_date: str, end_date: str) -> pd.DataFrame:
        self._record("index_zh_a_hist", symbol=symbol)
        df = _hist_frame("688981", "").drop(columns=["股票代码"])
        for col in ("开盘", "收盘", "最高", "最低"):
            df[col] = df[col] * 500
        return df

    def index_stock_cons_weight_csindex(self, symbol: str) -> pd.DataFrame:
        self._record("index_stock_cons_weight_csindex", symbol=symbol)
        return pd.DataFrame({
            "日期": [D(2024, 1, 31)] * 3, "指数代码": [symbol] * 3, "指数名称": ["中证500"] * 3,
            "指数英文名称": ["CSI 500"] * 3, "成分券代码": ["600000", "000001", "688981"],
            "成分券名称": ["浦发银行", "平安银行", "中芯国际"], "成分券英文名称": ["a", "b", "c"],
            "交易所": ["上海证券交易所", "深圳证券交易所", "上海证券交易所"],
            "交易所英文名称": ["Shanghai Exchange", "Shenzhen Exchange", "Shanghai Exchange"],
            "权重": [50.0, 30.0, 20.0]})

    def tool_trade_date_hist_sina(self) -> pd.DataFrame:
        self._record("tool_trade_date_hist_sina")
        return pd.DataFrame({"trade_date": sse_calendar(D(2023, 12, 1), D(2024, 3, 29))})


def _ingest(home: Path, ak: FakeAk, sleeps: list[float] | None = None, **kw: Any) -> Any:
    src = make_source("akshare", start=START, end=END, progress=False, **kw)
    with MarketStore.open(home) as store:
        return ingest(store, src, ak=ak, sleep=(sleeps.append if sleeps is not None else lambda s: None))


def _bars(home: Path) -> pl.DataFrame:
    with MarketStore.open(home) as store:
        return store.bars(adjust=False)


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, FakeAk]:
    home = tmp_path_factory.mktemp("clean")
    ak = FakeAk()
    return home, _ingest(home, ak), ak


def test_frames_units_factor_and_panel(clean: tuple[Path, Any, FakeAk]) -> None:
    home, report, _ = clean
    bars = _bars(home)
    assert report.rejected.get("bars", 0) == 0
    assert sorted(bars["symbol"].unique()) == ["000001.SZ", "300750.SZ", "600000.SH", "688981.SH"]
    a = bars.filter(pl.col("symbol") == "600000.SH")
    assert a.height == len(DAYS)
    assert a["volume"][0] == (1000 + DAYS[0].day) * 100  # lots -> shares
    factors = a["adj_factor"].unique(maintain_order=True).to_list()
    assert len(factors) == 2 and factors[0] == pytest.approx(7.0, rel=1e-3)  # one event, no rounding noise
    b = bars.filter(pl.col("symbol") == "000001.SZ")
    assert b.height == len(DAYS) and b["is_suspended"].sum() == 3  # suspended days filled flat
    assert b.filter(pl.col("is_suspended"))["close"].n_unique() == 1
    assert bars.filter(pl.col("symbol") == "300750.SZ")["date"].min() == DAYS[10]
    with MarketStore.open(home) as store:
        inst = store.instruments()
        assert inst.filter(pl.col("symbol") == "688981.SH")["board"].item() == "star"
        assert inst.filter(pl.col("symbol") == "600000.SH")["name"].item() == "浦发银行"
        assert inst["delist_date"].null_count() == inst.height
        idx = store.index_bars("000905.SH")
        assert idx.height == len(DAYS) and idx["volume"][0] == (1000 + DAYS[0].day) * 100
        members = store.members("000905.SH", D(2024, 2, 1))
        assert members["weight"].sum() == pytest.approx(1.0) and "000001.SZ" in members["symbol"].to_list()
        assert store.calendar().to_list() == DAYS


def test_empty_symbol_is_reported_not_fatal(clean: tuple[Path, Any, FakeAk]) -> None:
    _, report, _ = clean
    assert report.messages[0] == "akshare: 1 symbol(s) returned no bars: 000004.SZ"


def test_network_failure_leaves_store_unchanged_and_rerun_resumes(
        tmp_path: Path, clean: tuple[Path, Any, FakeAk]) -> None:
    home = tmp_path / "home"
    down = FakeAk(down_from=6)  # list, 600000 raw+hfq, 000001 raw+hfq ok; then the network is gone
    with pytest.raises(aks.AkshareError, match=r"stock_zh_a_hist.*failed after 3 tries \(ConnectionError.*retry later"):
        _ingest(home, down)
    with MarketStore.open(home) as store:
        assert store.bars().height == 0 and store.ingest_log().height == 0
    again = FakeAk()
    _ingest(home, again)
    fetched = {s for name, s, _ in again.log if name == "stock_zh_a_hist"}
    assert fetched == {"300750", "688981", "000004"}  # 600000 and 000001 came from the cache
    assert not any(name == "stock_info_a_code_name" for name, *_ in again.log)
    assert _bars(home).equals(_bars(clean[0]))


def test_retries_with_backoff_then_succeeds(tmp_path: Path) -> None:
    flaky = FakeAk(fail={1: requests.exceptions.Timeout("read timed out"), 2: KeyError("data")})
    sleeps: list[float] = []
    _ingest(tmp_path, flaky, sleeps, symbols="600000", indexes=(), weights=(), delay=0.5, backoff=2.0)
    assert [c for c in flaky.log if c[0] == "stock_zh_a_hist"][:3] == [("stock_zh_a_hist", "600000", "")] * 3
    assert sleeps[:4] == [2.0, 0.5, 4.0, 0.5]  # polite delay before every call after the first, backoff doubling
    assert not any(name == "stock_info_a_code_name" for name, *_ in flaky.log)  # --symbols: no stock-list call
    assert _bars(tmp_path).height == len(DAYS)


def test_malformed_answer_exhausts_tries(tmp_path: Path) -> None:
    bad = requests.exceptions.JSONDecodeError("Expecting value", "<html>", 0)
    broken = FakeAk(fail={n: bad for n in range(1, 10)})
    with pytest.raises(aks.AkshareError, match="JSONDecodeError"):
        _ingest(tmp_path, broken, symbols=["sh600000"], tries=2)
    assert len(broken.log) == 2


def test_stable_factor_ignores_rounding_noise() -> None:
    df = pl.DataFrame({"raw": [10.0, 10.01, 9.99, 9.5, 9.51], "hfq": [70.0, 70.07, 69.94, 70.0, 70.07]})
    f = df.select(aks.stable_factor(pl.col("hfq"), pl.col("raw")).alias("f"))["f"].to_list()
    assert f[0] == f[1] == f[2] == 7.0 and f[3] == f[4] == pytest.approx(70.0 / 9.5)
