"""Source ``files`` with industry and valuation files: tushare ``daily_basic`` /
``index_member`` / ``index_member_all`` and akshare ``stock_industry_clf_hist_sw`` layouts,
next to bar files in one folder, read point in time; plus Shenwan interval building."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flyer.data import fields
from flyer.data.calendar import sse_calendar
from flyer.data.sources import shenwan
from flyer.data.sources.base import ingest, make_source
from flyer.data.store import MarketStore

D = dt.date
DAYS = sse_calendar(D(2021, 7, 26), D(2021, 8, 6))


def _bars(folder: Path) -> None:
    rows = [{"ts_code": s, "trade_date": f"{d:%Y%m%d}", "open": 10.0, "high": 10.5, "low": 9.5, "close": 10.0,
             "pre_close": 10.0, "vol": 1000.0, "amount": 10000.0} for s in ("600000.SH", "000001.SZ") for d in DAYS]
    pl.DataFrame(rows).write_csv(folder / "daily.csv")


def _daily_basic(folder: Path) -> None:
    rows = [{"ts_code": "000001.SZ", "trade_date": f"{d:%Y%m%d}", "close": 10.0, "turnover_rate": 1.25,
             "turnover_rate_f": 2.0, "volume_ratio": 1.0, "pe": 8.0, "pe_ttm": 7.5 + i, "pb": 0.9, "ps": 2.0,
             "ps_ttm": 2.1, "dv_ratio": 1.0, "dv_ttm": 1.1, "total_share": 1940591.8198, "float_share": 1940560.0,
             "free_share": 1000000.0, "total_mv": 19405918.198, "circ_mv": 19405600.0}
            for i, d in enumerate(DAYS) if i != 3]  # one day missing: null, not carried
    pl.DataFrame(rows).write_csv(folder / "daily_basic.csv")


def test_tushare_and_akshare_tables_next_to_bars(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _bars(folder)
    _daily_basic(folder)
    pl.DataFrame({"l1_code": ["801780.SI"], "l1_name": ["银行"], "l2_code": ["801783.SI"], "l2_name": ["股份制银行Ⅱ"],
                  "l3_code": ["857831.SI"], "l3_name": ["股份制银行Ⅲ"], "ts_code": ["000001.SZ"], "name": ["平安银行"],
                  "in_date": ["20210730"], "out_date": [""], "is_new": ["Y"]}).write_csv(folder / "index_member_all.csv")
    pl.DataFrame({"symbol": ["600000", "600000"], "start_date": ["2014-02-21", "2021-07-30"],
                  "industry_code": ["480101", "480301"], "update_time": ["2024-09-27", "2022-12-08"]}
                 ).write_csv(folder / "sw_hist.csv")
    with MarketStore.open(tmp_path / "home") as store:
        report = ingest(store, make_source("files", path=str(folder)))
        assert report.rejected["bars"] == 0 and report.written["fundamentals"] == len(DAYS) - 1
        f = store.fundamentals(symbols=["000001.SZ"])
        assert f["turnover_rate"][0] == pytest.approx(0.0125) and f["total_shares"][0] == pytest.approx(19405918198.0)
        assert store.industry_standards() == ["sw"]
        before, after = store.industries(D(2021, 7, 29)), store.industries(D(2021, 7, 30))
        assert before.rows() == [("600000.SH", "480000", "银行")]  # 000001 starts 07-30 in its file
        assert after.rows() == [("000001.SZ", "801780.SI", "银行"), ("600000.SH", "480000", "银行")]
        assert store.industries(D(2021, 8, 2), level=2).filter(pl.col("symbol") == "000001.SZ")["name"].item() == "股份制银行Ⅱ"
        bars = fields.attach(store, store.bars(), ["industry", "pe", "pb"])
        one = bars.filter(pl.col("symbol") == "000001.SZ")
        assert one["industry"].to_list() == [None] * 4 + ["801780.SI"] * (len(DAYS) - 4)  # point in time
        assert one["pe"].null_count() == 1 and one["pe"][3] is None  # the missing day stays unknown
        assert bars.filter(pl.col("symbol") == "600000.SH")["pe"].null_count() == len(DAYS)


def test_tushare_index_member_level_one(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _bars(folder)
    pl.DataFrame({"index_code": ["801780.SI", "801790.SI"], "con_code": ["600000.SH", "600000.SH"],
                  "in_date": ["20140221", "20210802"], "out_date": ["20210802", ""], "is_new": ["N", "Y"]}
                 ).write_csv(folder / "index_member.csv")
    with MarketStore.open(tmp_path / "home") as store:
        ingest(store, make_source("files", path=str(folder)))
        got = store.industry_panel(DAYS[0], DAYS[-1], symbols=["600000.SH"])
        switch = DAYS.index(D(2021, 8, 2))
        assert got["code"].to_list() == ["801780.SI"] * switch + ["801790.SI"] * (len(DAYS) - switch)


def test_shenwan_intervals_split_at_versions_and_name_each_piece() -> None:
    raw = pl.DataFrame({"symbol": ["600519", "600519"], "start_date": [D(2001, 8, 27), D(2021, 7, 30)],
                        "industry_code": ["340301", "340501"]})
    iv = shenwan.sw_intervals(raw)
    l1 = iv.filter(pl.col("level") == 1)
    assert l1.select("code", "name", "start_date", "end_date").rows() == [
        ("340000", "食品饮料", D(2001, 8, 27), None)]  # same name in every version: one interval
    l3 = iv.filter(pl.col("level") == 3)["code"].to_list()
    assert l3 == ["340301", "340501"]
    bank = shenwan.sw_intervals(pl.DataFrame({"symbol": ["sh600000"], "start_date": [D(1999, 11, 10)],
                                              "industry_code": ["440101"]}))
    rows = bank.filter(pl.col("level") == 1).select("name", "start_date", "end_date").rows()
    # a pre-2014 code still in force after the 2014 switch: its prefix has no SW2014 name
    assert rows == [("金融服务", D(1999, 11, 10), D(2014, 2, 21)), (None, D(2014, 2, 21), None)]


def test_st_coverage_follows_what_the_files_hold(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    _bars(folder)  # tushare daily bars without names: ST unknown
    with MarketStore.open(tmp_path / "home") as store:
        ingest(store, make_source("files", path=str(folder)))
        assert store.query("SELECT mode, first, last FROM coverage WHERE tbl = 'st'").rows() == [
            ("unknown", DAYS[0], DAYS[-1])]
