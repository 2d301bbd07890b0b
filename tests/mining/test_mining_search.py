"""The GP driver: the pool rediscovers the sim's planted effects as a combination, seeded runs are
reproducible, a resumed run equals an uninterrupted one, the single-formula mode still works."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import polars as pl

from flyer.factors import compute
from flyer.factors.mining import MiningData, MiningResult, Scorer, SearchConfig, SerialEvaluator, mine, pool_figures
from flyer.factors.mining import nodes as nodes_mod
from flyer.factors.mining.search import pool_ic
from mining_setup import PLANTED, POOL_SEARCH, SMALL  # type: ignore[import-not-found]


def _valid_rank_ic(sc: Scorer, names: tuple[str, ...], formulas: tuple[str, ...], weights: tuple[float, ...]) -> float:
    return pool_figures(sc, "x", names, formulas, weights).periods[1].rank_ic


def test_the_pool_rediscovers_the_planted_effects_as_a_combination(pool_data: MiningData,
                                                                   pool_mined: MiningResult) -> None:
    sc = Scorer(pool_data)
    res = pool_mined
    assert len(res.pool) >= 3, "the pool should combine several formulas"
    singles = {k: _valid_rank_ic(sc, (k,), (f,), (1.0,)) for k, f in PLANTED.items()}
    mined = pool_figures(sc, "mined", tuple(p.name for p in res.pool), tuple(p.formula for p in res.pool), res.weights)
    best = max(singles.values())
    assert best > 0.02                                   # the planted effects are there
    assert mined.periods[1].rank_ic > best, (mined.periods[1], singles)
    assert mined.periods[2].rank_ic > 0.5 * best         # and it holds up on the unseen test year
    # it found the effects, not noise: the pool spans the planted ones (multiple correlation of each
    # planted factor with the members, on training dates)
    spans = {}
    for k, f in PLANTED.items():
        vs = sc.evaluate([f], tuple(p.formula for p in res.pool))[0]
        c = np.asarray(vs.train.cross)
        spans[k] = float(np.sqrt(c @ np.linalg.solve(res.stats.S[0], c) / vs.train.s))
    assert max(spans.values()) > 0.5 and sorted(spans.values())[-2] > 0.2, spans    # two effects, combined
    # the history is consistent with the final pool
    assert res.history[-1].pool_size == len(res.pool) and len({p.key for p in res.pool}) == len(res.pool)
    tr, va = pool_ic(res.stats, POOL_SEARCH)
    assert abs(tr - res.history[-1].train_ic) < 1e-9 and abs(va - res.history[-1].valid_ic) < 1e-9
    assert [h.valid_ic for h in res.history] == sorted(h.valid_ic for h in res.history)  # acceptance: validation rises
    assert res.cache.hit_rate > 0.1 and res.per_second > 0


def test_accepted_formulas_do_not_peek_at_the_future(sim_bars: pl.DataFrame, mining_data: MiningData) -> None:
    res = mine(SerialEvaluator(mining_data), SMALL)
    assert res.pool
    formulas = {p.name: p.formula for p in res.pool}
    cut = dt.date(2019, 6, 28)
    base = compute(sim_bars, formulas)
    rng = np.random.default_rng(0)
    after = pl.col("date") > cut
    noisy = sim_bars.with_columns(
        [pl.when(after).then(pl.col(c) * pl.lit(rng.uniform(0.5, 1.5, sim_bars.height))).otherwise(pl.col(c))
         for c in ("open", "high", "low", "close", "vwap", "volume", "amount", "turnover")])
    again = compute(noisy, formulas)
    keep = pl.col("date") <= cut
    a, b = base.filter(keep), again.filter(keep)
    assert a.height > 0
    for name in formulas:
        np.testing.assert_array_equal(a[name].to_numpy(), b[name].to_numpy(), err_msg=formulas[name])


def _summary(res: MiningResult) -> list:
    # ``evaluated`` is left out: a resumed run re-evaluates the elites it carried over
    hist = [dataclasses.replace(h, evaluated=0) for h in res.history]
    return [dataclasses.astuple(p) for p in res.pool] + [dataclasses.astuple(h) for h in hist] + [res.weights]


def test_seeded_runs_are_reproducible(mining_data: MiningData) -> None:
    cfg = SearchConfig(population=16, generations=2, seed=5)
    a = mine(SerialEvaluator(mining_data), cfg)
    b = mine(SerialEvaluator(mining_data, batch_size=5, cache_mb=0), cfg)       # no cache: the same bits
    c = mine(SerialEvaluator(mining_data), dataclasses.replace(cfg, seed=6))
    assert _summary(a) == _summary(b)
    assert [h.best_formula for h in a.history] != [h.best_formula for h in c.history]


def test_resume_from_checkpoint_gives_the_same_pool(tmp_path, mining_data: MiningData) -> None:
    cfg = SearchConfig(population=16, generations=3, seed=2)
    whole = mine(SerialEvaluator(mining_data), cfg)
    assert whole.pool
    ck = tmp_path / "ck.json"
    first = mine(SerialEvaluator(mining_data), cfg, checkpoint=ck, identity={"x": 1}, stop_after=1)
    assert len(first.history) == 1 and json.loads(ck.read_text())["generation"] == 1
    rest = mine(SerialEvaluator(mining_data), cfg, checkpoint=ck, identity={"x": 1})
    assert rest.resumed_from == 1 and _summary(rest) == _summary(whole)
    other = mine(SerialEvaluator(mining_data), cfg, checkpoint=ck, identity={"x": 2}, stop_after=1)
    assert len(other.history) == 1        # a different identity starts afresh


def test_single_formula_mode_accepts_on_thresholds_sign_adjusted(mining_data: MiningData) -> None:
    cfg = SearchConfig(objective="single", population=30, generations=2, seed=1, min_train_icir=0.1)
    res = mine(SerialEvaluator(mining_data), cfg)
    assert res.pool and len(res.weights) == len(res.pool)
    for p in res.pool:
        assert p.train_ic > 0 and p.valid_ic > 0 and p.train_icir >= cfg.min_train_icir
        assert p.formula == p.key or p.formula.startswith("0 - ")


def test_malformed_candidates_never_crash_the_search(mining_data: MiningData, monkeypatch) -> None:
    real = nodes_mod.node_expr

    def flaky(node, args, starts, qlib_compat=False):
        if "Skew(" in str(node) or "IdxMax(" in str(node):
            raise RuntimeError("engine bug")
        return real(node, args, starts, qlib_compat)

    monkeypatch.setattr(nodes_mod, "node_expr", flaky)
    seeds = ("$industry + $close", "Log(0 - $close)", "Sign($close)", "Skew($close, 20)")
    cfg = SearchConfig(population=16, generations=2, seed=3, seeds=seeds)
    res = mine(SerialEvaluator(mining_data), cfg)
    assert res.history[0].failed >= len(seeds)
    assert all(p.key not in seeds for p in res.pool)
