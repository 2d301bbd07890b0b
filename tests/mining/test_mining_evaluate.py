"""Evaluation: kernels against slow references, node-by-node values against the engine, point-in-time
cross sections, the panel's cells and soft failures of bad candidates."""
from __future__ import annotations

import datetime as dt
import math
import random

import numpy as np
import polars as pl
import pytest

from flyer.core.errors import FlyerError
from flyer.factors import compute
from flyer.factors.mining import Grammar, MiningData, NodeCache, Scorer, load_data, tree_values
from flyer.factors.mining import nodes as nodes_mod
from flyer.factors.mining.grammar import ramped_population
from flyer.factors.mining.kernels import RANK, ZSCORE, daily_ic_nb, segment_means_nb, standardize_nb
from flyer.factors.parser import parse


def _cells(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 30, size=12)
    seg = np.append(0, np.cumsum(sizes)).astype(np.int64)
    x = np.round(rng.normal(size=seg[-1]), 1)            # rounding makes ties
    y = x * 0.3 + rng.normal(size=x.size)
    x[rng.random(x.size) < 0.2] = np.nan
    x[seg[3]:seg[4]] = 1.0                               # a constant date
    return x, y, seg


def _slow_standardize(x: np.ndarray, seg: np.ndarray, rank: bool) -> np.ndarray:
    z = np.zeros(x.size)
    for a, b in zip(seg[:-1], seg[1:]):
        v = x[a:b]
        ok = np.isfinite(v)
        if ok.sum() < 2:
            continue
        w = pl.Series(v[ok]).rank("average").to_numpy() if rank else v[ok]
        if w.std() == 0:
            continue
        out = np.zeros(b - a)
        out[ok] = (w - w.mean()) / w.std()
        z[a:b] = out
    return z


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_cell_kernels_match_slow_references(seed: int) -> None:
    x, y, seg = _cells(seed)
    for mode, rank in ((RANK, True), (ZSCORE, False)):
        z, nfin = standardize_nb(x, seg, mode)
        np.testing.assert_allclose(z, _slow_standardize(x, seg, rank), atol=1e-12)
        assert list(nfin) == [int(np.isfinite(x[a:b]).sum()) for a, b in zip(seg[:-1], seg[1:])]
    z = standardize_nb(x, seg, RANK)[0]
    t = standardize_nb(y, seg, RANK)[0]
    others = np.stack([z, t]).astype(np.float32)
    got = segment_means_nb(z, t, others, seg)
    for d, (a, b) in enumerate(zip(seg[:-1], seg[1:])):
        want = [np.mean(z[a:b] * t[a:b]), np.mean(z[a:b] ** 2),
                np.mean(z[a:b] * others[0, a:b]), np.mean(z[a:b] * others[1, a:b])]
        np.testing.assert_allclose(got[d], want, rtol=1e-6, atol=1e-7)
    ic = daily_ic_nb(x, y, seg, 5)
    for d, (a, b) in enumerate(zip(seg[:-1], seg[1:])):
        ok = np.isfinite(x[a:b])
        if ok.sum() < 5 or np.nanstd(x[a:b]) == 0:
            assert np.isnan(ic[d]).all()
            continue
        xs, ys = x[a:b][ok], y[a:b][ok]
        rx, ry = pl.Series(xs).rank("average").to_numpy(), pl.Series(ys).rank("average").to_numpy()
        np.testing.assert_allclose(ic[d], [np.corrcoef(xs, ys)[0, 1], np.corrcoef(rx, ry)[0, 1]], atol=1e-12)


def test_node_by_node_values_equal_the_engine(sim_bars: pl.DataFrame, mining_data: MiningData) -> None:
    trees = ramped_population(random.Random(5), Grammar(), 40) + [parse("EMA(Mean($close, 5) / $open, 10)")]
    want = compute(sim_bars, {f"f{i}": e for i, e in enumerate(trees)})  # rows sorted as the panel
    small, big = NodeCache(0), NodeCache(2**30)
    for i, e in enumerate(trees):
        ref = want[f"f{i}"].to_numpy()
        for cache in (small, big, big):       # no cache, a cold and a warm cache: the same bits
            np.testing.assert_array_equal(tree_values(mining_data, e, cache), ref, err_msg=str(e))
    s = big.stats()
    assert s.hits > 0 and s.misses > 0 and 0 < s.hit_rate < 1 and small.stats().entries == 0


