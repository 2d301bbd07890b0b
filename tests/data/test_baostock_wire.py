"""The BaoStock side of the real network: the real ``baostock`` 0.9.4 module against a
fault-injecting BaoStock server on 127.0.0.1 (a stalled login, a reset, a page cut mid-answer),
and short histories caught against the calendar (recorded result sets)."""
from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from faults import RESET, SHORT, STALL, BaostockFaults, finishes_within
from flyer.data.sources import baostock_source as bss
from flyer.data.sources.base import make_source
from flyer.data.sources.baostock_wire import guarded
from flyer.data.sources.vendors import Caller, Politeness
from flyer.data.store import MarketStore
from test_baostock import END, START, FakeBs, kline

D = dt.date
SPAN = {"start_date": "2016-01-01", "end_date": "2022-11-07"}  # 2,503 days: two pages


@pytest.fixture()
def local_baostock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The real baostock module, pointed at 127.0.0.1 (the test sets the port)."""
    import baostock
    from baostock.common import contants as cons

    monkeypatch.setattr(cons, "BAOSTOCK_SERVER_IP", "127.0.0.1")
    return baostock, cons


def _session(bs: Any, wire: Any) -> bss.Session:
    policy = Politeness(delay=0.0, jitter=0.0, tries=2, backoff=0.0, timeout=0.5)
    return bss.Session(bs, Caller(policy, sleep=lambda s: None), wire)


def test_pages_are_read_through_the_guarded_socket(local_baostock: Any, monkeypatch: pytest.MonkeyPatch,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    bs, cons = local_baostock
    with BaostockFaults() as server:
        monkeypatch.setattr(cons, "BAOSTOCK_SERVER_PORT", server.port)
        with guarded(bs, 0.5) as wire:
            session = _session(bs, wire)
            session.login()
            rows = session.query("query_trade_dates", **SPAN)
            session.logout()
    assert rows.height == 2503 and rows["calendar_date"][-1] == "2022-11-07" and not wire.failures
    assert server.log == ["login", "query_trade_dates", "query_trade_dates", "logout"]
    assert "login success" not in capsys.readouterr().out  # baostock's print went to the log


def test_a_page_cut_mid_answer_is_an_error_not_the_end_of_the_data(local_baostock: Any, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """baostock 0.9.4 loops forever on a connection closed mid-answer; with a reset it prints the
    error and ``next()`` returns False with error code "0": a 2,000-row calendar taken as all."""
    bs, cons = local_baostock
    with BaostockFaults(fault=SHORT) as server:
        monkeypatch.setattr(cons, "BAOSTOCK_SERVER_PORT", server.port)
        src = make_source("baostock", start=D(2016, 1, 1), end=D(2022, 11, 7), symbols="600000", indexes=(),
                          members=(), progress=False, timeout=0.5, tries=2, backoff=0.0)
        with MarketStore.open(tmp_path) as store:
            _, exc, took = finishes_within(20, lambda: src.read(store, bs=bs, sleep=lambda s: None,
                                                                probe=lambda: None))
    assert isinstance(exc, bss.BaostockError), exc
    message = str(exc)
    assert "\n" not in message and "query_trade_dates" in message and "page 2 failed after 2,000 rows" in message
    assert "closed the connection mid-answer" in message and took < 10
    assert server.log.count("login") == 2  # the broken socket was replaced before the retry
    assert not list(tmp_path.rglob("*.parquet"))  # the short calendar was never cached
    out = capsys.readouterr().out
    assert "接收数据异常" not in out and "login success" not in out


@pytest.mark.parametrize("fault", [STALL, RESET])
def test_a_stalled_or_reset_login_fails_in_seconds(local_baostock: Any, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch, fault: str) -> None:
    bs, cons = local_baostock
    with BaostockFaults(fault=fault) as server:
        monkeypatch.setattr(cons, "BAOSTOCK_SERVER_PORT", server.port)
        src = make_source("baostock", start=START, end=END, symbols="600000", progress=False, timeout=0.5, tries=2,
                          backoff=0.0)
        t0 = time.monotonic()
        with MarketStore.open(tmp_path) as store:
            _, exc, _ = finishes_within(20, lambda: src.read(store, bs=bs, sleep=lambda s: None, probe=lambda: None))
    assert isinstance(exc, bss.BaostockError) and str(exc).startswith("baostock login failed after 2 tries"), exc
    assert time.monotonic() - t0 < 10 and server.log == ["login", "login"]


class ShortHistory(FakeBs):
    """600000's history stops five trading days early, with error code "0" (what a page lost on
    the wire looks like to baostock's caller); 000004 was delisted on END (outDate), so ITS
    history rightly stops the day before."""

    def query_history_k_data_plus(self, code: str, fields: str, start_date: str | None = None,
                                  end_date: str | None = None, frequency: str = "d", adjustflag: str = "3") -> Any:
        rs = super().query_history_k_data_plus(code, fields, start_date, end_date, frequency, adjustflag)
        if code == "sh.600000":
            rs.data = rs.data[:-5]
        if code == "sz.000004":
            rs.data = rs.data[:-1]
        return rs

    def query_stock_basic(self, code: str = "", code_name: str = "") -> Any:
        rs = super().query_stock_basic(code, code_name)
        rs.data = [row if row[0] != "sz.000004" else [*row[:3], str(END), *row[4:]] for row in rs.data]
        return rs


def test_a_history_short_of_the_calendar_is_an_error_and_never_cached(tmp_path: Path) -> None:
    src = make_source("baostock", start=START, end=END, symbols="000004,600000", indexes=(), members=(),
                      progress=False, tries=2, backoff=0.0)
    with MarketStore.open(tmp_path) as store:
        with pytest.raises(bss.BaostockError, match=r"query_history_k_data_plus\(code='sh.600000'.*short answer: "
                                                    r"\d+ rows ending 2024-02-01, the request runs to 2024-02-08"):
            src.read(store, bs=ShortHistory(), sleep=lambda s: None)
    cached = {p.stem for p in tmp_path.rglob("*.parquet")}
    assert "000004.SZ" in cached and "600000.SH" not in cached  # delisted on END: complete; 600000: short


def test_the_stock_list_choice_is_reported(tmp_path: Path) -> None:
    src = make_source("baostock", start=START, end=END, indexes=(), members=(), progress=False)
    with MarketStore.open(tmp_path) as store:
        report = src.read(store, bs=FakeBs(), sleep=lambda s: None)
    line = [m for m in report.notes if "stock list" in m][0]
    assert "3 stocks listed at some time" in line and "0 of them delisted since" in line and "survivorship" in line
    assert kline  # the recorded rows the fake answers with
