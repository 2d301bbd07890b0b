"""Acceptance: import the staged real data (../shared/ashare) through the preset, once, and check it.

Skipped when the folder is absent. One import (module fixture, ~20-40 s) shared by every check.
Expected figures follow ../shared/ashare/SOURCE.md and what the store's validation really rejects.
"""
from __future__ import annotations

import datetime as dt
import time
from typing import Any

import polars as pl
import pytest

from flyer.data.sources import ashare, ingest
from flyer.data.sources.ashare import find_default_root
from flyer.data.store import MarketStore

ROOT = find_default_root()
D = dt.date
XBX_END = D(2022, 1, 14)

pytestmark = [
    pytest.mark.realdata,
    pytest.mark.skipif(not (ROOT / "daily").is_dir(), reason=f"real data folder {ROOT} not present"),
]


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Any:
    home = tmp_path_factory.mktemp("realdata")
    t0, c0 = time.perf_counter(), time.process_time()
    store = MarketStore.open(home)
    report = ingest(store, ashare.AshareSource(str(ROOT)))
    seconds = (time.perf_counter() - t0, time.process_time() - c0)
    yield store, report, seconds
    store.close()


def _xbx() -> pl.DataFrame:
    return pl.read_parquet(next((ROOT / "daily").glob("xbx_unadj_*.parquet")),
                           columns=["股票代码", "交易日期", "成交量"])


def test_counts_and_span(imported: Any) -> None:
    store, report, seconds = imported
    info = store.info()
    # 1,784 xbx stocks + 52 qlib-only codes, one of which (302132.SZ) is xbx's sz300114
    assert info["symbols"] == 1835 and info["instruments"] == 1835
    assert (info["first_date"], info["last_date"]) == (D(2010, 1, 4), D(2026, 5, 8))
    assert info["calendar_days"] == 3966
    # + 17,061 rows 2022-01-17..2023-03-16 of the 61 stocks the qlib extension lacks (addendum B, tushare file)
    assert report.written["bars"] == info["bar_rows"] == 6_112_814
    bars = store.bars(adjust=False)
    xbx_part = bars.filter(pl.col("date") <= XBX_END)
    filled = xbx_part.filter(pl.col("is_suspended") & (pl.col("volume") == 0))
    assert xbx_part.height - filled.height + 7 == 4_147_979  # every xbx row; 7 of them had zero volume
    assert bars.group_by("symbol").agg(pl.col("date").diff().max()).height == 1835
    wall, cpu = seconds
    print(f"real-data import: {wall:.1f} s wall, {cpu:.1f} s CPU")
    assert cpu < 120  # CPU, not wall: the test machine is shared (about 20-40 s CPU when healthy)


def test_panel_is_dense_inside_each_listed_span(imported: Any) -> None:
    store, _, _ = imported
    cal = store.calendar().to_frame().with_row_index("i")
    spans = (store.bars(adjust=False).select("symbol", "date").join(cal, on="date")
             .group_by("symbol").agg((pl.col("i").max() - pl.col("i").min() + 1 - pl.len()).alias("holes")))
    assert spans["holes"].max() == 0


def test_validation_rejects_exactly_the_source_quirks(imported: Any) -> None:
    store, report, _ = imported
    assert report.rejected == {"calendar": 0, "instruments": 0, "bars": 0, "index_bars": 268, "index_members": 0,
                               "industries": 0, "fundamentals": 0, "coverage": 0}
    rej = store.rejects(report.ingest_id)
    by_rule = dict(rej.group_by("rule").len().iter_rows())
    # qlib's index file: 000852.SH padded with NaN before its 2011 data starts, float32 noise and
    # a few wrong closes in 399001/399005/399006/000852 (open/close outside [low, high])
    assert by_rule == {"missing_price": 243, "open_outside_range": 17, "close_outside_range": 8}
    assert set(rej.filter(pl.col("rule") == "missing_price")["symbol"]) == {"000852.SH"}
    assert set(rej["symbol"]) == {"000852.SH", "399001.SZ", "399005.SZ", "399006.SZ"}


def test_zero_volume_rows_are_flagged_suspended(imported: Any) -> None:
    store, _, _ = imported
    zero = _xbx().filter(pl.col("成交量") == 0)  # SOURCE.md's 12 are in the full history; 7 are staged
    assert zero.height == 7 and zero["交易日期"].min() >= "2020-06-09" and zero["交易日期"].max() <= "2020-06-17"
    keys = zero.select(pl.col("股票代码").str.slice(2) + "." + pl.col("股票代码").str.slice(0, 2).str.to_uppercase(),
                       pl.col("交易日期").str.to_date()).rename({"股票代码": "symbol", "交易日期": "date"})
    stored = store.bars(D(2020, 6, 9), D(2020, 6, 17), adjust=False).join(keys, on=["symbol", "date"])
    assert stored.height == 7 and stored["is_suspended"].all() and (stored["volume"] == 0).all()


