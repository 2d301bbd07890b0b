"""Source ``baostock`` against recorded result sets (no network).

The answers are REAL ``baostock.data.resultset.ResultData`` objects filled the way baostock 0.9.4
fills them from the server's message (``setFields`` with the comma-separated field list,
``setData`` with the ``{"record": [[text, ...], ...]}`` JSON body; error codes as text), so the
source reads them with the library's own ``next()`` / ``get_row_data()``.
"""
from __future__ import annotations

import datetime as dt
import json
import sys
import types
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.data.calendar import sse_calendar
from flyer.data.sources import baostock_source as bss
from flyer.data.sources import net
from flyer.data.sources.base import ingest, make_source
from flyer.data.store import MarketStore

D = dt.date
START, END = D(2024, 1, 2), D(2024, 2, 8)
DAYS = sse_calendar(START, END)
SWITCH = D(2024, 1, 22)  # CSI 500 version effective that day


def result(fields: str, rows: list[list[str]], code: str = "0", msg: str = "success") -> Any:
    from baostock.data.resultset import ResultData

    rs = ResultData()
    rs.error_code, rs.error_msg = code, msg
    if code == "0":
        rs.setFields(fields)
        rs.setData(json.dumps({"record": rows}, ensure_ascii=False))
    return rs


def kline(code: str, start: str, end: str) -> list[list[str]]:
    """Rows of ``BAR_FIELDS`` text as BaoStock sends them (4-decimal prices, empty = missing)."""
    lo, hi = D.fromisoformat(start), D.fromisoformat(end)
    rows, close = [], 10.0 + int(code[-2:]) / 10
    for i, d in enumerate(sse_calendar(START, END)):
        prev = close
        pre = round(prev - 0.5, 2) if code == "sh.600000" and i == 15 else prev
        suspended = code == "sz.000001" and i in (5, 6)
        close = pre if suspended else round(pre * (1 + 0.01 * ((i * 7 + int(code[-1])) % 5 - 2)), 2)
        st = "1" if code == "sz.000004" and i >= 10 else "0"
        vol = "" if suspended else str((1000 + d.day) * 100)
        amount = "" if suspended else f"{(1000 + d.day) * 100 * close:.4f}"
        pe = "" if code == "sz.000004" else f"{12.5 + i / 10:.6f}"
        if lo <= d <= hi:
            rows.append([str(d), code, *(f"{x:.4f}" for x in (close if suspended else close * 0.99, close if suspended
                         else close * 1.02, close if suspended else close * 0.98, close, pre)),
                         vol, amount, "3", "" if suspended else "0.512300", "0" if suspended else "1",
                         f"{(close / pre - 1) * 100:.6f}", pe, "1.234500", "2.500000", "8.100000", st])
    return rows


