"""Industry intervals and daily fundamentals in the store: point-in-time reads, whole-history
replacement per (symbol, standard), interval validation, the sim's tables."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from flyer.data import schema
from flyer.data.store import MarketStore

D = dt.date
CAL = pl.DataFrame({"date": [D(2020, 1, 2), D(2020, 1, 3), D(2020, 1, 6), D(2020, 1, 7)]})


def _ind(rows: list[tuple]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=["symbol", "standard", "level", "code", "name", "start_date", "end_date"],
                        orient="row").cast({"level": pl.Int32})


def test_point_in_time_reads_and_panel(fresh_store: MarketStore) -> None:
    fresh_store.write("t", {"calendar": CAL, "industries": _ind([
        ("600000.SH", "sw", 1, "480000", "银行", D(2014, 2, 21), D(2020, 1, 6)),
        ("600000.SH", "sw", 1, "490000", "非银金融", D(2020, 1, 6), None),
        ("000001.SZ", "sw", 1, "480000", "银行", D(2010, 1, 1), None),
        ("000001.SZ", "csrc", 1, "J66", "货币金融", D(2010, 1, 1), None),
    ])})
    assert fresh_store.industry_standards() == ["sw", "csrc"]
    before = fresh_store.industries(D(2020, 1, 3))
    assert before.rows() == [("000001.SZ", "480000", "银行"), ("600000.SH", "480000", "银行")]
    on_switch = dict(fresh_store.industries(D(2020, 1, 6)).select("symbol", "code").rows())
    assert on_switch == {"000001.SZ": "480000", "600000.SH": "490000"}  # end_date is exclusive
    assert fresh_store.industries(D(2020, 1, 6), standard="csrc")["code"].to_list() == ["J66"]
    panel = fresh_store.industry_panel(D(2020, 1, 2), D(2020, 1, 7), symbols=["600000.SH"])
    assert panel["code"].to_list() == ["480000", "480000", "490000", "490000"]
    assert panel.columns == ["date", "symbol", "code", "name"]


def test_rewritten_history_replaces_the_old_intervals(fresh_store: MarketStore) -> None:
    old = _ind([("600000.SH", "sw", 1, "440000", "金融服务", D(2010, 1, 1), D(2014, 1, 1)),
                ("600000.SH", "sw", 1, "480000", "银行", D(2014, 1, 1), None)])
    new = _ind([("600000.SH", "sw", 1, "440000", "金融服务", D(2010, 1, 1), D(2014, 2, 21)),
                ("600000.SH", "sw", 1, "480000", "银行", D(2014, 2, 21), None)])
    fresh_store.write("t", {"industries": old})
    fresh_store.write("t", {"industries": new})
    got = fresh_store.industries().select("start_date", "end_date").rows()
    assert got == [(D(2010, 1, 1), D(2014, 2, 21)), (D(2014, 2, 21), None)]  # no overlapping leftovers
    assert fresh_store.industries(D(2014, 2, 1))["code"].to_list() == ["440000"]


@pytest.mark.parametrize("rows,rule", [
    ([("600000.SH", "sw", 1, "480000", "x", D(2014, 1, 1), D(2014, 1, 1))], "bad_interval"),
    ([("600000.SH", "sw", 1, "480000", "x", D(2014, 1, 1), D(2016, 1, 1)),
      ("600000.SH", "sw", 1, "490000", "y", D(2015, 1, 1), None)], "overlapping_interval"),
    ([("600000.SH", "sw", 1, None, "x", D(2014, 1, 1), None)], "missing_code"),
])
def test_bad_intervals_are_rejected(fresh_store: MarketStore, rows: list[tuple], rule: str) -> None:
    df = _ind(rows) if rule != "missing_code" else _ind(rows).with_columns(pl.col("code").cast(pl.Utf8))
    try:
        rep = fresh_store.write("t", {"industries": df})
    except Exception as exc:  # a missing required column is refused whole
        assert rule == "missing_code", exc
        return
    assert rep.rejected["industries"] >= 1
    assert rule in set(fresh_store.rejects()["rule"].to_list())


def test_sim_writes_industries_and_fundamentals(sim_store: MarketStore, sim_frames: dict) -> None:
    assert sim_store.industry_standards() == ["sim"]
    day = sim_store.calendar()[-1]
    ind = sim_store.industries(day)
    live = sim_store.bars(day, day, columns=["close"])["symbol"]
    assert set(live.to_list()) <= set(ind["symbol"].to_list())
    names = dict(sim_store.instruments().select("symbol", "industry").rows())
    assert all(names[s] == n for s, n in ind.select("symbol", "name").rows())
    f = sim_store.fundamentals(columns=["pb_mrq", "pe_ttm", "turnover_rate"])
    assert f.height == sim_frames["bars"].height and f.null_count().row(0) == (0, 0, 0, 0, 0)
    b = sim_store.bars(adjust=False, columns=["close", "volume", "float_cap"])
    shares_traded = (b["volume"] / (b["float_cap"] / b["close"])).to_numpy()
    assert f["turnover_rate"].to_numpy() == pytest.approx(shares_traded, rel=1e-9)  # a fraction of float shares
    one = f.filter(pl.col("symbol") == f["symbol"][0])
    book = (sim_store.bars(symbols=[f["symbol"][0]], columns=["close"])["close"] / one["pb_mrq"])
    steps = (book.pct_change().abs() > 1e-9).sum()
    assert 0 < steps <= 13  # book value moves only on quarterly report days (3 years: 12)


def test_store_without_the_new_tables_reads_empty(tmp_path) -> None:
    import duckdb

    path = tmp_path / "market.duckdb"
    con = duckdb.connect(str(path))  # a store of the first flyer version: no industries, fundamentals, ...
    for table in ("calendar", "instruments", "bars", "index_bars", "index_members"):
        con.execute(schema.ddl(table))
    con.execute(schema.INGEST_LOG_DDL)
    con.execute(schema.REJECTS_DDL)
    con.close()
    with MarketStore(path, read_only=True) as store:
        assert store.industries(D(2020, 1, 2)).height == 0
        assert store.fundamentals().columns == list(schema.FUNDAMENTALS)
