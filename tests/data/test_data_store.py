"""Market store: validation, idempotent transactional upserts, point-in-time reads."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from flyer.data.store import MarketStore, StoreError

D = [dt.date(2024, 1, 2), dt.date(2024, 1, 3), dt.date(2024, 1, 4)]


def _bars(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["symbol", "date", "open", "high", "low", "close", "volume"], orient="row")


def _base(store: MarketStore) -> None:
    store.write("test", {"calendar": pl.DataFrame({"date": D})})


def test_good_rows_written_bad_rows_rejected_with_rule(fresh_store: MarketStore) -> None:
    _base(fresh_store)
    bars = _bars([
        ("600000.SH", D[0], 10.0, 10.5, 9.8, 10.2, 1000.0),
        ("600000.SH", D[1], 10.0, 9.0, 9.8, 10.2, 1000.0),   # high < low
        ("600000.SH", D[2], 11.0, 10.5, 9.8, 10.2, 1000.0),  # open above high
        ("000001.SZ", D[0], 10.0, 10.5, 9.8, 10.2, -5.0),    # negative volume
        ("000001.SZ", D[1], 0.0, 10.5, 9.8, 10.2, 100.0),    # zero price
        ("000001.SZ", dt.date(2024, 1, 6), 10.0, 10.5, 9.8, 10.2, 100.0),  # Saturday
        ("BAD", D[0], 10.0, 10.5, 9.8, 10.2, 100.0),         # bad symbol
        ("300001.SZ", D[0], 10.0, 10.5, 9.8, 10.2, 100.0),
        ("300001.SZ", D[0], 10.0, 10.5, 9.8, 10.3, 100.0),   # duplicate key
    ])
    report = fresh_store.write("test", {"bars": bars})
    assert report.written["bars"] == 1
    rules = fresh_store.rejects(report.ingest_id)
    got = {(r["symbol"], r["rule"]) for r in rules.iter_rows(named=True)}
    assert {("600000.SH", "high_below_low"), ("600000.SH", "open_outside_range"),
            ("000001.SZ", "negative_volume"), ("000001.SZ", "non_positive_price"),
            ("000001.SZ", "off_calendar"), ("BAD", "bad_symbol"), ("300001.SZ", "duplicate_key")} <= got
    log = fresh_store.ingest_log().row(0, named=True)
    assert log["status"] == "ok" and log["rows_rejected"] == report.rows_rejected >= 8
    assert any("600000.SH 2024-01-03: high_below_low" in m for m in report.messages)


def test_reingest_is_idempotent(fresh_store: MarketStore, sim_frames) -> None:
    fresh_store.write("sim", sim_frames)
    first = fresh_store.bars()
    fresh_store.write("sim", sim_frames)
    again = fresh_store.bars()
    assert again.equals(first)
    assert fresh_store.info()["bar_rows"] == sim_frames["bars"].height


def test_failure_mid_write_leaves_store_unchanged(fresh_store: MarketStore, sim_frames, monkeypatch) -> None:
    fresh_store.write("sim", {k: v for k, v in sim_frames.items() if k != "bars"})
    before = {t: fresh_store.one(f"SELECT count(*) FROM {t}")[0] for t in ("calendar", "instruments", "bars")}
    real = MarketStore._upsert

    def boom(self, table, df):
        if table == "bars":
            raise OSError("disk full")
        return real(self, table, df)

    monkeypatch.setattr(MarketStore, "_upsert", boom)
    changed = sim_frames["instruments"].with_columns(pl.lit("changed").alias("name"))
    with pytest.raises(StoreError, match="store unchanged: disk full"):
        fresh_store.write("sim", {"instruments": changed, "bars": sim_frames["bars"]})
    after = {t: fresh_store.one(f"SELECT count(*) FROM {t}")[0] for t in ("calendar", "instruments", "bars")}
    assert after == before
    assert "changed" not in fresh_store.instruments()["name"].to_list()
    assert fresh_store.ingest_log().row(0, named=True)["status"] == "failed"


def test_missing_column_is_one_line_error(fresh_store: MarketStore) -> None:
    with pytest.raises(StoreError, match="missing required column"):
        fresh_store.write("test", {"bars": pl.DataFrame({"symbol": ["600000.SH"], "date": [D[0]]})})


def test_membership_is_point_in_time(fresh_store: MarketStore) -> None:
    _base(fresh_store)
    snaps = pl.DataFrame({
        "index_code": ["000905.SH"] * 3, "date": [D[0], D[0], D[2]],
        "symbol": ["600000.SH", "000001.SZ", "600000.SH"], "weight": [0.5, 0.5, 1.0]})
    fresh_store.write("test", {"index_members": snaps})
    assert fresh_store.members("000905.SH", D[1])["symbol"].to_list() == ["000001.SZ", "600000.SH"]
    assert fresh_store.members("000905.SH", D[2])["symbol"].to_list() == ["600000.SH"]
    assert fresh_store.members("000905.SH", dt.date(2023, 12, 29)).height == 0
    daily = fresh_store.membership("000905.SH")
    assert daily.group_by("date").len().sort("date")["len"].to_list() == [2, 2, 1]


def test_adjusted_and_raw_bars(sim_store) -> None:
    raw = sim_store.bars(adjust=False)
    adj = sim_store.bars()
    assert (adj["close"] - raw["close"] * raw["adj_factor"]).abs().max() < 1e-9
    assert (adj["volume"] * adj["close"] - raw["volume"] * raw["close"]).abs().max() < 1e-3
    syms = raw["symbol"].unique().sort().head(3).to_list()
    assert set(sim_store.bars(symbols=syms)["symbol"].unique()) == set(syms)


def test_bars_columns_subset_matches_full(sim_store) -> None:
    full = sim_store.bars()
    for cols in (["close"], ["vwap", "turnover"], ["open", "volume", "cap", "is_st"]):
        part = sim_store.bars(columns=cols)
        assert part.columns == ["symbol", "date", *cols]
        assert part.equals(full.select("symbol", "date", *cols))
    raw = sim_store.bars(adjust=False, columns=["close", "adj_factor"])
    assert raw.equals(sim_store.bars(adjust=False).select("symbol", "date", "close", "adj_factor"))
    with pytest.raises(StoreError, match="unknown bar column"):
        sim_store.bars(columns=["nope"])