class FakeBs(types.ModuleType):
    """Stands in for the baostock module; ``errors``: query number -> (code, message) answered."""

    def __init__(self, errors: dict[int, tuple[str, str]] | None = None) -> None:
        super().__init__("baostock")
        self.errors, self.log, self.logins = errors or {}, [], 0

    def _answer(self, name: str, fields: str, rows: list[list[str]]) -> Any:
        self.log.append(name)
        if len(self.log) in self.errors:
            return result(fields, [], *self.errors[len(self.log)])
        return result(fields, rows)

    def login(self, user_id: str = "anonymous", password: str = "123456") -> Any:
        self.logins += 1
        return result("", [])

    def logout(self, user_id: str = "anonymous") -> Any:
        return result("", [])

    def query_trade_dates(self, start_date: str | None = None, end_date: str | None = None) -> Any:
        days = [D.fromisoformat(start_date) + dt.timedelta(days=k)
                for k in range((D.fromisoformat(end_date) - D.fromisoformat(start_date)).days + 1)]
        trading = set(sse_calendar(days[0], days[-1]))
        return self._answer("query_trade_dates", "calendar_date,is_trading_day",
                            [[str(d), "1" if d in trading else "0"] for d in days])

    def query_stock_basic(self, code: str = "", code_name: str = "") -> Any:
        return self._answer("query_stock_basic", "code,code_name,ipoDate,outDate,type,status", [
            ["sh.600000", "浦发银行", "1999-11-10", "", "1", "1"], ["sz.000001", "平安银行", "1991-04-03", "", "1", "1"],
            ["sz.000004", "*ST国华", "1991-01-14", "", "1", "1"], ["sh.000905", "中证500", "2007-01-15", "", "2", "1"],
            ["sz.000003", "PT金田A", "1991-07-03", "2002-06-14", "1", "0"]])

    def query_history_k_data_plus(self, code: str, fields: str, start_date: str | None = None,
                                  end_date: str | None = None, frequency: str = "d", adjustflag: str = "3") -> Any:
        assert frequency == "d" and adjustflag == "3"
        if code.startswith("sh.000"):
            rows = [[r[0], r[1], *r[2:6], r[7], r[8]] for r in kline("sz.000004", start_date, end_date)]
            return self._answer("query_history_k_data_plus", fields, [[*r[:2], *(str(float(x) * 500) for x in r[2:6]),
                                                                         *r[6:]] for r in rows])
        return self._answer("query_history_k_data_plus", fields, kline(code, start_date, end_date))

    def _members(self, name: str, date: str, a: list[str], b: list[str]) -> Any:
        new = D.fromisoformat(date) >= SWITCH
        upd = str(SWITCH) if new else "2023-12-11"
        return self._answer(name, "updateDate,code,code_name", [[upd, c, "x"] for c in (b if new else a)])

    def query_zz500_stocks(self, date: str = "") -> Any:
        return self._members("query_zz500_stocks", date, ["sh.600000", "sz.000001"], ["sh.600000", "sz.000004"])

    def query_hs300_stocks(self, date: str = "") -> Any:
        return self._members("query_hs300_stocks", date, ["sz.000001"], ["sz.000001"])


def _ingest(home: Path, bs: FakeBs, **kw: Any) -> Any:
    src = make_source("baostock", start=START, end=END, progress=False, member_step=5, **kw)
    with MarketStore.open(home) as store:
        return ingest(store, src, bs=bs, sleep=lambda s: None)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, FakeBs]:
    home, bs = tmp_path_factory.mktemp("bs"), FakeBs()
    return home, _ingest(home, bs), bs


def test_bars_status_and_factor(loaded: tuple[Path, Any, FakeBs]) -> None:
    home, report, bs = loaded
    assert report.rejected.get("bars", 0) == 0 and bs.logins == 1
    with MarketStore.open(home) as store:
        bars = store.bars(adjust=False)
        assert sorted(bars["symbol"].unique()) == ["000001.SZ", "000004.SZ", "600000.SH"]  # stocks listed in the window
        a = bars.filter(pl.col("symbol") == "600000.SH")
        assert a.height == len(DAYS) and a["volume"][0] == (1000 + DAYS[0].day) * 100  # shares
        f = a["adj_factor"].to_list()
        assert f[0] == 1.0 and f[15] == pytest.approx(a["close"][14] / (a["close"][14] - 0.5)) and len(set(f)) == 2
        b = bars.filter(pl.col("symbol") == "000001.SZ")
        assert b.filter(pl.col("is_suspended"))["date"].to_list() == DAYS[5:7]  # tradestatus 0 rows kept
        assert (b.filter(pl.col("is_suspended"))["volume"] == 0).all()
        st = bars.filter(pl.col("symbol") == "000004.SZ")
        assert st.filter(pl.col("is_st"))["date"].to_list() == DAYS[10:]  # isST per day
        inst = store.instruments()
        assert inst.filter(pl.col("symbol") == "600000.SH").row(0, named=True)["list_date"] == D(1999, 11, 10)
        assert inst.filter(pl.col("symbol") == "000004.SZ")["name"].item() == "*ST国华"
        assert store.index_bars("000905.SH").height == len(DAYS)
        assert store.calendar().to_list() == DAYS


