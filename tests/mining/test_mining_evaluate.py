from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest

from flyer.factors.mining import Grammar, MiningData, evaluate_batch, load_data
from flyer.errors import FlyerError
from flyer.factors.mining import evaluate as ev
from flyer.factors.mining.kernels import label_order_nb, rank_ic_nb, rank_signature_nb


def _slow_rank_ic(f: np.ndarray, y: np.ndarray, t: int, min_n: int) -> float:
    ok = np.isfinite(f[t]) & np.isfinite(y[t])
    if ok.sum() < min_n:
        return math.nan
    df = pl.DataFrame({"f": f[t][ok], "y": y[t][ok]})
    r = df.select(pl.col("f").rank("average"), pl.col("y").rank("average"))
    c = np.corrcoef(r["f"].to_numpy(), r["y"].to_numpy())[0, 1]
    return float(c)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rank_ic_kernel_matches_a_slow_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    f = np.round(rng.normal(size=(30, 25)), 1)          # rounding makes ties
    y = f * 0.3 + rng.normal(size=f.shape)
    f[rng.random(f.shape) < 0.2] = np.nan
    y[rng.random(f.shape) < 0.1] = np.nan
    f[3, :] = np.nan
    idx = np.arange(30)
    y[5, :] = np.round(y[5, :])                         # ties in the label too
    got = rank_ic_nb(f, y, idx, 5, label_order_nb(y))
    want = np.array([_slow_rank_ic(f, y, t, 5) for t in idx])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    sig = rank_signature_nb(f, y, idx, 5)
    assert sig.dtype == np.float32 and np.all(sig[3] == 0)
    norms = np.sqrt((sig.astype(np.float64) ** 2).sum(axis=1))
    assert np.allclose(norms[norms > 0], 1.0, atol=1e-5)


def test_malformed_candidates_fail_softly(mining_data: MiningData) -> None:
    good = "Mean($close, 5) / $close"
    bad = ["Meen($close, 5)", "$industry + $close", "Log(0 - $close)", "Sign($close)", ""]
    res = evaluate_batch(mining_data, [bad[0], good, *bad[1:]])
    assert [r.ok for r in res] == [False, True, False, False, False, False]
    assert all(r.error and r.signature is None for r in res if not r.ok)
    alone = evaluate_batch(mining_data, [good])[0]
    assert res[1].train_ic == alone.train_ic and res[1].valid_icir == alone.valid_icir
    np.testing.assert_array_equal(res[1].signature, alone.signature)


def test_an_engine_crash_only_fails_that_candidate(mining_data: MiningData, monkeypatch) -> None:
    real = ev.compute

    def flaky(frame, fs, **kw):
        if any("Std" in str(e) for e in fs.exprs):
            raise RuntimeError("boom")
        return real(frame, fs, **kw)

    monkeypatch.setattr(ev, "compute", flaky)
    res = evaluate_batch(mining_data, ["Std($close, 10)", "Mean($close, 5) / $close"])
    assert not res[0].ok and "boom" in res[0].error
    assert res[1].ok and math.isfinite(res[1].train_icir)


def test_planted_reversal_has_a_positive_rank_ic(mining_data: MiningData) -> None:
    r = evaluate_batch(mining_data, ["0 - ($close / Ref($close, 5) - 1)"])[0]
    assert r.ok and r.train_ic > 0.01 and r.train_icir > 0.1
    assert r.n_train >= 400 and mining_data.train_idx.max() < mining_data.valid_idx.min()


def test_csi500_labels_are_point_in_time_members(sim_store) -> None:
    import datetime as dt

    train, valid = (dt.date(2018, 6, 1), dt.date(2019, 12, 31)), (dt.date(2020, 1, 1), dt.date(2020, 12, 31))
    data = load_data(sim_store, "csi500", 5, train, valid, Grammar().fields, 60)
    mem = sim_store.membership("000905.SH", train[0], valid[1])
    t = data.train_idx[0]
    day = data.dates[t]
    members = set(mem.filter(pl.col("date") == day)["symbol"].to_list())
    labelled = {data.symbols[j] for j in np.flatnonzero(np.isfinite(data.label[t]))}
    assert labelled and labelled <= members
    assert data.dates[0] < train[0]                      # history loaded for the lookback
    with pytest.raises(FlyerError):
        load_data(sim_store, "csi1000", 5, train, valid, Grammar().fields, 60)
    with pytest.raises(FlyerError):
        load_data(sim_store, "all", 5, valid, train, Grammar().fields, 60)
