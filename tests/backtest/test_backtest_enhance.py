"""The ``enhance`` strategy on the sim market: the optimiser's constraints hold on every
rebalance of a backtest (property test over its settings), so do the participation bounds at
sizes where they bind, the impact the optimiser expects is what the engine charges (a
hand-computed case), its weights go through the A-share engine, and the CLI / config file run it."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from flyer.backtest.enhance import impact_coefficients, limits, market_liquidity, plan
from flyer.backtest.market import load_market
from flyer.backtest.optimizer import Problem, expected_impact
from flyer.cli import app
from flyer.data.store import MarketStore
from tests.backtest.conftest import HISTORY
from tests.backtest.enhance_kit import END, START, check, reversal_scores, sim_home_copy


@pytest.fixture(scope="module")
def home(sim_frames, tmp_path_factory) -> Path:
    return sim_home_copy(sim_frames, tmp_path_factory.mktemp("enhance") / "home")


@pytest.fixture(scope="module")
def scores(home: Path) -> pl.DataFrame:
    with MarketStore.open(home, read_only=True) as store:
        return reversal_scores(store)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(te=st.sampled_from([0.03, 0.06]), turnover=st.sampled_from([0.2, 0.5]),
       stock=st.sampled_from([0.01, 0.02]), floor=st.sampled_from([0.8, 0.9]), every=st.sampled_from([5, 10]))
def test_constraints_hold_on_every_rebalance(home: Path, scores: pl.DataFrame, te: float, turnover: float,
                                             stock: float, floor: float, every: int) -> None:
    cfg = BacktestConfig(strategy="enhance", rebalance_every=every, start=START, end=END).replace(
        te=te, turnover=turnover, stock_limit=stock, member_floor=floor)
    with MarketStore.open(home, read_only=True) as store:
        p = plan(store, scores, cfg, keep_problems=True)
    lim = limits(cfg.enhance)
    assert p.diagnostics.height == len(p.problems) > 10
    for syms, prob, sol, final in p.problems:
        check(prob, sol.weights, lim, sol.relaxed)
        assert sol.status in ("optimal", "optimal_inaccurate", "held")
        # dust (weights < min_weight) removed and its weight spread pro rata: a small move only
        dust = (sol.weights > 0) & (sol.weights < cfg.enhance.min_weight) & (prob.lb < prob.ub)
        assert np.abs(final - sol.weights).sum() <= 2 * sol.weights[dust].sum() + 1e-12
        assert (final[dust] == 0).all() and abs(final.sum() - 1) < 1e-9
    first = p.diagnostics.row(0, named=True)
    assert first["turnover"] > 0.9                 # the first rebalance builds the book: no turnover cap
    assert p.weights["weight"].min() >= cfg.enhance.min_weight - 1e-12 or p.weights.height == 0
    w = p.weights.group_by("date").agg(pl.col("weight").sum())["weight"]
    np.testing.assert_allclose(w, 1.0, atol=1e-9)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(capital=st.sampled_from([1e8, 3e9]), participation=st.sampled_from([0.02, 0.1]), every=st.sampled_from([5, 10]))
def test_every_rebalance_respects_the_participation_bounds(home: Path, scores: pl.DataFrame, capital: float,
                                                           participation: float, every: int) -> None:
    """Each trade of each rebalance stays within participation x ADV / NAV, with the engine's
    ADV of the trade day and the plan's paper NAV; at a size where the bounds bind, some do."""
    cfg = BacktestConfig(strategy="enhance", rebalance_every=every, start=START, end=END, capital=capital,
                         participation=participation).replace(impact="sqrt")
    with MarketStore.open(home, read_only=True) as store:
        p = plan(store, scores, cfg, keep_problems=True)
        names = sorted(set(store.members("000905.SH", START)["symbol"].to_list()) | set(scores["symbol"].to_list()))
        market = load_market(store, names, scores["date"].min(), END, cfg.deal_price)
    row = {d: i for i, d in enumerate(market.dates)}
    lim = limits(cfg.enhance)
    for (syms, prob, sol, final), r in zip(p.problems, p.diagnostics.iter_rows(named=True)):
        n = len(syms)
        sigma, adv = market_liquidity(market, row[r["trade_date"]], list(syms))
        assert prob.trade_cap is not None and prob.impact is not None
        np.testing.assert_allclose(prob.trade_cap[:n], np.where(adv > 0, participation * np.nan_to_num(adv) / r["nav"], 0.0))
        np.testing.assert_allclose(prob.impact[:n], impact_coefficients(cfg, sigma, adv, r["nav"]))
        check(prob, sol.weights, lim, sol.relaxed)
        assert (np.abs(final - prob.w0) <= prob.trade_cap + 1e-9).all()       # after the dust step too
    if capital > 1e9:
        assert p.diagnostics["capped"].sum() > 0