def test_valuations_and_turnover(loaded: tuple[Path, Any, FakeBs]) -> None:
    home, _, _ = loaded
    with MarketStore.open(home) as store:
        f = store.fundamentals()
        a = f.filter(pl.col("symbol") == "600000.SH")
        assert a["pe_ttm"][0] == 12.5 and a["pb_mrq"][0] == 1.2345 and a["ps_ttm"][0] == 2.5
        assert a["turnover_rate"][0] == pytest.approx(0.005123)  # % -> fraction
        assert f.filter(pl.col("symbol") == "000004.SZ")["pe_ttm"].null_count() == len(DAYS)  # empty text = null
        susp = f.filter((pl.col("symbol") == "000001.SZ") & pl.col("date").is_in(DAYS[5:7]))
        assert susp["turnover_rate"].null_count() == 2


def test_historical_constituents_at_their_effective_date(loaded: tuple[Path, Any, FakeBs]) -> None:
    home, _, bs = loaded
    with MarketStore.open(home) as store:
        before = store.members("000905.SH", SWITCH - dt.timedelta(days=3))["symbol"].to_list()
        after = store.members("000905.SH", SWITCH)["symbol"].to_list()
        assert before == ["000001.SZ", "600000.SH"] and after == ["000004.SZ", "600000.SH"]
        assert store.query("SELECT DISTINCT date FROM index_members WHERE index_code = '000905.SH' ORDER BY date"
                           )["date"].to_list() == [START, SWITCH]  # the version in force at the start, re-dated
        assert store.members("000300.SH", END)["symbol"].to_list() == ["000001.SZ"]
        cov = store.query("SELECT tbl, key, mode FROM coverage ORDER BY tbl, key").rows()
        assert ("index_members", "000905.SH", "backfill") in cov and ("st", "*", "backfill") in cov
    assert bs.log.count("query_zz500_stocks") == len(range(0, len(DAYS), 5)) + 1  # sampled + the last day


def test_network_codes_are_retried_and_a_lost_login_renewed(tmp_path: Path) -> None:
    bs = FakeBs(errors={1: ("10002007", "网络接收错误。"), 3: ("10001001", "用户未登陆")})
    report = _ingest(tmp_path, bs, symbols="600000", indexes=(), members=())
    assert report.written["bars"] == len(DAYS)
    assert bs.log[:4] == ["query_trade_dates", "query_trade_dates", "query_stock_basic", "query_stock_basic"]
    assert bs.logins == 2  # logged in again after 10001001
    assert any(m.startswith("baostock baostock:") and "2 failed" in m for m in report.messages)


def test_other_error_codes_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    bs = FakeBs(errors={3: ("10004011", "证券代码不正确")})
    with pytest.raises(bss.BaostockError, match=r"^baostock query_history_k_data_plus\(code='sh.600000'.*error 10004011"):
        _ingest(tmp_path, bs, symbols="600000", indexes=(), members=())
    with MarketStore.open(tmp_path) as store:
        assert store.bars().height == 0
    again = FakeBs()
    _ingest(tmp_path, again, symbols="600000", indexes=(), members=())
    assert "query_trade_dates" not in again.log  # the calendar and stock list came from the cache


def test_cli_ingest_source_baostock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from flyer.cli import app

    monkeypatch.setitem(sys.modules, "baostock", FakeBs())
    monkeypatch.setattr(net, "require_online", lambda *args, **kw: None)  # the real probe would ask DNS
    res = CliRunner().invoke(app, ["ingest", "--source", "baostock", "--symbols", "600000,000004", "--start",
                                   str(START), "--end", str(END), "--home", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "from baostock done" in res.output
    with MarketStore.open(tmp_path, read_only=True) as store:
        assert store.bars()["symbol"].n_unique() == 2 and store.fundamentals().height == 2 * len(DAYS)
