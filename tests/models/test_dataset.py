from __future__ import annotations

import numpy as np
import polars as pl
import torch

from flyer.models.dataset import SequenceData, prepare_fold, relative_windows, window_index
from flyer.models.features import compute_features, compute_label
from flyer.models.pipeline import load_inputs, make_panel
from flyer.models.splits import make_folds
from models_kit import config


def test_label_is_qlib_ref_minus2_over_ref_minus1(mstore) -> None:
    bars = mstore.bars(symbols=mstore.instruments()["symbol"].head(3).to_list())
    lab = compute_label(bars, 1).join(bars.select("date", "symbol", "close"), on=["date", "symbol"])
    one = lab.filter(pl.col("symbol") == lab["symbol"][0]).sort("date")
    c = one["close"].to_numpy()
    assert np.allclose(one["label"].to_numpy()[:-2], c[2:] / c[1:-1] - 1)
    assert one["label"].tail(2).null_count() == 2
    five = compute_label(bars, 5).filter(pl.col("symbol") == lab["symbol"][0]).sort("date")["label"].to_numpy()
    assert np.allclose(five[:-6], c[6:] / c[1:-5] - 1)


def test_panel_is_one_contiguous_matrix_and_splits_sorted_by_date(mstore) -> None:
    cfg = config("lgbm")
    inputs = load_inputs(mstore, cfg, cfg.split.train[0], cfg.split.test[1])
    panel = make_panel(inputs, cfg)
    assert panel.x.dtype == np.float32 and panel.x.flags["C_CONTIGUOUS"] and panel.x.shape[1] == len(panel.features)
    (fold,) = make_folds(cfg.split, inputs.days, 1)
    fd = prepare_fold(panel, fold, cfg.data)
    d = panel.dates[fd.train.rows]
    assert (np.diff(d.astype(np.int64)) >= 0).all()
    assert not np.isnan(fd.train.label).any() and fd.train.n > 10_000
    assert panel.dates[fd.train.rows].max() <= np.datetime64(fold.train[1])
    assert panel.dates[fd.test.rows].min() >= np.datetime64(fold.test[0])


def test_universe_filter_point_in_time(mstore) -> None:
    cfg = config("lgbm", universe="csi300")
    inputs = load_inputs(mstore, cfg, cfg.split.train[0], cfg.split.test[1])
    panel = make_panel(inputs, cfg)
    keys = panel.keys.filter(pl.Series(panel.sample_ok))
    mem = mstore.membership("000300.SH", cfg.split.train[0], cfg.split.test[1]).select("date", "symbol")
    assert keys.join(mem, on=["date", "symbol"], how="anti").height == 0
    assert keys.height > 0.5 * mem.height


def test_sequence_windows_gathered_lazily_match_naive_copy(mstore) -> None:
    cfg = config("gru", seq_len=10)
    inputs = load_inputs(mstore, cfg, cfg.split.train[0], cfg.split.test[1])
    panel = make_panel(inputs, cfg)
    assert panel.seq is not None and panel.seq.shape[1] == 6
    (fold,) = make_folds(cfg.split, inputs.days, 1)
    fd = prepare_fold(panel, fold, cfg.data, seq_ohlcv=True, seq_len=10)
    x = torch.from_numpy(panel.seq)
    ds = SequenceData(x, torch.from_numpy(panel.sym_start), torch.from_numpy(fd.train.rows), 10, None)
    batch, idx = ds.__getitems__(torch.arange(50, 90))
    assert batch.shape == (40, 10, 6)
    for j, i in enumerate(range(50, 90)):
        r = int(fd.train.rows[i])
        lo = max(r - 9, int(panel.sym_start[r]))
        want = panel.seq[lo:r + 1]
        want = np.concatenate([np.repeat(want[:1], 10 - len(want), axis=0), want])
        assert np.array_equal(batch[j].numpy(), want, equal_nan=True)
    # normalized windows: last day's close is the reference (0 after the relative step)
    rel = relative_windows(panel.seq[window_index(fd.train.rows[:5], panel.sym_start, 10)])
    assert np.allclose(rel[:, -1, 3], 0) and np.allclose(rel[:, -1, 5], 0)
    ds2 = SequenceData(x, torch.from_numpy(panel.sym_start), torch.from_numpy(fd.train.rows), 10, fd.state["seq"])
    w, _ = ds2.__getitems__(torch.arange(0, 64))
    assert torch.isfinite(w).all() and w.abs().max() <= cfg.data.clip


def test_builtin_subset_and_unknown(mstore) -> None:
    import pytest
    from flyer.core.errors import FlyerError

    bars = mstore.bars(symbols=mstore.instruments()["symbol"].head(2).to_list())
    f = compute_features(bars, "basic:ret20,vol20")
    assert f.columns == ["date", "symbol", "ret20", "vol20"] and f["vol20"].dtype == pl.Float32
    with pytest.raises(FlyerError):
        compute_features(bars, "basic:nope")


def test_factor_set_chunked_and_cut_to_universe_equals_full(mstore) -> None:
    """Alpha158 through the factor engine: computing in date chunks and keeping only universe
    rows gives the same values as one full computation."""
    syms = mstore.instruments()["symbol"].head(12).to_list()
    bars = mstore.bars(symbols=syms)
    full = compute_features(bars, "alpha158")
    assert full.width == 160 and full.select(pl.exclude("date", "symbol")).dtypes[0] == pl.Float32
    keep = bars.select("date", "symbol").filter(pl.col("date").dt.weekday() != 3)
    part = compute_features(bars, "alpha158", keep=keep, chunk_rows=2_000)
    want = full.join(keep, on=["date", "symbol"], how="semi").sort("symbol", "date")
    assert part.height == want.height
    late = pl.col("date") > bars["date"].min() + __import__("datetime").timedelta(days=200)
    a, b = part.filter(late).drop("date", "symbol").to_numpy(), want.filter(late).drop("date", "symbol").to_numpy()
    assert np.allclose(a, b, equal_nan=True, rtol=1e-5, atol=1e-6)