def test_expected_impact_is_the_engines_charge(tiny) -> None:
    """Two stocks, closes alternating around 10 and 20 CNY, 1e6 shares a day; from 1e6 CNY of
    cash the book buys 50 % and 25 %: the engine's fees (commission, transfer and stamp off) are
    its impact, k sigma sqrt(Q / ADV) Q by hand, and the optimiser expects the same."""
    from flyer.backtest import engine
    from flyer.backtest.params import Params

    n = 30
    closes = {"600000.SH": [10.0 if i % 2 else 10.5 for i in range(n)],
              "600001.SH": [20.0 if i % 2 else 20.8 for i in range(n)]}
    store, days = tiny(closes)
    market = load_market(store, list(closes), days[22], days[-1], "open")
    cfg = BacktestConfig(strategy="enhance", capital=1e6, participation=0.0).replace(
        commission=0.0, min_commission=0.0, transfer_fee=False, stamp_duty=False, impact="sqrt", impact_k=0.8)
    t, m = market.shape
    weights = np.full((t, m), np.nan)
    weights[0] = [0.5, 0.25]
    sc = np.full((t, m), np.nan)
    sc[0] = 1.0
    fills = engine.simulate(market, sc, weights, Params.from_configs([cfg]))
    rec = fills.records
    assert rec.shape[0] == 2 and (rec["idx"] == 1).all()
    charged = rec["fees"][np.argsort(rec["col"])]
    for j, (sym, px, w) in enumerate(zip(closes, (10.0, 20.0), (0.5, 0.25))):
        c = np.array(closes[sym])
        sigma = np.std(np.diff(np.log(c[2:23])), ddof=1)            # the 20 returns before the trade day
        adv = np.mean(1e6 * c[3:23])                                 # the 20 traded values before it
        q = w * 1e6
        assert market.arrays.deal[1, j] == px and HISTORY < 22
        assert charged[j] == pytest.approx(0.8 * sigma * np.sqrt(q / adv) * q, rel=1e-12)
    sig, adv = market_liquidity(market, 1, list(closes))
    coef = impact_coefficients(cfg, sig, adv, 1e6)
    assert coef is not None
    z = np.zeros(2)
    prob = Problem(alpha=z, bench=z, w0=z, exposures=np.ones((2, 1)), factor_cov=np.eye(1), specific=z, lb=z,
                   ub=np.ones(2), member=np.ones(2, bool), cost=z, n_ind=0, impact=coef)
    assert expected_impact(prob, np.array([0.5, 0.25])) * 1e6 == pytest.approx(charged.sum(), rel=1e-12)


def test_enhance_backtest_runs_through_the_engine(home: Path, scores: pl.DataFrame) -> None:
    cfg = BacktestConfig(strategy="enhance", rebalance_every=5, start=START, end=END)
    with MarketStore.open(home, read_only=True) as store:
        res = run(store, scores, cfg)
    enh = res.diagnostics.plan
    assert enh.optimised and enh.rebalances.height > 20 and any("rebalances" in n for n in enh.notes)
    trades = res.trades()
    buys = trades.filter((pl.col("side") == "buy") & ~pl.col("symbol").str.starts_with("688"))
    assert trades.height > 100 and (buys["shares"] % 100 == 0).all()   # board lots
    # executed holdings sit near the optimiser's targets right after each trade day
    pos = res.positions()
    nav = res.daily().select("date", "nav")
    assert enh.weights is not None
    tgt = enh.weights.join(enh.rebalances.select("date", "trade_date"), on="date").drop("date")
    held = (pos.join(nav, on="date").with_columns((pl.col("value") / pl.col("nav")).alias("w"))
            .rename({"date": "trade_date"}).filter(pl.col("trade_date").is_in(tgt["trade_date"].unique().implode())))
    both = tgt.join(held, on=["trade_date", "symbol"], how="full", coalesce=True).fill_null(0.0)
    gap = both.group_by("trade_date").agg((pl.col("weight") - pl.col("w")).abs().sum().alias("gap"))
    assert gap["gap"].median() < 0.1
    members = enh.rebalances["member_share"]
    assert (members >= 0.8 - 1e-4).all()
    m = res.metrics()
    assert 0 < m["tracking_error"] < 0.15


