"""``Params``: one (G,) array per kernel setting, filled from ``BacktestConfig``s in order."""
from __future__ import annotations

import numpy as np

from flyer.backtest import config
from flyer.backtest.config import BacktestConfig
from flyer.backtest.params import REMAINDERS, RETRIES, WEIGHTINGS, Params
from flyer.backtest.strategies import MODE_TOPK, MODE_WEIGHTS, SCORE
from flyer.backtest.strategy import STRATEGIES


def test_name_lists_agree_with_the_config() -> None:
    assert set(STRATEGIES) == set(config.STRATEGIES)
    assert set(WEIGHTINGS) == set(config.WEIGHTINGS) and set(RETRIES) == set(config.RETRIES)
    assert set(REMAINDERS) == set(config.REMAINDERS)


def test_from_configs_one_row_per_config() -> None:
    a = BacktestConfig()
    b = BacktestConfig(strategy="benchmark", k=7, n_drop=3, weighting="score", rebalance_kept=True,
                       rebalance_every=5, retry="next_day", capital=1234.0, participation=0.0,
                       remainder="cancel").replace(
        commission=0.001, min_commission=1.0, slippage_bps=15, stamp_duty=False, transfer_fee=False,
        impact="sqrt", impact_k=0.7)
    p = Params.from_configs([a, b])
    assert p.n_groups == 2 and all(f.shape == (2,) for f in p)
    assert p.mode.tolist() == [MODE_TOPK, MODE_WEIGHTS] and p.k.tolist() == [50, 7]
    assert p.n_drop.tolist() == [5, 3] and p.weighting[1] == SCORE and p.rebalance_kept.tolist() == [False, True]
    assert p.rebalance_every.tolist() == [1, 5] and p.retry.tolist() == [RETRIES["next_rebalance"], RETRIES["next_day"]]
    assert p.capital.tolist() == [1e7, 1234.0] and p.commission.tolist() == [0.00025, 0.001]
    assert p.min_commission.tolist() == [5.0, 1.0] and np.allclose(p.slippage, [0.0, 0.0015])
    assert p.stamp_duty.tolist() == [1.0, 0.0] and p.transfer_fee.tolist() == [1.0, 0.0]
    assert p.participation.tolist() == [0.1, 0.0] and p.remainder.tolist() == [REMAINDERS["carry"], REMAINDERS["cancel"]]
    assert p.impact_k.tolist() == [0.0, 0.7]   # impact "none" (the default) is k = 0
    assert {f: getattr(p, f).dtype.kind for f in p._fields} == {
        "mode": "i", "k": "i", "n_drop": "i", "weighting": "i", "rebalance_kept": "b", "rebalance_every": "i",
        "retry": "i", "capital": "f", "commission": "f", "min_commission": "f", "slippage": "f",
        "stamp_duty": "f", "transfer_fee": "f", "participation": "f", "remainder": "i", "impact_k": "f",
        "rules": "i", "risk_degree": "f"}
