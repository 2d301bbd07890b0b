"""Source ``files``: layouts, units, adjustment, suspended fill, membership, parse errors."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flyer.data import panel
from flyer.data.calendar import sse_calendar
from flyer.data.sources import files, ingest
from flyer.data.sources.files import SourceError
from flyer.data.store import IngestReport, MarketStore

D = dt.date
DAYS = sse_calendar(D(2024, 1, 2), D(2024, 1, 12))  # 9 trading days


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.strip() + "\n", encoding="utf-8")
    return path


TUSHARE = """
ts_code,trade_date,open,high,low,close,pre_close,vol,amount
600000.SH,20240102,10.0,10.5,9.9,10.2,10.0,1000,1020.0
600000.SH,20240103,10.2,10.4,10.0,10.1,10.2,2000,2030.0
600000.SH,20240105,5.0,5.2,4.9,5.1,5.05,3000,1530.0
000001.SZ,20240102,9.0,9.2,8.9,9.1,9.0,500,455.0
000001.SZ,20240103,9.1,9.3,9.0,9.2,9.1,600,552.0
"""


def test_tushare_units_factor_and_suspended_fill(tmp_path: Path) -> None:
    out = files.read(_write(tmp_path / "daily.csv", TUSHARE), layout="tushare")
    bars = out["bars"]
    a = bars.filter(pl.col("symbol") == "600000.SH").sort("date")
    assert a["date"].to_list() == [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 4), D(2024, 1, 5)]
    gap = a.row(2, named=True)  # 2024-01-04 has no row: a flat suspended bar at the last close
    assert gap["is_suspended"] and gap["volume"] == 0 and gap["amount"] == 0
    assert gap["open"] == gap["high"] == gap["low"] == gap["close"] == 10.1
    assert a["volume"][0] == 100_000 and a["amount"][0] == 1_020_000  # lots -> shares, kCNY -> CNY
    # 2-for-1 split on 01-05: ratio close[t-1] / pre_close[t] = 10.1 / 5.05 = 2
    assert a["adj_factor"].to_list() == pytest.approx([1.0, 1.0, 1.0, 2.0])
    assert not a["is_suspended"][0]
    inst = out["instruments"].sort("symbol")
    assert inst["symbol"].to_list() == ["000001.SZ", "600000.SH"]
    assert inst["board"].to_list() == ["main", "main"] and inst["exchange"].to_list() == ["SZ", "SH"]
    assert inst["delist_date"].to_list() == [D(2024, 1, 3), None]  # ends before the data's end
    assert out["calendar"]["date"].to_list() == sse_calendar(D(2024, 1, 2), D(2024, 1, 5))


AKSHARE = """
日期,股票代码,开盘,收盘,最高,最低,成交量,成交额,振幅,涨跌幅,涨跌额,换手率
2024-01-02,000001,9.39,9.21,9.42,9.21,1158366,1075742252.45,2.34,-1.92,-0.18,0.60
2024-01-03,000001,9.19,9.20,9.22,9.15,733610,673673613.49,0.76,-0.11,-0.01,0.38
"""


def test_akshare_folder_auto_detect(tmp_path: Path) -> None:
    _write(tmp_path / "ak" / "000001.csv", AKSHARE)
    _write(tmp_path / "ak" / "000002.csv", AKSHARE.replace(",000001,", ",000002,"))
    out = files.read(tmp_path / "ak")  # layout auto-detected from the Chinese headers
    bars = out["bars"]
    assert sorted(bars["symbol"].unique().to_list()) == ["000001.SZ", "000002.SZ"]
    assert bars["volume"][0] == 115_836_600  # lots -> shares
    assert bars["amount"][0] == pytest.approx(1075742252.45)
    assert bars["adj_factor"].to_list() == [1.0] * 4


QLIB_CSV = """
date,open,close,high,low,volume,factor
2024-01-02,20.0,20.4,21.0,19.8,500,2.0
2024-01-03,20.4,20.4,20.4,20.4,0,2.0
2024-01-04,20.4,22.0,22.0,20.0,400,2.0
"""


def test_qlib_folder_prices_volume_index_and_members(tmp_path: Path) -> None:
    root = tmp_path / "qlib"
    _write(root / "SH600000.csv", QLIB_CSV)
    _write(root / "sh000905.csv", QLIB_CSV.replace(",2.0", ",1.0"))
    _write(root / "instruments" / "csi500.txt",
           "SH600000\t2024-01-02\t2024-01-03\nSZ000001\t2024-01-02\t2024-01-12\nSH600004\t2024-01-04\t2024-01-12")
    out = files.read(root, layout="qlib")
    bars = out["bars"]
    assert bars["close"].to_list() == [10.2, 10.2, 11.0]  # raw = price / factor
    assert bars["volume"].to_list() == [1000.0, 0.0, 800.0]  # qlib volume is per adjusted share
    assert bars["is_suspended"].to_list() == [False, True, False]
    assert bars["adj_factor"].to_list() == [2.0, 2.0, 2.0]
    idx = out["index_bars"]
    assert idx["index_code"].unique().to_list() == ["000905.SH"] and idx.height == 3
    snaps = out["index_members"]
    by_date = {d: sorted(g["symbol"].to_list()) for (d,), g in snaps.group_by("date")}
    assert by_date == {D(2024, 1, 2): ["000001.SZ", "600000.SH"], D(2024, 1, 4): ["000001.SZ", "600004.SH"]}


def test_long_parquet_and_store_ingest(tmp_path: Path) -> None:
    df = pl.DataFrame({
        "symbol": ["sh600000", "sh600000", "sz300750"], "date": [D(2024, 1, 2), D(2024, 1, 3), D(2024, 1, 3)],
        "open": [10.0, 10.0, 150.0], "high": [10.5, 9.0, 155.0], "low": [9.8, 9.5, 149.0],  # row 2: high < low
        "close": [10.1, 9.6, 151.0], "volume": [1e6, 2e6, 3e5], "amount": [1e7, 2e7, 4.5e7],
        "name": ["浦发银行", "浦发银行", "*ST宁德"],
    })
    path = tmp_path / "long.parquet"
    df.write_parquet(path)
    with MarketStore.open(tmp_path / "home") as store:
        report = ingest(store, files.FilesSource(str(path), layout="long"))
        rules = sorted(store.rejects()["rule"].to_list())  # one bad row, reported once per rule
        assert rules == ["close_outside_range", "high_below_low", "open_outside_range"]
        assert report.rejected["bars"] == 3
        bars = store.bars(adjust=False)
        assert bars.height == 2
        assert bars.filter(pl.col("symbol") == "300750.SZ")["is_st"].to_list() == [True]
        assert store.instruments().filter(pl.col("symbol") == "300750.SZ")["board"].item() == "chinext"


@pytest.mark.parametrize("text, needle", [
    ("ts_code,trade_date,open,high,low\n600000.SH,20240102,1,2,1\n", "missing required column 'close'"),
    ("ts_code,trade_date,open,high,low,close\n600000.SH,2024-13-45,1,2,1,1\n", "column 'date' row 1"),
    ("ts_code,trade_date,open,high,low,close\n600000.SH,20240102,1,abc,1,1\n", "column 'high' row 1"),
    ("ts_code,trade_date,open,high,low,close\n600000.SH,20240102,1,2,1,1,9,9\n", "malformed CSV"),
])
def test_parse_errors_name_file_and_column_and_write_nothing(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(text, encoding="utf-8")
    with MarketStore.open(tmp_path / "home") as store:
        with pytest.raises(SourceError) as err:
            ingest(store, files.FilesSource(str(path), layout="tushare"))
        msg = str(err.value)
        assert needle in msg and "bad.csv" in msg and "\n" not in msg
        assert store.bars().height == 0 and store.ingest_log().height == 0


def test_unknown_layout_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="unknown layout"):
        files.read(_write(tmp_path / "a.csv", TUSHARE), layout="bloomberg")
    with pytest.raises(SourceError, match="no such file"):
        files.read(tmp_path / "nope")


def test_fill_suspended_keeps_dense_panels_and_off_calendar_rows() -> None:
    bars = pl.DataFrame({
        "symbol": ["A", "A", "A"], "date": [DAYS[0], DAYS[3], D(2024, 1, 6)],  # 01-06 is a Saturday
        "open": [1.0, 2.0, 3.0], "high": [1.0, 2.0, 3.0], "low": [1.0, 2.0, 3.0], "close": [1.5, 2.0, 3.0],
        "volume": [5.0, 6.0, 7.0], "amount": [1.0, 1.0, 1.0], "adj_factor": [1.0, 2.0, 2.0],
        "is_suspended": [False, False, False], "total_cap": [9.0, None, 8.0],
    })
    out = panel.fill_suspended(bars, DAYS)
    assert out["total_cap"].to_list() == [9.0, 9.0, 9.0, None, 8.0]  # carried into gaps only
    assert out["date"].to_list() == [*DAYS[:4], D(2024, 1, 6)]
    assert out["close"].to_list() == [1.5, 1.5, 1.5, 2.0, 3.0]
    assert out["adj_factor"].to_list() == [1.0, 1.0, 1.0, 2.0, 2.0]
    assert out["is_suspended"].to_list() == [False, True, True, False, False]
    dense = panel.fill_suspended(out.filter(pl.col("date") != D(2024, 1, 6)), DAYS)
    assert dense.height == 4


def test_intervals_to_snapshots_change_dates() -> None:
    iv = pl.DataFrame({"index_code": ["X"] * 3, "symbol": ["a", "b", "c"],
                       "start": [DAYS[0], DAYS[0], DAYS[4]], "end": [DAYS[2], DAYS[8], DAYS[8]]})
    snaps = panel.intervals_to_snapshots(iv, DAYS)
    got = {d: sorted(g["symbol"].to_list()) for (d,), g in snaps.group_by("date")}
    # 'a' leaves after DAYS[2] -> snapshot on DAYS[3]; 'c' joins on DAYS[4]; the file end closes nothing
    assert got == {DAYS[0]: ["a", "b"], DAYS[3]: ["b"], DAYS[4]: ["b", "c"]}
    clipped = panel.clip_snapshots(snaps, DAYS[1], None)
    assert sorted(clipped["date"].unique().to_list()) == [DAYS[1], DAYS[3], DAYS[4]]


XBX_CSV = """数据由邢不行整理
股票代码,股票名称,交易日期,开盘价,最高价,最低价,收盘价,前收盘价,成交量,成交额,流通市值,总市值
sh600000,浦发银行,2024-01-02,10.0,10.5,9.9,10.2,10.0,100000,1020000,1e10,2e10
sh600000,ST浦发,2024-01-03,10.2,10.4,10.0,10.1,10.2,200000,2030000,1e10,2e10
"""


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
def test_xbx_csv_with_banner_bom_or_gbk(tmp_path: Path, encoding: str) -> None:
    folder = tmp_path / "xbx"
    folder.mkdir()
    (folder / "sh600000.csv").write_bytes(XBX_CSV.encode(encoding))
    out = files.read(folder)  # auto: the header is on the second line
    bars = out["bars"]
    assert bars["is_st"].to_list() == [False, True] and bars["total_cap"][0] == 2e10
    assert out["instruments"]["name"].item() == "ST浦发"


def test_start_end_clip_after_the_factor_is_computed(tmp_path: Path) -> None:
    out = files.read(_write(tmp_path / "daily.csv", TUSHARE), layout="tushare", start=D(2024, 1, 5))
    bars = out["bars"]
    assert bars["date"].to_list() == [D(2024, 1, 5)]
    assert bars["adj_factor"].to_list() == pytest.approx([2.0])  # the split before start still counts
    assert out["calendar"]["date"].to_list() == [D(2024, 1, 5)]
    assert out["instruments"].filter(pl.col("symbol") == "600000.SH")["list_date"].item() == D(2024, 1, 2)


# a 10-for-10 bonus issue on 2024-01-04: the exchange's previous close halves (20.20 -> 10.10)
BONUS = """
日期,股票代码,开盘,收盘,最高,最低,成交量,成交额,振幅,涨跌幅,涨跌额,换手率
2024-01-02,600000,19.80,20.00,20.10,19.70,10000,20000000,2.0,1.01,0.20,0.5
2024-01-03,600000,20.00,20.20,20.30,19.90,10000,20200000,2.0,1.00,0.20,0.5
2024-01-04,600000,10.00,10.20,10.25,9.95,20000,20400000,3.0,1.00,0.10,0.5
2024-01-05,600000,10.20,10.30,10.40,10.00,20000,20600000,4.0,0.98,0.10,0.5
"""


def _ingest_files(home: Path, path: Path, layout: str) -> tuple[IngestReport, pl.DataFrame]:
    with MarketStore.open(home) as store:
        report = ingest(store, files.FilesSource(path=str(path), layout=layout))
        return report, store.bars(symbols=["600000.SH"]).sort("date")


def test_bonus_issue_is_adjusted_from_the_change_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """akshare's 涨跌额 is close minus the exchange's ex-rights previous close: the bonus day's
    factor follows (20.20 / 10.10 = 2), so the adjusted return is +1 %, not -50 %."""
    from flyer.cli import main

    report, bars = _ingest_files(tmp_path, _write(tmp_path / "bonus.csv", BONUS), "akshare")
    ret = bars["close"][2] / bars["close"][1] - 1
    assert bars["adj_factor"].to_list() == pytest.approx([1.0, 1.0, 2.0, 2.0]) and ret == pytest.approx(0.0099, abs=1e-3)
    assert not any("beyond the price limit" in m for m in report.messages)
    with pytest.raises(SystemExit) as ex:
        main(["check", "--area", "adjustment", "--home", str(tmp_path)])
    assert ex.value.code == 0 and "every close-to-close move lies within its price limit" in capsys.readouterr().out


def test_bonus_issue_without_a_trace_is_flagged_at_ingest_and_by_check(tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """Without 涨跌额 (or a previous close, or a factor) the factor stays 1.0: ingest notes the
    -49.5 % move beyond the 10 % limit and ``flyer check`` warns, naming the stock and day."""
    from flyer.cli import main

    plain = "\n".join(",".join(line.split(",")[:8]) for line in BONUS.strip().splitlines())
    report, bars = _ingest_files(tmp_path, _write(tmp_path / "plain.csv", plain), "akshare")
    assert bars["adj_factor"].to_list() == [1.0] * 4
    note = [m for m in report.messages if "beyond the price limit" in m]
    assert note and "600000.SH 2024-01-04 -49.5% (limit 10%)" in note[0]
    with pytest.raises(SystemExit) as ex:
        main(["check", "--area", "adjustment", "--home", str(tmp_path)])
    out = capsys.readouterr().out
    assert ex.value.code == 0 and "warning adjustment 1 close-to-close move(s) beyond the price limit" in out
    assert "600000.SH 2024-01-04 -49.5%" in out


def test_tushare_change_column_gives_the_previous_close(tmp_path: Path) -> None:
    text = """
ts_code,trade_date,open,high,low,close,change,vol,amount
600000.SH,20240102,19.8,20.1,19.7,20.0,0.2,100,200.0
600000.SH,20240103,20.0,20.3,19.9,20.2,0.2,100,202.0
600000.SH,20240104,10.0,10.25,9.95,10.2,0.1,200,204.0
"""
    out = files.read(_write(tmp_path / "daily.csv", text), layout="tushare")
    assert out["bars"]["adj_factor"].to_list() == pytest.approx([1.0, 1.0, 2.0])
