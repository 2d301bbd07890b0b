"""Regression: the engine's order records and blocked counts are byte-identical to the ones the
engine gave before its kernel interface became NamedTuples (``golden_records.npz``, written by
the positional-parameter engine of 2ae53fc on the random markets below). Those runs have no
participation limit (``participation=0``: the engine before volume-limited execution); the
``limited*`` entries pin the participation limit (the default 10 %, a tight one whose rests
are cancelled) and square-root impact, added when those came in.

A deliberate change of behaviour regenerates the file:
``.venv/bin/python tests/backtest/test_backtest_golden.py --write`` (and says why in the commit).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from flyer.backtest.api import execute, grid_configs, prepare
from flyer.backtest.config import BacktestConfig
from tests.backtest.randmarket import random_market, random_scores

GOLDEN = Path(__file__).with_name("golden_records.npz")
SEEDS = (1, 2, 3)
SETTINGS = [
    dict(k=3, n_drop=1),
    dict(k=2, n_drop=2, deal_price="close", retry="next_day"),
    dict(k=4, n_drop=1, deal_price="vwap", weighting="score", rebalance_kept=True, slippage_bps=10),
    dict(k=3, n_drop=3, rebalance_every=3, capital=30_000, commission=0.0003),
    dict(k=5, n_drop=2, retry="next_day", stamp_duty=False, transfer_fee=False, capital=2e5),
    dict(strategy="benchmark", active_limit=0.05, deal_price="close"),
    dict(strategy="benchmark", active_limit=0.2, retry="next_day", capital=5e4),
]
GRID = {"k": [2, 4], "n_drop": [1, 2], "retry": ["next_rebalance", "next_day"]}
LIMITED = [
    dict(k=3, n_drop=1),
    dict(k=4, n_drop=2, participation=0.02, remainder="cancel", retry="next_day", impact="sqrt"),
    dict(strategy="benchmark", active_limit=0.1, impact="sqrt", impact_k=0.5),
]


def results(root: Path) -> dict[str, np.ndarray]:
    """name -> records / blocked of every setting and of one 8-point sweep, per random market."""
    out: dict[str, np.ndarray] = {}
    for seed in SEEDS:
        (root / f"rand{seed}").mkdir(parents=True)
        store, days = random_market(root / f"rand{seed}", seed)
        scores = random_scores(seed, days)
        runs = []
        for i, setting in enumerate(SETTINGS):
            prep = prepare(store, scores, BacktestConfig(start=days[5], end=days[-1], participation=0.0).replace(**setting))
            runs.append((f"s{i}", execute(prep, [prep.config])[0]))
        for i, setting in enumerate(LIMITED):
            prep = prepare(store, scores, BacktestConfig(start=days[5], end=days[-1]).replace(**setting))
            runs.append((f"limited{i}", execute(prep, [prep.config])[0]))
        prep = prepare(store, scores, BacktestConfig(start=days[3], end=days[-1], capital=1e6, participation=0.0))
        runs += [(f"grid{g}", r) for g, r in enumerate(execute(prep, grid_configs(prep.config, GRID)))]
        for name, res in runs:
            out[f"rand{seed}/{name}/records"] = res.records
            out[f"rand{seed}/{name}/blocked"] = res.blocked
            if name.startswith("limited"):
                out[f"rand{seed}/{name}/capped"] = res.capped
        store.close()
    return out


def test_records_identical_to_golden(tmp_path: Path) -> None:
    want = np.load(GOLDEN)
    got = results(tmp_path)
    assert sorted(got) == sorted(want.files)
    for name in want.files:
        a, b = got[name], want[name]
        assert a.dtype == b.dtype and a.shape == b.shape, name
        if a.tobytes() != b.tobytes():
            first = int(np.argmax(a != b)) if a.dtype.names is None else next(
                r for r in range(len(a)) if a[r].tobytes() != b[r].tobytes())
            pytest.fail(f"{name}: differs first at row {first}: {a[first]} != {b[first]}")


if __name__ == "__main__" and "--write" in sys.argv:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        np.savez_compressed(GOLDEN, **results(Path(tmp)))
    print(f"wrote {GOLDEN}")
