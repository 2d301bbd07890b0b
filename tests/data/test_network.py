"""The akshare side of the real network, against a fault-injecting HTTP server on 127.0.0.1:
every request bounded (a stalled vendor, a reset, an answer cut short), pacing per request,
a fast one-line failure when offline that leaves nothing behind, the one-request Eastmoney
index call, Sina's "no factor" answer, what libraries print kept off stdout, and a
survivorship-free stock list."""
from __future__ import annotations

import datetime as dt
import logging
import socket
import time
from pathlib import Path
from typing import Any

import pandas as pd
import polars as pl
import pytest
import requests

from akshare_recorded import DAYS, END, START, FakeAk, truth
from faults import RESET, SHORT, STALL, HttpFaults, finishes_within, redirect
from flyer.data.sources import akshare_source as aks
from flyer.data.sources import net
from flyer.data.sources.akshare_api import AkshareApi
from flyer.data.sources.base import ingest, make_source
from flyer.data.sources.vendors import Caller, Politeness, VendorDown
from flyer.data.store import MarketStore

D = dt.date
KLINE = "/api/qt/stock/kline/get"


@pytest.fixture()
def server() -> Any:
    with HttpFaults() as s:
        yield s


def _caller(timeout: float = 0.5, tries: int = 2, delay: float = 0.0) -> tuple[Caller, list[float]]:
    sleeps: list[float] = []
    policy = Politeness(delay=delay, jitter=0.0, tries=tries, backoff=0.0, breaker=10, timeout=timeout)
    return Caller(policy, sleep=sleeps.append, clock=lambda: 0.0), sleeps


@pytest.mark.parametrize("fault,error", [(STALL, "ReadTimeout"), (RESET, "ConnectionError"),
                                         (SHORT, "ChunkedEncodingError")])
def test_a_request_without_a_timeout_is_bounded_and_retried(server: HttpFaults, fault: str, error: str) -> None:
    """akshare's ``requests.get(url)`` (no timeout) against a stalling, resetting or short server:
    the call fails within the bound, every try counted, instead of blocking the ingest forever."""
    server.answers["/x"] = fault
    caller, _ = _caller(timeout=0.5, tries=2)
    _, exc, took = finishes_within(15, lambda: caller.call("eastmoney", "x", lambda: requests.get(server.url + "/x")))
    assert isinstance(exc, VendorDown) and error in str(exc), exc
    assert server.paths() == ["/x", "/x"] and caller.vendor("eastmoney").failures == 2
    assert took < 5  # two tries of 0.5 s (measured on a shared machine; the bound is what matters)


def test_pacing_is_per_request_not_per_library_call(server: HttpFaults) -> None:
    """One library call that sends three requests (Tencent: one per year) waits the pacing gap
    before the second and third request too; the summary counts the requests."""
    server.answers["/ok"] = {"ok": 1}
    caller, sleeps = _caller(delay=2.0)

    def three() -> list[Any]:
        return [requests.get(server.url + "/ok").json() for _ in range(3)]

    caller.call("tencent", "three", three)
    caller.call("tencent", "three", three)
    assert len(server.log) == 6
    assert sleeps == [2.0] * 5  # every request after the first waits one gap (the fake clock never moves)
    stats = caller.vendor("tencent")
    assert (stats.calls, stats.requests) == (2, 6) and "2 calls (6 requests)" in stats.line("tencent")


def test_timeout_restored_after_the_call(server: HttpFaults) -> None:
    from requests.adapters import HTTPAdapter

    before, default = HTTPAdapter.send, socket.getdefaulttimeout()
    server.answers["/ok"] = {"ok": 1}
    with net.bounded_requests(3.0) as seen:
        requests.get(server.url + "/ok")
        assert socket.getdefaulttimeout() == 3.0
    assert HTTPAdapter.send is before and socket.getdefaulttimeout() == default and seen.sent == 1


# ----------------------------------------------------------------- akshare's own functions
def _kline(rows: list[dict[str, Any]], index: bool = False) -> dict[str, Any]:
    """Eastmoney's kline answer as akshare parses it (11 comma-separated values per day)."""
    k = 500 if index else 1
    return {"data": {"klines": [
        f"{r['date']},{r['open'] * k:.2f},{r['close'] * k:.2f},{r['high'] * k:.2f},{r['low'] * k:.2f},"
        f"{r['volume'] // 100},{r['amount']:.2f},2.0,0.5,{(r['close'] - r['pre_close']) * k:.2f},0.3" for r in rows]}}


