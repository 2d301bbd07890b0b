"""The simulated market: determinism, validity under the store's rules, A-share mechanics."""
from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from flyer.data import rules
from flyer.data.calendar import sse_calendar
from flyer.data.sources.sim import SimConfig, generate
from flyer.data.symbols import board_expr

TINY = SimConfig(n_stocks=40, start=dt.date(2019, 1, 1), end=dt.date(2019, 12, 31), seed=3)


def test_deterministic_given_seed() -> None:
    a, b = generate(TINY), generate(TINY)
    assert all(a[k].equals(b[k]) for k in a)
    c = generate(SimConfig(n_stocks=40, start=TINY.start, end=TINY.end, seed=4))
    assert not a["bars"].equals(c["bars"])


def test_bad_config_is_rejected() -> None:
    with pytest.raises(ValueError, match="n_stocks"):
        SimConfig(n_stocks=6000)


def test_sim_passes_validation_and_uses_real_calendar(sim_store, sim_config) -> None:
    assert sim_store.rejects().height == 0
    assert sim_store.calendar().to_list() == sse_calendar(sim_config.start, sim_config.end)
    assert dt.date(2019, 10, 1) not in set(sim_store.calendar().to_list())  # National Day


def test_calendar_matches_shared_real_calendar(shared_ashare) -> None:
    real = [dt.date.fromisoformat(x.strip()) for x in
            (shared_ashare / "calendar" / "qlib_day_20100104_20260508.txt").read_text().split()]
    real = [d for d in real if dt.date(2016, 1, 1) <= d <= dt.date(2024, 12, 31)]
    assert sse_calendar(dt.date(2016, 1, 1), dt.date(2024, 12, 31)) == real


def _with_limits(raw: pl.DataFrame, instruments: pl.DataFrame) -> pl.DataFrame:
    df = raw.join(instruments.select("symbol", "list_date"), on="symbol").with_columns(
        prev=(pl.col("close").shift(1) * pl.col("adj_factor").shift(1) / pl.col("adj_factor")).over("symbol"),
        day=pl.int_range(1, pl.len() + 1).over("symbol"),
        board=board_expr(pl.col("symbol")),
    ).with_columns(day=pl.when(pl.col("list_date") < pl.col("date").min()).then(1000).otherwise(pl.col("day")))
    up, down = rules.limit_prices_expr(pl.col("prev"), pl.col("board"), pl.col("is_st"), pl.col("date"), pl.col("day"))
    return df.with_columns(up=up, down=down).filter(pl.col("prev").is_not_null())


def test_closes_respect_price_limits_and_some_hit_them(sim_store) -> None:
    df = _with_limits(sim_store.bars(adjust=False), sim_store.instruments())
    limited = df.filter(pl.col("up").is_not_null())
    assert (limited["close"] <= limited["up"] + 1e-9).all()
    assert (limited["close"] >= limited["down"] - 1e-9).all()
    at_up = limited.filter((pl.col("close") >= pl.col("up") - 1e-9) & ~pl.col("is_suspended")).height
    at_down = limited.filter((pl.col("close") <= pl.col("down") + 1e-9) & ~pl.col("is_suspended")).height
    assert at_up > 0 and at_down > 0


def test_market_mechanics_present(sim_store) -> None:
    bars = sim_store.bars(adjust=False)
    inst = sim_store.instruments()
    assert bars["is_suspended"].sum() > 0
    susp = bars.filter(pl.col("is_suspended"))
    assert (susp["volume"] == 0).all() and (susp["open"] == susp["close"]).all()
    assert bars["is_st"].sum() > 0
    assert (bars.group_by("symbol").agg(pl.col("adj_factor").n_unique())["adj_factor"] > 1).sum() > 0
    assert inst["delist_date"].is_not_null().sum() > 0
    assert set(inst["board"]) >= {"main", "chinext"}


def test_csi500_reviews_and_index_level(sim_store, sim_config) -> None:
    snaps = sim_store.membership("000905.SH")
    counts = snaps.group_by("date").len()
    assert counts["len"].min() > 10
    june = sim_store.members("000905.SH", dt.date(2019, 6, 20))["symbol"].to_list()
    may = sim_store.members("000905.SH", dt.date(2019, 5, 20))["symbol"].to_list()
    assert june != may  # the June review changed members
    w = sim_store.members("000905.SH", dt.date(2019, 6, 20))["weight"]
    assert abs(w.sum() - 1) < 1e-9
    idx = sim_store.index_bars("000905.SH")
    assert idx.height == sim_store.calendar().len() and idx["close"][0] == 1000.0


def test_planted_reversal_is_weak_but_present(sim_bars) -> None:
    df = sim_bars.with_columns(
        r5=(pl.col("close") / pl.col("close").shift(5) - 1).over("symbol"),
        fwd=(pl.col("close").shift(-2) / pl.col("close").shift(-1) - 1).over("symbol"),
    ).drop_nulls(["r5", "fwd"]).filter(~pl.col("is_suspended"))
    ic = df.group_by("date").agg(pl.corr(-pl.col("r5").rank(), pl.col("fwd").rank()).alias("ic"))["ic"]
    assert 0.005 < ic.mean() < 0.12


def test_shorter_run_is_a_prefix_of_a_longer_one() -> None:
    short = generate(SimConfig(n_stocks=40, start=dt.date(2019, 1, 1), end=dt.date(2019, 6, 28), seed=3))
    long = generate(TINY)
    end = dt.date(2019, 6, 28)
    for table in ("bars", "index_bars"):
        assert short[table].equals(long[table].filter(pl.col("date") <= end))
    assert short["index_members"].equals(long["index_members"].filter(pl.col("date") <= end))
    listed = long["instruments"].filter(pl.col("list_date") <= end)["symbol"].sort()
    assert short["instruments"]["symbol"].sort().equals(listed)
