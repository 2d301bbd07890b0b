"""Fields that vanish are never silent: a sim built to lose amount, caps and ST flags from a
date; ``flyer check`` names what vanished and when, vwap is null there (a substitution only
when configured, and then counted in the backtest's notes); a stock whose bars end because a
file ends keeps an unknown delisting date (an official one replaces the last bar); the
survivor-biased span is named."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from flyer.data import health
from flyer.data.sources import ashare
from flyer.data.sources.sim import SimConfig, generate
from flyer.data.store import MarketStore

D = dt.date
LOSS = D(2020, 1, 2)
BASE = SimConfig(n_stocks=60, start=D(2019, 1, 1), end=D(2020, 6, 30), seed=6)
LOSSY = SimConfig(n_stocks=60, start=D(2019, 1, 1), end=D(2020, 6, 30), seed=6, lose_amount_from=LOSS,
                  lose_st_from=LOSS)


@pytest.fixture(scope="module")
def lossy(tmp_path_factory: pytest.TempPathFactory):
    store = MarketStore.open(tmp_path_factory.mktemp("lossy"))
    store.write("sim", generate(LOSSY), start=LOSSY.start, end=LOSSY.end)
    yield store
    store.close()


def test_lossy_sim_keeps_the_default_market() -> None:
    a, b = generate(BASE)["bars"], generate(LOSSY)["bars"]
    prices = ["symbol", "date", "open", "high", "low", "close", "volume", "adj_factor", "is_suspended"]
    assert a.select(prices).equals(b.select(prices))
    before = pl.col("date") < LOSS
    assert a.filter(before).equals(b.filter(before))
    after = b.filter(~before)
    assert after["amount"].null_count() == after.height and after["float_cap"].null_count() == after.height
    assert after["is_st"].sum() == 0 and a.filter(~before)["is_st"].sum() > 0


def test_check_names_vanished_fields_and_unknown_st(lossy: MarketStore) -> None:
    findings = health.run(lossy, ("fields", "coverage"))
    text = [f.message for f in findings if f.level == "warning"]
    for field in ("amount", "total_cap", "float_cap"):
        assert any(m.startswith(f"{field} vanishes from {LOSS}") for m in text), text
    assert any("$vwap is null there" in m for m in text if m.startswith("amount"))   # no silent substitution
    assert any(m.startswith(f"ST flags unknown {LOSS}") and "not ST" in m for m in text)


def test_vwap_is_null_without_amount_unless_substitution_configured(lossy: MarketStore) -> None:
    bars = lossy.bars(D(2019, 12, 20), D(2020, 1, 10))
    traded = pl.col("volume") > 0
    after = bars.filter((pl.col("date") >= LOSS) & traded)
    assert after.height and after["vwap"].null_count() == after.height
    assert bars.filter((pl.col("date") < LOSS) & traded)["vwap"].null_count() == 0
    typical = lossy.bars(D(2019, 12, 20), D(2020, 1, 10), vwap_fill="typical").filter((pl.col("date") >= LOSS) & traded)
    assert typical["vwap"].to_numpy() == pytest.approx(((typical["high"] + typical["low"] + typical["close"]) / 3).to_numpy())


def test_backtest_notes_count_missing_vwap_and_unknown_st(lossy: MarketStore) -> None:
    bars = lossy.bars(D(2019, 11, 1), D(2020, 2, 28), columns=["close"])
    scores = bars.with_columns((-pl.col("close")).alias("score")).select("date", "symbol", "score")
    cfg = BacktestConfig(k=10, n_drop=2, deal_price="vwap", start=D(2019, 11, 1), end=D(2020, 2, 28), capital=1e6)
    plain = run(lossy, scores, cfg)
    filled = run(lossy, scores, cfg.replace(vwap_fill="typical"))
    note = next(n for n in plain.diagnostics.notes if n.startswith("vwap deal price"))
    assert "2020:" in note and note.endswith("no vwap: no fill")
    assert next(n for n in filled.diagnostics.notes if n.startswith("vwap deal price")).endswith("(high+low+close)/3")
    assert any(n.startswith(f"st * unknown {LOSS}") and "not ST" in n for n in plain.diagnostics.notes)
    after = pl.col("date") >= LOSS
    assert plain.trades().filter(after).height == 0 < filled.trades().filter(after).height


def test_file_end_is_not_a_delisting() -> None:
    """ashare: a stock whose bars stop when a file ends (the xbx file, the tushare file), while
    the data goes on, has an unknown delisting date unless one is known officially; the official
    date replaces the last bar; a stock that stopped inside the xbx file keeps its delisting."""
    end, data_end = ashare.XBX_LAST, D(2024, 5, 6)
    syms = ["000001.SZ", "000002.SZ", "000003.SZ", "000004.SZ", "000005.SZ"]
    last = [end, end - dt.timedelta(days=30), data_end, ashare.TUSHARE_LAST, ashare.TUSHARE_LAST]
    bars = pl.DataFrame({"symbol": syms, "date": last})
    inst = pl.DataFrame({"symbol": syms, "delist_date": [end, end - dt.timedelta(days=30), None, last[3], last[4]]})
    official = pl.DataFrame({"symbol": ["000004.SZ", "000002.SZ"], "delist_date": [D(2023, 6, 2), D(2021, 12, 24)]})
    out = ashare.with_delistings(inst, bars, official, data_end)
    assert out["delist_date"].to_list() == [None, D(2021, 12, 24), None, D(2023, 6, 2), None]
    later = pl.DataFrame({"symbol": ["000004.SZ"], "delist_date": [D(2025, 1, 2)]})   # after the data: unknown yet
    assert ashare.with_delistings(inst, bars, later, data_end)["delist_date"][3] is None
    unofficial = ashare.with_delistings(inst, bars, official.clear(), end)
    assert unofficial["delist_date"].to_list()[:2] == inst["delist_date"].to_list()[:2]


def test_check_names_the_survivor_biased_span(tmp_path) -> None:
    from flyer.data.coverage import coverage_frame, span

    frames = generate(BASE)
    frames["coverage"] = coverage_frame([span("bars", "survivors", "unknown", D(2020, 3, 2), BASE.end,
                                              "only the stocks that survived have bars", "test")])
    with MarketStore.open(tmp_path / "h") as store:
        store.write("sim", frames, start=BASE.start, end=BASE.end)
        text = [f.message for f in health.run(store, ("coverage",))]
    assert any(m.startswith(f"bars survivor-biased 2020-03-02 .. {BASE.end}") and "biased upward" in m for m in text)