def test_cross_sections_rank_over_that_dates_members_only(sim_store) -> None:
    g = Grammar()
    data = load_data(sim_store, "csi500", 5, (dt.date(2018, 6, 1), dt.date(2019, 6, 30)),
                     (dt.date(2019, 7, 1), dt.date(2019, 12, 31)), None, g.fields, 60)
    v = tree_values(data, parse("CSRank($close)"), NodeCache(0))
    p = data.panel.select("date", "symbol", "close", "_member").with_columns(pl.Series("v", v))
    mem = sim_store.membership("000905.SH", dt.date(2018, 6, 1), dt.date(2019, 12, 31))
    day = data.dates[int(data.seg_date[0])]
    members = set(mem.filter(pl.col("date") == day)["symbol"].to_list())
    today = p.filter(pl.col("date") == data.dates.index(day))
    inside = today.filter(pl.col("_member"))
    assert {data.symbols[s] for s in inside["symbol"].to_list()} == members
    assert today.filter(~pl.col("_member"))["v"].is_nan().all()      # non-members get no rank
    want = inside["close"].rank("average") / inside["close"].count()
    np.testing.assert_allclose(inside["v"].to_numpy(), want.to_numpy())
    assert today.height > inside.height                               # former / future members are there


def test_cells_are_point_in_time_and_periods_do_not_overlap(sim_store) -> None:
    g = Grammar()
    train, valid, test = ((dt.date(2018, 6, 1), dt.date(2019, 6, 30)), (dt.date(2019, 7, 1), dt.date(2019, 12, 31)),
                          (dt.date(2020, 1, 1), dt.date(2020, 12, 31)))
    data = load_data(sim_store, "csi500", 5, train, valid, test, g.fields, 60)
    mem = sim_store.membership("000905.SH", train[0], test[1])
    is_member = set(zip(mem["date"].to_list(), mem["symbol"].to_list()))
    rows = data.cell_rows
    cell_dates = data.panel["date"].to_numpy()[rows]
    cell_syms = data.panel["symbol"].to_numpy()[rows]
    pairs = {(data.dates[d], data.symbols[s]) for d, s in zip(cell_dates[::97], cell_syms[::97])}
    assert pairs <= is_member and np.isfinite(data.label).all()
    last = [data.dates[int(data.seg_date[data.period_dates(p)[-1]])] for p in range(3)]
    first = [data.dates[int(data.seg_date[data.period_dates(p)[0]])] for p in range(3)]
    assert last[0] < valid[0] and first[1] >= valid[0] and last[1] < test[0] and first[2] >= test[0]
    cal = sim_store.calendar().to_list()
    assert cal.index(last[0]) + 5 + 1 <= cal.index(max(d for d in cal if d <= train[1]))   # embargo
    assert data.dates[0] < train[0]                       # history loaded for the lookback
    with pytest.raises(FlyerError):
        load_data(sim_store, "csi1000", 5, train, valid, test, g.fields, 60)
    with pytest.raises(FlyerError):
        load_data(sim_store, "all", 5, valid, train, None, g.fields, 60)
    with pytest.raises(FlyerError):
        load_data(sim_store, "all", 5, train, valid, valid, g.fields, 60)


def test_malformed_candidates_fail_softly(mining_data: MiningData) -> None:
    sc = Scorer(mining_data)
    good = "Mean($close, 5) / $close"
    bad = ["Meen($close, 5)", "$industry + $close", "Log(0 - $close)", "Sign($close)", ""]
    res = sc.evaluate([bad[0], good, *bad[1:]])
    assert [r.ok for r in res] == [False, True, False, False, False, False]
    assert all(r.error and r.train is None for r in res if not r.ok)
    alone = Scorer(mining_data).evaluate([good])[0]
    assert res[1] == alone


def test_an_engine_crash_only_fails_that_candidate(mining_data: MiningData, monkeypatch) -> None:
    real = nodes_mod.node_expr

    def flaky(node, args, starts, qlib_compat=False):
        if "Std(" in str(node):
            raise RuntimeError("boom")
        return real(node, args, starts, qlib_compat)

    monkeypatch.setattr(nodes_mod, "node_expr", flaky)
    res = Scorer(mining_data).evaluate(["Std($close, 10)", "Mean($close, 5) / $close"])
    assert not res[0].ok and "boom" in res[0].error
    assert res[1].ok and math.isfinite(res[1].train.icir)


def test_planted_reversal_has_a_positive_ic_and_stats_are_consistent(mining_data: MiningData) -> None:
    sc = Scorer(mining_data)
    r = sc.evaluate(["0 - ($close / Ref($close, 5) - 1)"])[0]
    assert r.ok and r.train.ic > 0.01 and r.train.icir > 0.1 and r.coverage > 0.9
    flipped = sc.evaluate(["$close / Ref($close, 5) - 1"])[0]
    assert flipped.train.ic == pytest.approx(-r.train.ic) and flipped.train.s == pytest.approx(r.train.s)
    # against a pool holding the flipped formula: correlation -1
    vs = sc.evaluate([r.formula], (flipped.formula,))[0]
    assert vs.train.cross[0] == pytest.approx(-vs.train.s, rel=1e-6)
