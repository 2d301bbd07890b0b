"""Bad input is never stored (findings 1-3): finite, plausible numbers only; no dates past the
clock; identical duplicates keep one row, conflicting ones are all rejected; a rejected row
leaves no filled day, calendar day or instrument behind, on the files source and on the sim."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
import pytest

from flyer.data.calendar import sse_calendar
from flyer.data.sources import ingest, make_source
from flyer.data.store import MarketStore, RejectedError
from flyer.data.validate import check

DAYS = sse_calendar(dt.date(2024, 1, 2), dt.date(2024, 1, 31))
HEAD = "symbol,date,open,high,low,close,volume\n"


def _row(sym: str, d: dt.date, px: float = 10.0, vol: float = 1000.0) -> str:
    return f"{sym},{d},{px},{px * 1.02},{px * 0.98},{px},{vol}\n"


@pytest.fixture(autouse=True)
def _clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLYER_TODAY", "2026-12-01")


@pytest.mark.parametrize("field,value,rule", [
    ("close", float("inf"), "non_finite"), ("high", float("-inf"), "non_finite"), ("volume", float("inf"), "non_finite"),
    ("close", 1e308, "implausible"), ("volume", 1e15, "implausible"), ("amount", float("nan"), "non_finite"),
    ("total_cap", float("inf"), "non_finite"), ("total_cap", 1e300, "implausible"),
])
def test_non_finite_and_implausible_numbers_are_rejected(field: str, value: float, rule: str) -> None:
    good = {"symbol": "600000.SH", "date": DAYS[0], "open": 10.0, "high": 10.5, "low": 9.5, "close": 10.0,
            "volume": 1e4, "amount": 1e5, "total_cap": 1e10}
    bad = dict(good, symbol="600004.SH")
    bad[field] = value
    if field in ("close", "high"):
        bad.update(open=value, high=value, low=value, close=value) if value > 0 else bad.update(low=value)
    checked = check("bars", pl.DataFrame([good, bad]), pl.Series(DAYS), dt.date(2026, 12, 1))
    assert checked.good["symbol"].to_list() == ["600000.SH"]
    assert rule in set(checked.rejects.filter(pl.col("symbol") == "600004.SH")["rule"])


def test_duplicates_identical_keep_one_conflicting_reject_both(fresh_store: MarketStore) -> None:
    rows = [("600000.SH", DAYS[0], 10.0, 10.5, 9.5, 10.0, 100.0)] * 2 + [
        ("000001.SZ", DAYS[0], 10.0, 10.5, 9.5, 10.0, 100.0), ("000001.SZ", DAYS[0], 10.0, 10.5, 9.5, 10.1, 100.0)]
    bars = pl.DataFrame(rows, schema=["symbol", "date", "open", "high", "low", "close", "volume"], orient="row")
    fresh_store.write("test", {"calendar": pl.DataFrame({"date": DAYS[:1]})})
    report = fresh_store.write("test", {"bars": bars})
    assert fresh_store.bars()["symbol"].to_list() == ["600000.SH"] and report.written["bars"] == 1
    rules = dict(fresh_store.rejects(report.ingest_id).group_by("rule").len().iter_rows())
    assert rules == {"duplicate_copy": 1, "duplicate_key": 2}
    assert any("conflicting copies" in m for m in report.messages)


def test_files_rejected_row_leaves_no_fill_no_calendar_no_instrument(fresh_home: Path, tmp_path: Path) -> None:
    """5 good rows + 1 bad row 5 days later used to store 10 bars (5 made up) and a row dated
    2030 extended the calendar; now: 5 bars, the calendar through the last good day, the bad
    rows only in ``rejects``."""
    f = tmp_path / "bars.csv"
    rows = [_row("600000.SH", d) for d in DAYS[:5]] + [_row("600000.SH", DAYS[10], px=float("inf"))]
    rows += [_row("600000.SH", dt.date(2030, 1, 2)), _row("000001.SZ", DAYS[3], px=-1.0)]
    f.write_text(HEAD + "".join(rows))
    with MarketStore.open(fresh_home) as store:
        report = ingest(store, make_source("files", path=str(f)))
        assert store.bars()["date"].to_list() == DAYS[:5]
        assert store.calendar().to_list() == DAYS[:5]
        assert store.instruments()["symbol"].to_list() == ["600000.SH"]
        rules = set(store.rejects(report.ingest_id)["rule"])
        assert {"non_finite", "future_date", "non_positive_price"} <= rules


def test_all_rows_rejected_exits_non_zero_and_writes_only_rejects(fresh_home: Path, tmp_path: Path) -> None:
    f = tmp_path / "one.csv"
    f.write_text(HEAD + _row("600000.SH", DAYS[2], px=float("inf")))
    with MarketStore.open(fresh_home) as store:
        with pytest.raises(RejectedError, match="every bar row was rejected") as err:
            ingest(store, make_source("files", path=str(f)))
        assert err.value.exit_code == 2
        assert store.calendar().len() == 0 and store.instruments().height == 0 and store.bars().height == 0
        assert store.rejects()["rule"].to_list() == ["non_finite", "open_outside_range"] or \
            "non_finite" in store.rejects()["rule"].to_list()


def test_sim_batch_bad_rows_leave_no_instrument_or_day(fresh_store: MarketStore, sim_frames) -> None:
    """The store's own guard, for sources that do not derive rows (the sim): a stock whose every
    bar is rejected gets no instrument, a last day whose every row is rejected no calendar day."""
    bars = sim_frames["bars"]
    victim = bars["symbol"].unique().sort()[0]
    last = bars["date"].max()
    bad = bars.with_columns(
        pl.when((pl.col("symbol") == victim) | (pl.col("date") == last)).then(float("inf"))
        .otherwise(pl.col("close")).alias("close"))
    idx = sim_frames["index_bars"].with_columns(
        pl.when(pl.col("date") == last).then(float("inf")).otherwise(pl.col("close")).alias("close"))
    report = fresh_store.write("sim", {**sim_frames, "bars": bad, "index_bars": idx})
    assert victim not in fresh_store.instruments()["symbol"].to_list()
    assert fresh_store.calendar().max() < last and fresh_store.bars()["date"].max() < last
    derived = fresh_store.rejects(report.ingest_id).filter(pl.col("rule") == "derived_from_rejected")
    assert set(derived["tbl"]) == {"calendar", "instruments"}


def test_read_only_open_of_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    from flyer.data.store import StoreError

    with pytest.raises(StoreError, match="no market store"):
        MarketStore.open(tmp_path / "no" / "home", read_only=True)
    assert not (tmp_path / "no").exists()
