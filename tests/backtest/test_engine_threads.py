"""Speed without changing a record: the radix ranking equals a stable sort by (key, tie, column),
and a sweep's portfolios in threads give the records of one kernel call."""
from __future__ import annotations

import numpy as np
import pytest

from flyer.backtest import engine
from flyer.backtest.api import grid_configs, prepare
from flyer.backtest.config import BacktestConfig
from flyer.backtest.params import Params
from flyer.backtest.strategies import rank_desc_nb
from tests.backtest.randmarket import random_market, random_scores

VALUES = (np.nan, 0.0, -0.0, 1.0, -1.0, 2.5, np.inf, -np.inf, 1e-300, -1e300)


def slow_rank(values: np.ndarray, tie: np.ndarray) -> np.ndarray:
    """The obvious reference: sort by (-value with NaN as +inf, tie key, column)."""
    key = [np.inf if np.isnan(v) else -v for v in values]
    return np.array(sorted(range(len(values)), key=lambda j: (key[j], int(tie[j]), j)), dtype=np.int64)


def test_rank_equals_a_stable_sort_by_key_tie_and_column() -> None:
    rng = np.random.default_rng(0)
    for trial in range(2000):
        n = int(rng.integers(0, 60))
        v = (rng.choice(VALUES, size=n) if trial % 2 else rng.normal(size=n)).astype(float)
        v[rng.random(n) < 0.4] = np.nan
        tie = rng.integers(0, 4 if trial % 3 == 0 else 2 ** 63, size=n).astype(np.uint64)  # collisions too
        if trial % 5 == 0:
            tie |= np.uint64(1 << 63)
        np.testing.assert_array_equal(rank_desc_nb(v, tie), slow_rank(v, tie), err_msg=f"{v} {tie}")


@pytest.mark.parametrize("seed", [1, 2])
def test_threaded_sweep_equals_one_kernel_call(tmp_path, seed: int) -> None:
    store, days = random_market(tmp_path / "m", seed, n_days=60)
    scores = random_scores(seed, days)
    prep = prepare(store, scores, BacktestConfig(start=days[3], end=days[-1], capital=1e6))
    configs = grid_configs(prep.config, {"k": [2, 4], "n_drop": [1, 2], "retry": ["next_rebalance", "next_day"],
                                         "participation": [0.0, 0.02]})
    params = Params.from_configs(configs)
    one = engine.simulate(prep.market, prep.scores, prep.weights, params, threads=1)
    for threads in (2, 3):
        many = engine.simulate(prep.market, prep.scores, prep.weights, params, threads=threads)
        assert many.records.tobytes() == one.records.tobytes()
        for f in ("blocked", "capped", "demand"):
            np.testing.assert_array_equal(getattr(many, f), getattr(one, f), err_msg=f)
    store.close()
