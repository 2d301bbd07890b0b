"""The engine agrees with the slow reference simulator on NAV (1e-6 relative) over random
markets, random scores and a grid of settings (the default 10 % participation limit, unlimited,
tight limits whose rests are carried or cancelled, square-root impact with and without a cap);
both engine backends give identical records."""
from __future__ import annotations

import numpy as np
import pytest

from flyer.backtest.api import prepare, execute, run
from flyer.backtest.config import BacktestConfig
from flyer.backtest.reference import reference_nav
from tests.backtest.randmarket import random_market, random_scores

SETTINGS = [
    dict(k=3, n_drop=1),
    dict(k=2, n_drop=2, deal_price="close", retry="next_day"),
    dict(k=4, n_drop=1, deal_price="vwap", weighting="score", rebalance_kept=True, slippage_bps=10),
    dict(k=3, n_drop=3, rebalance_every=3, capital=30_000, commission=0.0003),   # cash-bound, min commission
    dict(k=5, n_drop=2, retry="next_day", stamp_duty=False, transfer_fee=False, capital=2e5),
    dict(strategy="benchmark", active_limit=0.05, deal_price="close"),
    dict(strategy="benchmark", active_limit=0.2, retry="next_day", capital=5e4),
    dict(k=3, n_drop=1, participation=0.0),                                        # unlimited
    dict(k=4, n_drop=2, participation=0.02, remainder="cancel", retry="next_day", impact="sqrt"),
    dict(k=3, n_drop=1, participation=0.01, impact="sqrt", impact_k=0.5, slippage_bps=5, deal_price="vwap",
         rebalance_every=2),
    dict(k=2, n_drop=1, participation=0.0, impact="sqrt", capital=3e5),            # impact, cash-bound
    dict(strategy="benchmark", active_limit=0.1, participation=0.03, impact="sqrt", remainder="cancel"),
    dict(k=3, n_drop=3, rebalance_kept=True, weighting="score", participation=0.005, impact="sqrt", capital=5e7),
]


@pytest.fixture(scope="module")
def markets(tmp_path_factory):
    """seed -> (store, days, scores), built once per module."""
    out = {}
    for seed in (1, 2, 3):
        store, days = random_market(tmp_path_factory.mktemp(f"rand{seed}"), seed)
        out[seed] = (store, days, random_scores(seed, days))
    yield out
    for store, _, _ in out.values():
        store.close()


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize("setting", range(len(SETTINGS)))
def test_engine_matches_reference(markets, seed: int, setting: int) -> None:
    store, days, scores = markets[seed]
    cfg = BacktestConfig(start=days[5], end=days[-1]).replace(**SETTINGS[setting])
    res = run(store, scores, cfg)
    weights = res.diagnostics.plan.weights  # the benchmark tilt's targets (None for top-k)
    ref = np.array(reference_nav(store, scores, res.config, weights))
    assert len(res.trades()) > 0
    np.testing.assert_allclose(res.nav, ref, rtol=1e-6)
    assert res.market.shape[0] == len(ref)


@pytest.mark.slow
def test_vectorbt_backend_identical(markets) -> None:
    """vectorbt's flex_simulate_nb loop (recompiled per process, ~20 s) gives the same records."""
    store, days, scores = markets[2]
    prep = prepare(store, scores, BacktestConfig(k=3, n_drop=1, start=days[5], retry="next_day",
                                                 participation=0.01).replace(impact="sqrt"))
    loop = execute(prep, [prep.config], backend="loop")[0]
    vbt = execute(prep, [prep.config], backend="vectorbt")[0]
    assert loop.records.shape == vbt.records.shape and len(loop.records) > 0
    assert loop.diagnostics.capped_buys > 0 and loop.diagnostics.counts() == vbt.diagnostics.counts()
    np.testing.assert_array_equal(loop.demand, vbt.demand)
    for field in ("col", "idx", "size", "price", "fees", "side"):
        np.testing.assert_array_equal(loop.records[field], vbt.records[field])


def test_engine_matches_reference_on_sim_market(sim_store) -> None:
    """150 simulated stocks, half a year, random scores: IPOs, delistings, ST, limits, suspensions."""
    import datetime as dt

    import polars as pl

    bars = sim_store.bars(dt.date(2019, 12, 1), dt.date(2020, 6, 30), adjust=False)
    rng = np.random.default_rng(0)
    scores = bars.select("date", "symbol").with_columns(pl.Series("score", rng.normal(size=bars.height)))
    cfg = BacktestConfig(k=15, n_drop=4, deal_price="vwap", retry="next_day", capital=2e6,
                         start=dt.date(2020, 1, 2), end=dt.date(2020, 6, 30)).replace(slippage_bps=5, impact="sqrt")
    res = run(sim_store, scores, cfg)
    ref = np.array(reference_nav(sim_store, scores, res.config))
    np.testing.assert_allclose(res.nav, ref, rtol=1e-6)
    assert res.trades().height > 200