def test_qlib_suspended_fills_after_the_stitch(imported: Any) -> None:
    store, _, _ = imported
    q = pl.read_parquet(next((ROOT / "daily").glob("qlib_hfq_*.parquet")), columns=["instrument", "date", "volume"])
    untraded = q.filter((pl.col("date") > XBX_END) & (pl.col("volume").fill_nan(None).fill_null(0) == 0)).height
    in_qlib = q.filter(pl.col("date") > XBX_END)["instrument"].unique().str.slice(2).to_list()
    after = store.bars(D(2022, 1, 17), adjust=False)
    qlib_part = after.filter(pl.col("symbol").str.slice(0, 6).is_in(in_qlib))
    assert qlib_part["is_suspended"].sum() == untraded
    # addendum B: amount from the tushare file through 2023-03-16, none after (0 on suspended days)
    cut = pl.col("date") > ashare.TUSHARE_LAST
    assert after.filter(~cut)["amount"].null_count() == 0
    assert after.filter(cut)["amount"].null_count() == after.filter(cut & ~pl.col("is_suspended")).height
    # the tushare-extended stocks (absent from the qlib extension) stop by 2023-03-16
    ext = after.join(qlib_part.select("symbol").unique(), on="symbol", how="anti")
    capped = after.filter(pl.col("total_cap").is_not_null())     # no caps after 2022-01-14, but for the
    assert capped["is_suspended"].all() and set(capped["symbol"]) <= set(ext["symbol"])  # suspended days filled
    assert qlib_part["total_cap"].null_count() == qlib_part.height   # after an extended stock's xbx bar
    assert ext["symbol"].n_unique() == 61 and ext["date"].max() == ashare.TUSHARE_LAST
    # dated names after 2022-01-14: the BaoStock isST of the 300 CSI 300 (2025) names (sh600515 alone,
    # 2022-01-17 .. 2022-10-13, 177 days; SOURCE.md A.4), the last xbx name carried for the extended
    # stocks, and the whole-market name snapshots from 2024-06-20 (addendum B)
    st = after.filter(pl.col("is_st") & (pl.col("date") < D(2024, 6, 20)))
    assert st.filter(pl.col("symbol") == "600515.SH").height == 177
    assert set(st["symbol"]) - {"600515.SH"} <= set(ext["symbol"].unique().to_list())
    assert after.filter(pl.col("date") == D(2024, 7, 1))["is_st"].sum() > 10


def test_factor_continues_across_the_stitch(imported: Any) -> None:
    store, _, _ = imported
    adj = store.bars(D(2022, 1, 14), D(2022, 1, 17)).sort("symbol", "date")
    q = (pl.read_parquet(next((ROOT / "daily").glob("qlib_hfq_*.parquet")), columns=["instrument", "date", "close"])
         .filter(pl.col("date").is_in([D(2022, 1, 14), D(2022, 1, 17)])).sort("instrument", "date")
         .group_by("instrument").agg((pl.col("close").last() / pl.col("close").first()).alias("q")))
    q = q.with_columns((pl.col("instrument").str.slice(2) + "." + pl.col("instrument").str.slice(0, 2)).alias("symbol"))
    ours = adj.group_by("symbol").agg((pl.col("close").last() / pl.col("close").first()).alias("r"))
    both = ours.join(q, on="symbol")
    assert both.height > 1600
    agree = ((both["r"] / both["q"] - 1).abs() < 2e-3).mean()
    assert agree > 0.995


def test_point_in_time_membership(imported: Any) -> None:
    store, _, _ = imported
    for day in (D(2010, 1, 4), D(2015, 6, 15), D(2020, 6, 30), D(2023, 3, 1), D(2025, 7, 1), D(2026, 5, 8)):
        assert 499 <= store.members("000905.SH", day).height <= 500
        assert store.members("000300.SH", day).height == 300
    daily = store.membership("000905.SH", D(2022, 12, 9), D(2022, 12, 12))
    assert daily["date"].n_unique() == 2  # Fri 12-09 and Mon 12-12 (a rebalance day)
    before, after = (set(daily.filter(pl.col("date") == d)["symbol"]) for d in (D(2022, 12, 9), D(2022, 12, 12)))
    assert len(before - after) == 50  # the December 2022 rebalance changed 50 names