def test_config_roundtrip_and_keys(tmp_path: Path) -> None:
    base = BacktestConfig()
    enh = BacktestConfig(strategy="enhance").replace(te=0.04)
    assert "enhance" not in base.to_dict() and enh.to_dict()["enhance"]["te"] == 0.04
    assert BacktestConfig.from_dict(enh.to_dict()) == enh
    assert enh.key() != BacktestConfig(strategy="enhance").key()
    flat = BacktestConfig.from_dict({"strategy": "enhance", "te": 0.04})
    assert flat == enh
    nested = BacktestConfig.from_dict({"strategy": "enhance", "enhance": {"te": 0.04, "risk": {"shrinkage": 0.2}}})
    assert nested.enhance.te == 0.04 and nested.enhance.risk.shrinkage == 0.2
    with pytest.raises(Exception, match="unknown setting.*enhance"):
        BacktestConfig.from_dict({"strategy": "enhance", "enhance": {"tracking": 0.04}})
    assert dataclasses.replace(enh, strategy="topk").key() == dataclasses.replace(base, strategy="topk").key()


def test_cli_and_config_file_run_the_same_backtest(home: Path, scores: pl.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "scores.parquet"
    scores.filter(pl.col("date") >= START).write_parquet(path)
    runner = CliRunner()
    args = ["backtest", "--scores", str(path), "--home", str(home), "--rebalance-every", "10"]
    r1 = runner.invoke(app, [*args, "--strategy", "enhance", "--te", "0.04"])
    assert r1.exit_code == 0, r1.output
    cfg = tmp_path / "bt.toml"
    cfg.write_text('[backtest]\nstrategy = "enhance"\n[backtest.enhance]\nte = 0.04\n')
    r2 = runner.invoke(app, [*args, "--config", str(cfg)])
    assert r2.exit_code == 0, r2.output
    pick = lambda out: [ln for ln in out.splitlines() if "tracking_error" in ln or "note: enhance:" in ln]  # noqa: E731
    assert pick(r1.output) == pick(r2.output) and pick(r1.output)
    bad = runner.invoke(app, [*args, "--strategy", "topk", "--te", "0.04"])
    assert bad.exit_code != 0


def test_orders_for_tomorrow_follow_the_optimiser(home: Path, scores: pl.DataFrame) -> None:
    """The nightly's order logic with strategy enhance: a book built from cash, then a second
    night that trades within the turnover cap; lots and the member floor hold."""
    from flyer.backtest.orders import orders_for_tomorrow

    cfg = BacktestConfig(strategy="enhance").replace(turnover=0.2)
    days = scores["date"].unique().sort().to_list()
    holdings = pl.DataFrame(schema={"symbol": pl.Utf8, "shares": pl.Float64})
    cash = cfg.capital
    with MarketStore.open(home, read_only=True) as store:
        members = set(store.members("000905.SH", days[-2])["symbol"].to_list())
        for night in (days[-2], days[-1]):
            book = orders_for_tomorrow(store, scores, holdings, cash, cfg, night)
            px = dict(store.bars(night, night, adjust=False).select("symbol", "close").iter_rows())
            assert book.height > 0
            assert (book.filter(pl.col("side") == "buy")["shares"] % 100 == 0).all() or \
                book["symbol"].str.starts_with("688").any()
            delta = book.select("symbol", pl.when(pl.col("side") == "buy").then(pl.col("shares"))
                                .otherwise(-pl.col("shares")).cast(pl.Float64).alias("d"))
            before = dict(holdings.iter_rows())
            nav = cash + sum(q * px[s] for s, q in before.items())
            holdings = (holdings.join(delta, on="symbol", how="full", coalesce=True)
                        .select("symbol", (pl.col("shares").fill_null(0) + pl.col("d").fill_null(0)).alias("shares"))
                        .filter(pl.col("shares") > 0))
            cash += float(book.select(pl.when(pl.col("side") == "sell").then(pl.col("value"))
                                      .otherwise(-pl.col("value")).sum()).item())
            after = dict(holdings.iter_rows())
            traded = sum(abs(after.get(s, 0) - before.get(s, 0)) * px[s] for s in set(after) | set(before)) / nav
            value = {s: q * px[s] for s, q in after.items()}
            share = sum(v for s, v in value.items() if s in members) / (cash + sum(value.values()))
            assert share > 0.75 and cash > -1e-6
            if before:
                assert traded <= 0.2 + 0.02   # the cap, plus lot rounding


def test_reduced_accuracy_solves_are_noted() -> None:
    """A rebalance the solver finished only to reduced accuracy is used and said, never silent."""
    from flyer.backtest.enhance import _relax_notes

    diag = pl.DataFrame({"status": ["optimal", "optimal_inaccurate", "optimal"], "relaxed": ["", "", "turnover"]})
    notes = _relax_notes(diag)
    assert notes[0] == "enhance: 1 of 3 rebalances relaxed constraints (turnover x1)"
    assert notes[1].startswith("enhance: 1 of 3 rebalances solved to the solver's reduced accuracy")
    assert _relax_notes(diag.with_columns(pl.lit("optimal").alias("status"))) == (
        "enhance: 1 of 3 rebalances relaxed constraints (turnover x1)",)
