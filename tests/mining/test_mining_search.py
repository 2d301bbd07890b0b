from __future__ import annotations

import dataclasses
import datetime as dt
import json

import numpy as np
import polars as pl

from flyer.factors import compute
from flyer.factors.library import load
from flyer.factors.mining import MiningData, MiningResult, SearchConfig, SerialEvaluator, evaluate_batch, mine, write_pool
from flyer.factors.mining import evaluate as ev
from flyer.factors.mining.search import max_corr
from mining_setup import PLANTED, SMALL  # type: ignore[import-not-found]
from flyer.factors.parser import parse


def test_search_rediscovers_a_planted_signal(mining_data: MiningData, mined: MiningResult) -> None:
    planted = evaluate_batch(mining_data, [PLANTED])[0]
    assert mined.pool, "nothing accepted"
    best = max(p.valid_ic for p in mined.pool)
    assert best >= 0.5 * planted.valid_ic > 0
    # the same signal: some accepted formula ranks stocks like the planted reversal (e.g. -Slope($low, 5))
    sigs = [evaluate_batch(mining_data, [p.formula])[0].signature for p in mined.pool]
    assert max(max_corr(s, planted.signature[None].astype(np.float64)) for s in sigs) >= 0.5
    for p in mined.pool:
        assert p.train_ic > 0 and p.valid_ic > 0 and p.train_icir >= SMALL.min_train_icir
    assert len({p.key for p in mined.pool}) == len(mined.pool)
    assert [h.generation for h in mined.history] == list(range(SMALL.generations))


def test_accepted_formulas_do_not_peek_at_the_future(sim_bars: pl.DataFrame, mined: MiningResult) -> None:
    formulas = {p.name: p.formula for p in mined.pool}
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


def test_pool_file_loads_as_a_factor_set(tmp_path, mined: MiningResult) -> None:
    path = tmp_path / "mined.toml"
    write_pool(path, mined.pool, header="test pool")
    fs = load(path)
    assert fs.names == tuple(p.name for p in mined.pool)
    assert [str(e) for e in fs.exprs] == [str(parse(p.formula)) for p in mined.pool]


def _summary(res: MiningResult) -> list:
    # ``evaluated`` is left out: a resumed run re-evaluates the elites it carried over
    hist = [dataclasses.replace(h, evaluated=0) for h in res.history]
    return [dataclasses.astuple(p) for p in res.pool] + [dataclasses.astuple(h) for h in hist]


def test_seeded_runs_are_reproducible(mining_data: MiningData) -> None:
    cfg = SearchConfig(population=16, generations=2, seed=5)
    a = mine(SerialEvaluator(mining_data), cfg)
    b = mine(SerialEvaluator(mining_data, batch_size=5), cfg)
    c = mine(SerialEvaluator(mining_data), dataclasses.replace(cfg, seed=6))
    assert _summary(a) == _summary(b)
    assert [h.best_formula for h in a.history] != [h.best_formula for h in c.history]


def test_resume_from_checkpoint_gives_the_same_pool(tmp_path, mining_data: MiningData) -> None:
    cfg = SearchConfig(population=16, generations=3, seed=2, min_train_icir=0.1)
    whole = mine(SerialEvaluator(mining_data), cfg)
    ck = tmp_path / "ck.json"
    first = mine(SerialEvaluator(mining_data), cfg, checkpoint=ck, identity={"x": 1}, stop_after=1)
    assert len(first.history) == 1 and json.loads(ck.read_text())["generation"] == 1
    rest = mine(SerialEvaluator(mining_data), cfg, checkpoint=ck, identity={"x": 1})
    assert _summary(rest) == _summary(whole)
    other = mine(SerialEvaluator(mining_data), cfg, checkpoint=ck, identity={"x": 2}, stop_after=1)
    assert len(other.history) == 1        # a different identity starts afresh


def test_malformed_candidates_never_crash_the_search(mining_data: MiningData, monkeypatch) -> None:
    real = ev.compute

    def flaky(frame, fs, **kw):
        if any("Skew" in str(e) or "IdxMax" in str(e) for e in fs.exprs):
            raise RuntimeError("engine bug")
        return real(frame, fs, **kw)

    monkeypatch.setattr(ev, "compute", flaky)
    seeds = ("$industry + $close", "Log(0 - $close)", "Sign($close)", "Skew($close, 20)")
    cfg = SearchConfig(population=16, generations=2, seed=3, seeds=seeds)
    res = mine(SerialEvaluator(mining_data), cfg)
    assert res.history[0].failed >= len(seeds)
    assert all(p.key not in seeds for p in res.pool)
