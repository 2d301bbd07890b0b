"""Accounting identities over random scores (hypothesis): NAV = cash + positions at every close,
fees never negative, no short positions, cash never negative, valid lots."""
from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from flyer.core.errors import UsageError
from tests.backtest.randmarket import SYMBOLS, random_market


@pytest.fixture(scope="module")
def market(tmp_path_factory):
    store, days = random_market(tmp_path_factory.mktemp("prop"), 7)
    yield store, days
    store.close()


score_rows = st.lists(st.lists(st.one_of(st.none(), st.floats(-5, 5, allow_nan=False)),
                               min_size=len(SYMBOLS), max_size=len(SYMBOLS)), min_size=40, max_size=40)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=score_rows, k=st.integers(1, 6), drop=st.integers(0, 6), deal=st.sampled_from(["open", "close", "vwap"]),
       retry=st.sampled_from(["next_rebalance", "next_day"]), capital=st.sampled_from([2e4, 3e5, 1e7]),
       kept=st.booleans())
def test_accounting_identities(market, rows, k, drop, deal, retry, capital, kept) -> None:
    store, days = market
    scores = pl.DataFrame([dict(date=days[i], symbol=s, score=v) for i, r in enumerate(rows)
                           for s, v in zip(SYMBOLS, r) if v is not None],
                          schema={"date": pl.Date, "symbol": pl.Utf8, "score": pl.Float64})
    if scores.filter(pl.col("date").is_between(days[3], days[-1])).height == 0:
        return
    cfg = BacktestConfig(k=k, n_drop=min(drop, k), deal_price=deal, retry=retry, capital=capital,
                         rebalance_kept=kept, start=days[3], end=days[-1]).replace(slippage_bps=5)
    try:
        res = run(store, scores, cfg)
    except UsageError as exc:  # k above the tradable stocks scored on any date: refused, by design
        assert "exceeds the" in str(exc)
        assume(False)
    daily = res.daily()
    pos = res.positions()
    value = pos.group_by("date").agg(pl.col("value").sum())
    check = daily.join(value, on="date", how="left").with_columns(pl.col("value").fill_null(0.0))
    np.testing.assert_allclose(check["nav"], check["cash"] + check["value"], rtol=1e-9, atol=1e-6)
    assert (daily["cash"] >= -1e-6).all()
    assert (pos["shares"] > 0).all()
    trades = res.trades()
    for col in ("commission", "stamp_duty", "transfer_fee", "slippage", "total_cost"):
        assert (trades[col] >= 0).all()
    assert (trades["commission"] >= 5 - 1e-9).all()
    buys = trades.filter(pl.col("side") == "buy")
    star = buys["symbol"].str.starts_with("688")
    main = buys.filter(~star)["shares"].to_numpy()
    np.testing.assert_allclose(main % 100, 0, atol=1e-6)
    assert (buys.filter(star)["shares"] >= 200 - 1e-6).all()
    # fees in the records equal the split fees
    np.testing.assert_allclose(np.sort(res.records["fees"]),
                               np.sort((trades["commission"] + trades["stamp_duty"] + trades["transfer_fee"]).to_numpy()),
                               rtol=1e-9)