class RecordedCalendar(AkshareApi):
    """The real akshare module; only Sina's calendar (a JS-encoded payload) comes from the recording."""

    def tool_trade_date_hist_sina(self) -> pd.DataFrame:
        return FakeAk().tool_trade_date_hist_sina()


def _real_ingest(home: Path, **kw: Any) -> Any:
    import akshare

    settings = {"start": START, "end": END, "symbols": "600000", "vendors": ("eastmoney",),
                "index_vendors": ("eastmoney",), "indexes": ("000905.SH",), "weights": (), "archive": False,
                "progress": False, "delay": 0.0, "timeout": 0.5, "tries": 2, "backoff": 0.0} | kw
    with MarketStore.open(home) as store:
        return ingest(store, make_source("akshare", **settings), ak=RecordedCalendar(akshare),
                      sleep=lambda s: None, probe=lambda: None, today=END)


def test_real_akshare_functions_one_request_each(server: HttpFaults, tmp_path: Path) -> None:
    """akshare 1.19.5's ``stock_zh_a_hist`` parses a recorded answer; the index kline is one
    request (akshare's ``index_zh_a_hist`` would page Eastmoney's whole index list first)."""
    def kline(query: str) -> Any:
        secid = dict(p.split("=") for p in query.split("&"))["secid"]
        return _kline(truth("600000")) if secid == "1.600000" else _kline(truth("688981"), index=True)

    server.answers[KLINE] = kline
    with redirect(server):
        report = _real_ingest(tmp_path)
    assert report.rejected.get("bars", 0) == 0
    assert server.paths() == [KLINE, KLINE]  # the stock, the index: no clist paging
    with MarketStore.open(tmp_path) as store:
        bars = store.bars(adjust=False)
        assert bars["close"].to_list() == [r["close"] for r in truth("600000")]
        assert store.index_bars("000905.SH").height == len(DAYS)


def test_real_akshare_stalled_vendor_fails_fast_in_one_line(server: HttpFaults, tmp_path: Path) -> None:
    server.answers[KLINE] = STALL
    with redirect(server):
        _, exc, took = finishes_within(20, lambda: _real_ingest(tmp_path))
    assert isinstance(exc, aks.AkshareError), exc
    message = str(exc)
    assert "\n" not in message and "no vendor answered for 600000.SH" in message and "ReadTimeout" in message
    assert took < 8 and len(server.log) == 2  # 2 tries x 0.5 s (shared machine: loose bound)
    assert not list(tmp_path.rglob("*.parquet"))  # a failed fetch is never cached


