"""Equal scores are ranked by seeded per-day keys of (symbol, date), never by ticker order; the
backtest reports the share of picks made from ties."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from flyer.backtest.api import run
from flyer.backtest.config import BacktestConfig
from flyer.backtest.strategies import hash_keys, rank_desc_nb, tie_keys_nb
from tests.backtest.conftest import HISTORY

CODES = [f"{600000 + k:06d}.SH" for k in range(60)]


def _ranked(values: np.ndarray, symbols: list[str], day: dt.date) -> list[str]:
    order = rank_desc_nb(values, tie_keys_nb(hash_keys(symbols), hash_keys([day])[0]))
    return [symbols[j] for j in order]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 1.0, 2.0, np.nan]), min_size=3, max_size=30), st.randoms(use_true_random=False),
       st.dates(dt.date(2010, 1, 1), dt.date(2030, 1, 1)))
def test_ranking_does_not_depend_on_column_order(values, rnd, day) -> None:
    syms = CODES[:len(values)]
    vals = np.array(values, dtype=np.float64)
    perm = list(range(len(values)))
    rnd.shuffle(perm)
    base = _ranked(vals, syms, day)
    assert _ranked(vals[perm], [syms[p] for p in perm], day) == base   # same names, whatever the columns' order
    ranked_vals = [values[syms.index(s)] for s in base]
    finite = [v for v in ranked_vals if v == v]
    assert finite == sorted(finite, reverse=True) and all(v != v for v in ranked_vals[len(finite):])  # NaN last


def test_ties_have_no_ticker_bias() -> None:
    """All 40 names tied on 400 days: the top 10 are spread over the ticker range (the old
    index order always picked the 10 lowest codes)."""
    syms, k = CODES[:40], 10
    days = [dt.date(2020, 1, 1) + dt.timedelta(days=i) for i in range(400)]
    pos = np.concatenate([[syms.index(s) for s in _ranked(np.ones(40), syms, d)[:k]] for d in days])
    assert abs(pos.mean() - 19.5) < 1.5
    assert 0.45 < (pos < 20).mean() < 0.55
    counts = np.bincount(pos, minlength=40)
    assert counts.min() > 0.5 * counts.mean()   # every name wins its share of ties


def test_backtest_reports_picks_made_from_ties(tiny) -> None:
    names = CODES[:20]
    store, days = tiny({s: [10.0] * 40 for s in names})
    tied = pl.DataFrame([dict(date=d, symbol=s, score=1.0) for d in days[HISTORY:] for s in names])
    res = run(store, tied, BacktestConfig(k=5, n_drop=2, deal_price="close", start=days[HISTORY]))
    ties = res.diagnostics.ties
    assert ties.picks > 5 and ties.from_ties == ties.picks and ties.share == 1.0
    assert any("made from tied scores" in n for n in res.diagnostics.notes)
    held = res.positions()["symbol"].to_list()
    low = sum(1 for s in held if names.index(s) < 10) / len(held)
    assert 0.3 < low < 0.7                       # not the lowest codes (index order gave 1.0)
    rng = np.random.default_rng(0)
    distinct = tied.with_columns(pl.Series("score", rng.permutation(tied.height).astype(float)))
    res2 = run(store, distinct, BacktestConfig(k=5, n_drop=2, deal_price="close", start=days[HISTORY]))
    assert res2.diagnostics.ties.from_ties == 0 and res2.diagnostics.ties.picks > 5
    assert not any("tied" in n for n in res2.diagnostics.notes)