def test_instruments_st_and_indexes(imported: Any) -> None:
    store, _, _ = imported
    inst = store.instruments()
    assert inst.filter(pl.col("symbol") == "600000.SH").row(0, named=True) | {} == {
        "symbol": "600000.SH", "name": "浦发银行", "exchange": "SH", "board": "main", "industry": None,
        "list_date": D(1999, 11, 10), "delist_date": None}
    # dated delistings (xbx); a stock whose files just end keeps an unknown delisting date
    assert inst["delist_date"].is_not_null().sum() > 50
    assert set(inst["board"]) <= {"main", "chinext", "star", "bse"}
    st = store.bars(D(2015, 1, 5), D(2015, 1, 5), adjust=False)["is_st"].sum()
    assert 5 < st < 200
    csi500 = store.index_bars("000905.SH")
    assert csi500.height == 3966
    assert csi500.filter(pl.col("date") == D(2015, 6, 12))["close"].item() == pytest.approx(11545.89)
    assert csi500.filter(pl.col("date") == D(2014, 8, 7))["close"].item() == pytest.approx(4286.09)  # not qlib's error


def test_industry_coverage_of_csi500_member_days(imported: Any) -> None:
    """>= 99 % of CSI 500 member-days have a point-in-time SW level-1 industry (per year printed)."""
    store, _, _ = imported
    members = store.membership("000905.SH")
    ind = store.industry_panel(members["date"].min(), members["date"].max(), standard="sw", level=1)
    joined = members.join(ind.select("date", "symbol", "code"), on=["date", "symbol"], how="left")
    per_year = (joined.group_by(pl.col("date").dt.year().alias("year"))
                .agg(pl.len().alias("member_days"), pl.col("code").is_not_null().mean().alias("with_industry"))
                .sort("year"))
    for r in per_year.iter_rows(named=True):
        print(f"CSI 500 {r['year']}: {r['member_days']:,} member-days, {r['with_industry']:.4%} with an SW industry")
    overall = joined["code"].is_not_null().mean()
    print(f"CSI 500 overall: {joined.height:,} member-days, {overall:.4%} with an SW industry")
    assert overall >= 0.99 and per_year["with_industry"].min() >= 0.98
    names = store.industries(D(2020, 6, 30)).filter(pl.col("symbol").is_in(["600000.SH", "600519.SH"]))
    assert names.rows() == [("600000.SH", "480000", "银行"), ("600519.SH", "340000", "食品饮料")]
    assert store.industries(D(2013, 6, 28)).filter(pl.col("symbol") == "600000.SH")["name"].item() == "金融服务"


def test_valuation_coverage_per_exchange(imported: Any) -> None:
    """PE/PB presence per exchange and year (printed); Shenzhen covered 2010-2021, Shanghai only
    from 2020 for the 300 CSI 300 (2025) names (SOURCE.md A.3/A.4)."""
    from flyer.data.coverage import valuation_coverage
    from flyer.data.fields import attach

    store, _, _ = imported
    cov = valuation_coverage(store, by_year=True)
    for r in cov.iter_rows(named=True):
        print(f"valuation {r['exchange']} {r['year']}: {r['days']:,} traded stock-days, PE {r['pe']:.2%}, PB {r['pb']:.2%}")
    sz = {r["year"]: r["pb"] for r in cov.filter(pl.col("exchange") == "SZ").iter_rows(named=True)}
    sh = {r["year"]: r["pb"] for r in cov.filter(pl.col("exchange") == "SH").iter_rows(named=True)}
    assert all(sz[y] > 0.9 for y in range(2010, 2022)) and sh[2015] == 0.0 and 0 < sh[2021] < 0.5
    bars = attach(store, store.bars(D(2015, 6, 1), D(2015, 6, 5), symbols=["000001.SZ", "600000.SH"]), ["pe", "pb"])
    assert bars.filter(pl.col("symbol") == "000001.SZ")["pe"].null_count() == 0
    assert bars.filter(pl.col("symbol") == "600000.SH")["pb"].null_count() == bars.height // 2  # unknown, not 0


def test_info_reports_point_in_time_and_unknown_spans(imported: Any) -> None:
    from flyer.data.coverage import summary

    store, _, _ = imported
    lines = {f"{s.tbl} {s.key}": s.line() for s in summary(store)}
    for line in lines.values():
        print("coverage", line)
    # xbx names to 2022-01-14, then unknown until the name snapshots (2024-06-20 .. 2026-03-04), carried after
    assert lines["st *"].startswith("st *: back-filled 2010-01-04 .. 2026-03-04; unknown 2022-01-17 .. 2026-05-08")
    assert "unknown" in lines["bars survivors"] and "back-filled 2022-01-17 .. 2023-03-16" in lines["bars tushare"]
    assert "back-filled" in lines["industries sw"] and "back-filled 2010-01-04" in lines["fundamentals SZ"]