# ----------------------------------------------------------------- offline
def test_offline_fails_in_seconds_with_one_line_and_leaves_nothing(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """Before: 3 vendors x 3 tries with backoff (about 50 s), an empty market.duckdb and a cache
    folder left behind. Now: the probe fails at once; no home, store or cache is created."""
    from flyer.cli import main

    home = tmp_path / "new_home"
    t0 = time.monotonic()
    with pytest.raises(SystemExit) as ex:
        main(["ingest", "--source", "akshare", "--symbols", "600000", "--home", str(home)])
    took = time.monotonic() - t0
    err = capsys.readouterr().err.strip().splitlines()
    assert ex.value.code == 1 and len(err) == 1 and err[0].startswith("error: akshare: offline?"), err
    assert "push2his.eastmoney.com" in err[0] and "nothing was fetched or written" in err[0]
    assert not home.exists() and took < 10


def test_probe_passes_when_one_host_answers(server: HttpFaults) -> None:
    net.require_online("akshare", (("127.0.0.1", server.port),))  # resolves and connects: no error
    with pytest.raises(net.OfflineError, match=r"^akshare: offline\? .*127\.0\.0\.1:1: "):
        net.require_online("akshare", (("127.0.0.1", 1),), timeout=2)


def test_failed_first_ingest_removes_the_store_it_created(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    """The network goes down after the probe: the one-line error, and no empty store left."""
    from flyer.cli import main

    monkeypatch.setattr(net, "require_online", lambda *a, **k: None)
    monkeypatch.setattr(time, "sleep", lambda s: None)  # no real backoff: every try fails at once (no DNS here)
    home = tmp_path / "h"
    with pytest.raises(SystemExit) as ex:
        main(["ingest", "--source", "akshare", "--symbols", "600000", "--home", str(home)])
    err = capsys.readouterr().err.strip().splitlines()
    assert ex.value.code == 1 and len(err) == 1 and err[0].startswith("error: akshare"), err
    assert not home.exists()


# ----------------------------------------------------------------- vendor answers
class NoFactor(FakeAk):
    """Sina answers "hfq factor not available" for one stock (akshare raises ValueError)."""

    def stock_zh_a_daily(self, symbol: str = "sh603843", start_date: str = "19900101", end_date: str = "21000118",
                         adjust: str = "") -> pd.DataFrame:
        if adjust == "hfq-factor" and symbol == "sz000001":
            self._record("stock_zh_a_daily", symbol=symbol, adjust=adjust)
            raise ValueError("sina hfq factor not available")
        return super().stock_zh_a_daily(symbol, start_date, end_date, adjust)


def test_sina_no_factor_is_an_answer_not_a_vendor_failure(tmp_path: Path) -> None:
    """Before: the ValueError counted as a network failure and (breaker 1) switched Sina off for
    every later symbol. Now the stock goes to the next vendor and Sina serves the others."""
    ak = NoFactor()
    src = make_source("akshare", start=START, end=END, symbols="000001,600000,688981", vendors=("sina", "tencent"),
                      indexes=(), archive=False, progress=False, breaker=1)
    with MarketStore.open(tmp_path) as store:
        report = ingest(store, src, ak=ak, sleep=ak.clock.sleep, clock=ak.clock, today=END)
    sina = [m for m in report.messages if m.startswith("akshare sina:")][0]
    assert "0 failed" in sina and "2 served" in sina and "1 without the data asked for" in sina
    assert "breaker" not in sina
    assert {c[1] for c in ak.calls("stock_zh_a_hist_tx")} == {"sz000001"}


class Chatty(FakeAk):
    """A vendor library that prints (baostock's "login success!", progress bars on stderr)."""

    def stock_zh_a_hist(self, *args: Any, **kw: Any) -> pd.DataFrame:
        print("login success!")
        import sys

        print("\r 50%|#####     |", file=sys.stderr)
        return super().stock_zh_a_hist(*args, **kw)


def test_library_output_goes_to_the_log_not_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                   caplog: pytest.LogCaptureFixture) -> None:
    ak = Chatty()
    src = make_source("akshare", start=START, end=END, symbols="600000", indexes=(), archive=False, progress=False)
    with caplog.at_level(logging.DEBUG, logger="flyer.data.vendor"), MarketStore.open(tmp_path) as store:
        report = ingest(store, src, ak=ak, sleep=ak.clock.sleep, clock=ak.clock, today=END)
    out = capsys.readouterr()
    assert "login success" not in out.out and "50%" not in out.err
    assert "login success!" in caplog.text and "50%" in caplog.text
    assert any("akshare eastmoney:" in m for m in report.messages)


# ----------------------------------------------------------------- survivorship
def test_stock_list_includes_stocks_delisted_since_the_start(tmp_path: Path) -> None:
    """stock_info_a_code_name lists today's stocks only; the SSE/SZSE delisting lists add those
    delisted in the window (and its bars stop at the last trading day, never filled after)."""
    gone = DAYS[15]
    ak = FakeAk(delisted={"sh": [("600087", "退市长油", D(1997, 6, 12), gone)],
                          "sz": [("000003", "PT金田A", D(1991, 7, 3), D(2002, 6, 14))]})
    src = make_source("akshare", start=START, end=END, indexes=(), archive=False, progress=False)
    with MarketStore.open(tmp_path) as store:
        report = ingest(store, src, ak=ak, sleep=ak.clock.sleep, clock=ak.clock, today=END)
        bars = store.bars(adjust=False, symbols=["600087.SH"])
        inst = store.instruments().filter(pl.col("symbol") == "600087.SH").row(0, named=True)
    line = [m for m in report.messages if "stock list" in m][0]
    assert "5 listed today" in line and "1 delisted since 2024-01-02" in line and "survivorship-free" in line
    assert bars["date"].max() == DAYS[14] and inst["name"] == "退市长油" and inst["delist_date"] == DAYS[14]
    assert "000003" not in {c[1] for c in ak.calls("stock_zh_a_hist")}  # delisted before the window


def test_listed_only_is_said_to_be_survivor_biased(tmp_path: Path) -> None:
    ak = FakeAk()
    src = make_source("akshare", start=START, end=END, indexes=(), archive=False, progress=False, delisted=False)
    with MarketStore.open(tmp_path) as store:
        report = ingest(store, src, ak=ak, sleep=ak.clock.sleep, clock=ak.clock, today=END)
    assert any("listed today only (delisted=false)" in m and "survivor-biased" in m for m in report.messages)
    assert not ak.calls("stock_info_sh_delist")

