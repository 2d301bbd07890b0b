"""Source ``akshare`` against recorded frames (no network): units, the canonical factor, vendor
fallbacks on a fake clock (pacing, backoff, breaker), a mid-run ban, changed columns, the
cross-vendor price check, factor continuation across runs, and the nightly snapshot archive."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import requests

from akshare_recorded import DAYS, DIVIDEND_DAY, END, START, Clock, FakeAk, truth
from flyer.data.sources import akshare_source as aks
from flyer.data.sources.base import ingest, make_source
from flyer.data.store import MarketStore

D = dt.date
TABLES = ("calendar", "instruments", "bars", "index_bars", "index_members", "industries")


def _ingest(home: Path, ak: FakeAk, since: dt.date | None = None, until: dt.date | None = None,
            today: dt.date = END, **kw: Any) -> Any:
    kw = {"start": START, "end": END, "progress": False, "delay": 3.0, "cooldown": 60.0} | kw
    src = make_source("akshare", **kw)
    with MarketStore.open(home) as store:
        return ingest(store, src, since, until, ak=ak, sleep=ak.clock.sleep, clock=ak.clock, today=today)


def _tables(home: Path) -> dict[str, pl.DataFrame]:
    with MarketStore.open(home) as store:
        out = {t: store.query(f"SELECT * FROM {t}") for t in TABLES}
        out["bars"] = store.bars(adjust=False)
        return out


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, FakeAk]:
    home = tmp_path_factory.mktemp("clean")
    ak = FakeAk()
    return home, _ingest(home, ak), ak


def test_frames_units_factor_and_panel(clean: tuple[Path, Any, FakeAk]) -> None:
    home, report, ak = clean
    bars = _tables(home)["bars"]
    assert report.rejected.get("bars", 0) == 0
    assert sorted(bars["symbol"].unique()) == ["000001.SZ", "300750.SZ", "600000.SH", "688981.SH"]
    a = bars.filter(pl.col("symbol") == "600000.SH")
    t = truth("600000")
    assert a.height == len(DAYS) and a["close"].to_list() == [r["close"] for r in t]
    assert a["volume"][0] == t[0]["volume"]  # lots -> shares
    factors = a["adj_factor"].to_list()  # canonical: 1.0 first, close[t-1] / pre_close[t] at the dividend
    assert factors[0] == 1.0 and factors[DIVIDEND_DAY] == t[DIVIDEND_DAY - 1]["close"] / t[DIVIDEND_DAY]["pre_close"]
    assert len(set(factors)) == 2
    b = bars.filter(pl.col("symbol") == "000001.SZ")
    assert b.height == len(DAYS) and b["is_suspended"].sum() == 3  # suspended days filled flat
    assert bars.filter(pl.col("symbol") == "300750.SZ")["date"].min() == DAYS[10]
    assert not any(c[0] in ("stock_zh_a_daily", "stock_zh_a_hist_tx") for c in ak.log)  # no fallback needed
    assert len(ak.calls("stock_zh_a_hist")) == 5  # ONE call per symbol: the previous close gives the factor
    with MarketStore.open(home) as store:
        inst = store.instruments()
        assert inst.filter(pl.col("symbol") == "688981.SH")["board"].item() == "star"
        assert inst.filter(pl.col("symbol") == "600000.SH")["name"].item() == "浦发银行"
        idx = store.index_bars("000905.SH")
        assert idx.height == len(DAYS) and idx["volume"][0] == truth("688981")[0]["volume"]
        members = store.members("000905.SH", D(2024, 2, 1))
        assert members["weight"].sum() == pytest.approx(1.0) and "000001.SZ" in members["symbol"].to_list()
        assert store.calendar().to_list() == DAYS


def test_snapshots_industries_st_and_coverage(clean: tuple[Path, Any, FakeAk]) -> None:
    home, _, _ = clean
    with MarketStore.open(home) as store:
        assert store.industries(D(2024, 1, 5)).select("symbol", "name").rows() == [
            ("000001.SZ", "银行"), ("000004.SZ", "医药生物"), ("300750.SZ", "电力设备"),
            ("600000.SH", "银行"), ("688981.SH", "电子")]
        assert store.industries(D(2012, 1, 4))["name"].to_list()[:2] == ["金融服务", "医药生物"]  # pre-2014 names
        assert store.industries(D(2024, 1, 5), level=3).filter(pl.col("symbol") == "600000.SH")["code"].item() == "480301"
        # the ST board read on the observation day (END) flags that day only; earlier days unknown
        st = store.bars(adjust=False).filter(pl.col("is_st"))
        assert st.height == 0  # 000004.SZ (the ST board's name) has no bars
        cov = store.query("SELECT tbl, key, mode, first, last FROM coverage ORDER BY tbl, mode")
        assert ("st", "*", "pit", END, END) in cov.rows()
        assert ("st", "*", "unknown", START, END - dt.timedelta(days=1)) in cov.rows()
        assert ("index_members", "000905.SH", "pit", END, END) in cov.rows()


def test_empty_symbol_is_reported_not_fatal(clean: tuple[Path, Any, FakeAk]) -> None:
    _, report, _ = clean
    assert report.messages[0] == "akshare: 1 symbol(s) returned no bars: 000004.SZ"
    assert any(m.startswith("akshare eastmoney: 8 calls, 0 failed, 7 served") for m in report.messages)


def test_pacing_with_jitter_on_a_fake_clock(clean: tuple[Path, Any, FakeAk]) -> None:
    _, _, ak = clean
    em = [t for name, _, _, t in ak.log if FakeAk.VENDOR[name] == "eastmoney"]
    gaps = [b - a for a, b in zip(em, em[1:])]
    assert all(1.5 - 1e-9 <= g <= 4.5 + 0.2 + 1e-9 for g in gaps)  # 3 s +- 50 %, vendors paced apart
    assert len({round(g, 6) for g in gaps}) > 1  # jitter, not a fixed beat
    sina = [t for name, _, _, t in ak.log if FakeAk.VENDOR[name] == "sina"]
    assert sina and min(abs(s - e) for s in sina for e in em) < 1.0  # other vendors are not held back


def test_mid_run_ban_resumes_on_another_vendor_and_ends_identical(
        tmp_path: Path, clean: tuple[Path, Any, FakeAk]) -> None:
    clock = Clock()
    # Eastmoney answers 2 calls, then refuses every call for 30 s of (fake) time
    banned = {"start": None}

    def down(n: int, t: float) -> bool:
        em_calls = sum(1 for c in ak.log if FakeAk.VENDOR[c[0]] == "eastmoney")
        if em_calls == 3 and banned["start"] is None:
            banned["start"] = t
        return banned["start"] is not None and t - banned["start"] < 30

    ak = FakeAk(clock, down={"eastmoney": down})
    report = _ingest(tmp_path, ak, cooldown=15.0)
    served = {c[1] for c in ak.calls("stock_zh_a_daily") if c[2] == ""}
    assert served and served < {"sh600000", "sz000001", "sz300750", "sh688981", "sz000004"}
    summary = [m for m in report.messages if m.startswith("akshare eastmoney")][0]
    assert "breaker opened 1x" in summary and "ConnectionError" in summary
    assert any(m.startswith("akshare sina") and "as fallback" in m for m in report.messages)
    assert ak.calls("index_zh_a_hist")  # the breaker's trial call found Eastmoney back after the cooldown
    mine, ref = _tables(tmp_path), _tables(clean[0])
    for t in TABLES:
        assert mine[t].equals(ref[t]), t


def test_network_gone_leaves_store_unchanged_and_rerun_resumes(
        tmp_path: Path, clean: tuple[Path, Any, FakeAk]) -> None:
    home = tmp_path / "home"
    n_ok = 5  # the stock list (listed, SSE and SZSE delisted) and two symbols, then every vendor is unreachable
    everything = {v: (lambda n, t: n > n_ok) for v in ("eastmoney", "sina", "tencent")}
    with pytest.raises(aks.AkshareError, match=r"no vendor answered for 300750.SZ: .*stock_zh_a_hist\(300750\).*"
                                               r"ConnectionError.*check the network or retry later"):
        _ingest(home, FakeAk(down=everything))
    with MarketStore.open(home) as store:
        assert store.bars().height == 0 and store.ingest_log().height == 0
    again = FakeAk()
    _ingest(home, again)
    fetched = {c[1] for c in again.calls("stock_zh_a_hist")}
    assert fetched == {"300750", "688981", "000004"}  # 600000 and 000001 came from the cache
    assert not again.calls("stock_info_a_code_name")
    assert _tables(home)["bars"].equals(_tables(clean[0])["bars"])


def test_retries_back_off_exponentially(tmp_path: Path) -> None:
    ak = FakeAk(fail={1: requests.exceptions.Timeout("read timed out"),
                      2: requests.exceptions.JSONDecodeError("Expecting value", "<html>", 0)})
    _ingest(tmp_path, ak, symbols="600000", indexes=(), weights=(), archive=False, backoff=5.0, breaker=5)
    assert [c[1] for c in ak.calls("stock_zh_a_hist")] == ["600000"] * 3
    assert ak.clock.sleeps[:2] == [5.0, 10.0]  # then the pacing gap before the next call
    assert not ak.calls("stock_info_a_code_name")  # --symbols: no stock-list call
    assert not ak.calls("stock_zh_a_daily")  # retries were enough: no fallback


def test_vendor_with_changed_columns_falls_back_and_is_switched_off(
        tmp_path: Path, clean: tuple[Path, Any, FakeAk]) -> None:
    renamed = {"stock_zh_a_hist": lambda df, **_: df.rename(columns={"涨跌额": "涨跌"})}
    ak = FakeAk(edit=renamed)
    report = _ingest(tmp_path, ak, breaker=2)
    assert len(ak.calls("stock_zh_a_hist")) == 2  # the breaker switched Eastmoney off after two bad answers
    em = [m for m in report.messages if m.startswith("akshare eastmoney")][0]
    assert "2 answers with changed columns" in em and "missing 涨跌额" in em
    assert _tables(tmp_path)["bars"].equals(_tables(clean[0])["bars"])


def test_cross_vendor_disagreement_rejects_the_day(tmp_path: Path) -> None:
    bad_day = DAYS[4]

    def off_by_two_cents(df: Any, symbol: str) -> Any:
        if symbol == "sh600000":
            df.loc[df["date"] == bad_day, "close"] += 0.02
            df.loc[df["date"] == bad_day, "high"] += 0.02
        return df

    ak = FakeAk(edit={"stock_zh_a_daily": off_by_two_cents})
    report = _ingest(tmp_path, ak, verify_every=1, indexes=(), archive=False)
    assert report.rejected["bars"] == 1
    with MarketStore.open(tmp_path) as store:
        rej = store.rejects(report.ingest_id).row(0, named=True)
        assert (rej["symbol"], rej["date"], rej["rule"]) == ("600000.SH", bad_day, "vendor_disagreement")
        assert "eastmoney" in rej["detail"] and "sina" in rej["detail"]
        kept = store.bars(adjust=False, symbols=["600000.SH"])
        assert bad_day not in kept["date"].to_list() and kept.height == len(DAYS) - 1  # left out, not filled
    assert any("vendor_disagreement" in m for m in report.messages)


def test_tencent_volume_in_lots_is_detected(tmp_path: Path, clean: tuple[Path, Any, FakeAk]) -> None:
    ak = FakeAk()
    report = _ingest(tmp_path, ak, vendors=("tencent",), symbols="000001,600000", indexes=(), archive=False)
    ref = _tables(clean[0])["bars"].filter(pl.col("symbol").is_in(["000001.SZ", "600000.SH"]))
    mine = _tables(tmp_path)["bars"]
    assert mine.select("symbol", "date", "close", "volume").equals(ref.select("symbol", "date", "close", "volume"))
    assert any("sz000001" in m and "lots" in m for m in report.messages)
    assert (mine["adj_factor"] - ref["adj_factor"]).abs().max() < 1e-3  # Tencent's hfq prices are rounded


def test_next_run_continues_the_stored_factor_on_another_vendor(tmp_path: Path, clean: tuple[Path, Any, FakeAk]) -> None:
    cut = DAYS[10]
    _ingest(tmp_path, FakeAk(), until=cut, indexes=(), archive=False)
    _ingest(tmp_path, FakeAk(), since=cut, vendors=("sina",), indexes=(), archive=False)
    with MarketStore.open(tmp_path) as store, MarketStore.open(clean[0]) as ref:
        mine, theirs = store.bars(), ref.bars()  # back-adjusted
        assert mine["close"].to_numpy() == pytest.approx(theirs["close"].to_numpy(), rel=1e-12)


def test_archive_accumulates_point_in_time_over_nights(tmp_path: Path) -> None:
    nights = DAYS[20:26]
    state = {"night": nights[0]}
    members = lambda: ["600000", "000001", "688981"] if state["night"] < nights[3] else ["600000", "300750", "688981"]  # noqa: E731
    st = lambda: ["600000"] if state["night"] >= nights[4] else []  # noqa: E731
    ak = FakeAk(members=members, st=st)
    ak.today = DAYS[19]
    _ingest(tmp_path, ak, until=DAYS[19], today=DAYS[19])  # the back-fill up to the first night
    last = DAYS[19]
    for night in nights:  # what the nightly ingest stage asks for: after the store's last day, through tonight
        state["night"] = ak.today = night
        _ingest(tmp_path, ak, since=last, until=night, today=night)
        last = night
    _ingest(tmp_path, ak, today=nights[-1])  # a full re-read keeps the archived flags
    with MarketStore.open(tmp_path) as store:
        before, after = (set(store.members("000905.SH", d)["symbol"]) for d in (nights[2], nights[3]))
        assert before == {"600000.SH", "000001.SZ", "688981.SH"} and after == {"600000.SH", "300750.SZ", "688981.SH"}
        flags = store.bars(adjust=False, symbols=["600000.SH"]).select("date", "is_st")
        assert flags.filter(pl.col("is_st"))["date"].to_list() == list(nights[4:])
        pit = store.query("SELECT first FROM coverage WHERE tbl = 'st' AND mode = 'pit' ORDER BY first")["first"]
        assert pit.to_list() == [DAYS[19], *nights]
        snaps = store.query("SELECT DISTINCT date FROM index_members ORDER BY date")["date"].to_list()
        assert snaps == [DAYS[19], *nights]  # one per night (the month-end weights fall on a night: 01-31)
        assert store.members("000905.SH", D(2024, 1, 31))["weight"].sum() == pytest.approx(1.0)
    from typer.testing import CliRunner

    from flyer.cli import app

    out = CliRunner().invoke(app, ["info", "--home", str(tmp_path)], env={"COLUMNS": "200"}).output
    assert f"coverage st *: point-in-time from {DAYS[19]} (7 snapshot day(s)); unknown {START} .. {DAYS[18]}" in out
    assert f"coverage index_members 000905.SH: point-in-time from {DAYS[19]}" in out
    assert f"coverage industries sw: back-filled 1991-01-14 .. {DAYS[18]}; point-in-time from {DAYS[19]}" in out


def test_stable_factor_ignores_rounding_noise() -> None:
    df = pl.DataFrame({"raw": [10.0, 10.01, 9.99, 9.5, 9.51], "hfq": [70.0, 70.07, 69.94, 70.0, 70.07]})
    f = df.select(aks.stable_factor(pl.col("hfq"), pl.col("raw")).alias("f"))["f"].to_list()
    assert f[0] == f[1] == f[2] == 7.0 and f[3] == f[4] == pytest.approx(70.0 / 9.5)


def test_a_night_already_ingested_fetches_nothing(tmp_path: Path) -> None:
    _ingest(tmp_path, FakeAk(), indexes=(), archive=False, symbols="600000")
    again = FakeAk()
    report = _ingest(tmp_path, again, since=END, until=END, symbols="600000")
    assert again.log == [] and report.rows_written == 0
    assert report.messages[0] == f"akshare: nothing to fetch after {END} through {END}"


def test_anchor_day_disagreement_with_the_store_is_noted(tmp_path: Path) -> None:
    cut = DAYS[10]

    def shifted(df: Any, symbol: str) -> Any:
        df.loc[df["date"] == cut, "close"] += 0.03
        return df

    _ingest(tmp_path, FakeAk(), until=cut, indexes=(), archive=False, symbols="600000")
    report = _ingest(tmp_path, FakeAk(edit={"stock_zh_a_daily": shifted}), since=cut, vendors=("sina",),
                     indexes=(), archive=False, symbols="600000")
    note = [m for m in report.messages if "disagree with the stored close" in m]
    assert note and f"of {cut}" in note[0] and "600000.SH" in note[0]
