"""Datasets: one panel of rows, index arrays per split, lazily gathered sequence windows.

1. ``build_panel`` joins features and labels into one frame sorted by (symbol, date) and keeps
   its feature matrix as ONE contiguous ``(n_rows, n_feat)`` float32 array (``Panel.x``), plus
   ``sym_start`` (first row of each row's symbol) and ``sample_ok`` (in the universe and trading).
2. ``prepare_fold`` fits the processors on the fold's train rows only and applies them to the
   panel; each split is a ``Split``: row indices into the panel sorted by (date, symbol), the
   per-date offsets, the raw label and the normalized training target.
3. Sequence models never see a copied window per sample: ``gather_windows`` builds a batch
   ``(B, T, F)`` from the row indices at collate time (``SequenceData.__getitems__``), clamping
   rows before a stock's first row to that first row.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from flyer.models import processors as P
from flyer.models.config import DataConfig
from flyer.models.splits import Fold

SEQ_STATS_SAMPLE = 20_000


@dataclass
class Panel:
    """Rows sorted by (symbol, date). ``x`` raw features ``(n_rows, n_feat)`` float32 (NaN = missing);
    ``seq`` log OHLCV+vwap+volume ``(n_rows, 6)`` float32 or None; ``label`` float32 (NaN = none)."""

    keys: pl.DataFrame
    features: list[str]
    x: np.ndarray
    label: np.ndarray
    sample_ok: np.ndarray
    sym_start: np.ndarray
    dates: np.ndarray  # datetime64[D] per row
    seq: np.ndarray | None = None


@dataclass
class Split:
    """Samples of one period: ``rows`` into the panel sorted by (date, symbol), ``offsets`` the
    start of each date's group (length n_dates + 1), ``label`` raw (NaN allowed outside
    training), ``target`` the normalized label."""

    rows: np.ndarray
    offsets: np.ndarray
    label: np.ndarray
    target: np.ndarray

    @property
    def n(self) -> int:
        return int(self.rows.size)

    @property
    def n_dates(self) -> int:
        return int(self.offsets.size - 1)


@dataclass
class FoldData:
    """Processed panel ``x`` (n_rows, n_feat) float32 and the fold's splits and fitted state."""

    fold: Fold
    x: np.ndarray
    train: Split
    valid: Split
    test: Split
    state: dict[str, Any] = field(default_factory=dict)


def build_panel(features: pl.DataFrame, label: pl.DataFrame, bars: pl.DataFrame,
                universe: pl.DataFrame | None, cfg: DataConfig, with_seq: bool = False,
                universe_rows_only: bool = False) -> Panel:
    """Join ``features`` [date, symbol, f...] and ``label`` [date, symbol, label] onto ``bars``'s
    rows. ``universe`` [date, symbol] marks the rows that may be samples (None: all).
    ``universe_rows_only`` keeps only sample rows (tabular models need no history)."""
    feats = [c for c in features.columns if c not in ("date", "symbol")]
    fkeys = features.select("date", "symbol").with_row_index("_fi")  # feature rows by index: no copy
    base = bars.select("date", "symbol", "is_suspended").join(fkeys, on=["date", "symbol"], how="left")
    base = base.join(label, on=["date", "symbol"], how="left")
    ok = pl.lit(True)
    if cfg.drop_suspended:
        ok = ~pl.col("is_suspended").fill_null(False)
    if universe is not None:
        base = base.join(universe.select("date", "symbol").with_columns(pl.lit(True).alias("_in")),
                         on=["date", "symbol"], how="left")
        ok = ok & pl.col("_in").fill_null(False)
    base = base.with_columns(ok.alias("_ok"))
    if universe_rows_only:
        base = base.filter(pl.col("_ok"))
    if with_seq:
        from flyer.models.features import SEQ_FIELDS, sequence_columns
        base = base.join(sequence_columns(bars).rename({c: f"_s_{c}" for c in SEQ_FIELDS}),
                         on=["date", "symbol"], how="left")
    base = base.sort("symbol", "date")
    sym = base["symbol"].to_numpy()
    n = base.height
    first = np.ones(n, dtype=bool)
    first[1:] = sym[1:] != sym[:-1]
    sym_start = np.maximum.accumulate(np.where(first, np.arange(n), 0)).astype(np.int64)
    x = _gather_f32(features, feats, base["_fi"])
    seq = _f32(base, [f"_s_{c}" for c in SEQ_FIELDS]) if with_seq else None
    lab = base["label"].cast(pl.Float32).fill_null(np.nan).to_numpy()
    return Panel(base.select("date", "symbol"), feats, x, lab, base["_ok"].to_numpy(),
                 sym_start, base["date"].to_numpy().astype("datetime64[D]"), seq)


def _gather_f32(features: pl.DataFrame, cols: list[str], index: pl.Series) -> np.ndarray:
    """``(len(index), len(cols))`` float32 C-order matrix of ``features`` rows ``index`` (null:
    a row without features -> NaN), filled one column at a time (peak: the matrix + a column)."""
    idx = index.fill_null(features.height).to_numpy().astype(np.int64)
    x = np.empty((idx.size, len(cols)), dtype=np.float32)
    for j, c in enumerate(cols):
        col = features[c].cast(pl.Float32).to_numpy()  # nulls -> NaN
        x[:, j] = np.append(col, np.float32(np.nan))[idx]
    return x


def _f32(df: pl.DataFrame, cols: list[str]) -> np.ndarray:
    if not cols:
        return np.zeros((df.height, 0), dtype=np.float32)
    arr = df.select(pl.col(c).cast(pl.Float32).fill_null(np.nan) for c in cols).to_numpy()
    return np.ascontiguousarray(arr, dtype=np.float32)


def select_rows(panel: Panel, rng: tuple[dt.date, dt.date], need_label: bool) -> np.ndarray:
    """Panel rows that are samples in ``rng`` (inclusive), sorted by (date, symbol)."""
    lo, hi = np.datetime64(rng[0], "D"), np.datetime64(rng[1], "D")
    m = panel.sample_ok & (panel.dates >= lo) & (panel.dates <= hi)
    if need_label:
        m &= ~np.isnan(panel.label)
    rows = np.flatnonzero(m)
    order = np.argsort(panel.dates[rows], kind="stable")  # rows are (symbol, date) sorted
    return rows[order].astype(np.int64)


def make_split(panel: Panel, rows: np.ndarray, label_norm: str) -> Split:
    """A ``Split`` over ``rows`` (date-sorted) with the per-date normalized target."""
    d = panel.dates[rows]
    if rows.size:
        change = np.flatnonzero(d[1:] != d[:-1]) + 1
        offsets = np.concatenate([[0], change, [rows.size]]).astype(np.int64)
    else:
        offsets = np.zeros(1, dtype=np.int64)
    lab = panel.label[rows]
    df = pl.DataFrame({"date": d, "label": lab}).with_columns(pl.col("label").fill_nan(None))
    target = df.select(P.label_expr(label_norm))["target"].fill_null(np.nan).to_numpy().astype(np.float32)
    return Split(rows, offsets, lab, target)


def prepare_fold(panel: Panel, fold: Fold, cfg: DataConfig, seq_ohlcv: bool = False,
                 seq_len: int = 60, seed: int = 0) -> FoldData:
    """Fit processors on the fold's train rows, apply them, and build the three splits."""
    tr = select_rows(panel, fold.train, need_label=True)
    va = select_rows(panel, fold.valid, need_label=True)
    te = select_rows(panel, fold.test, need_label=False) if fold.test else np.zeros(0, dtype=np.int64)
    if cfg.feature_norm == "robust_pooled":
        fit_on = panel.x[tr]  # the only mode with fitted statistics: needs the train rows
    else:
        fit_on = np.zeros((0, len(panel.features)), dtype=np.float32)
    state = P.fit_features(fit_on, panel.features, cfg.feature_norm, cfg.clip, cfg.fillna)
    del fit_on
    x = apply_state(panel.x, panel.dates, state, panel.sample_ok)
    out_state: dict[str, Any] = {"features": state}
    if seq_ohlcv and panel.seq is not None:
        out_state["seq"] = fit_seq_norm(panel.seq, panel.sym_start, tr, seq_len, cfg.clip, seed)
    return FoldData(fold, x, make_split(panel, tr, cfg.label_norm), make_split(panel, va, cfg.label_norm),
                    make_split(panel, te, cfg.label_norm), out_state)


def apply_state(x: np.ndarray, dates: np.ndarray, state: dict[str, Any],
                ok: np.ndarray | None = None) -> np.ndarray:
    """Apply a fitted feature state to a raw ``(n, n_feat)`` matrix; returns float32 contiguous.
    ``ok`` marks the sample rows whose cross-section feeds per-date statistics."""
    feats = state["features"]
    if state["mode"] == "none" and state.get("fillna") is None:
        return np.ascontiguousarray(x, dtype=np.float32)  # nothing to do: the panel itself, no copy
    if state["mode"] in ("robust_pooled", "none"):  # vectorised, in place on one output copy
        return _pooled(x, state)
    df = pl.DataFrame(x, schema=feats, orient="row").with_columns(pl.Series("date", dates))  # per-date modes
    if ok is not None:
        df = df.with_columns(pl.Series("_ok", ok))
    out = np.array(P.apply_features(df, {**state, "fillna": None}).select(feats).to_numpy(),
                   dtype=np.float32, order="C")  # a writable copy (polars' view may be read-only)
    del df
    if state.get("fillna") is not None:
        out[np.isnan(out)] = np.float32(state["fillna"])
    return out


def _pooled(x: np.ndarray, state: dict[str, Any], rows: int = 65_536) -> np.ndarray:
    """``robust_pooled`` (or ``none``) and the NaN fill, into one float32 output, a block of
    ``rows`` rows at a time: peak memory one copy of ``x`` plus a block."""
    out = np.empty(x.shape, dtype=np.float32)
    robust = state["mode"] == "robust_pooled"
    if robust:
        med = np.asarray(state["median"], dtype=np.float32)
        scale = np.asarray(state["scale"], dtype=np.float32)
    fill = state.get("fillna")
    for a in range(0, x.shape[0], rows):
        block = out[a:a + rows]
        if robust:
            np.subtract(x[a:a + rows], med, out=block)
            np.divide(block, scale, out=block)
            if state["clip"]:
                np.clip(block, -state["clip"], state["clip"], out=block)
        else:
            block[:] = x[a:a + rows]
        if fill is not None:
            block[np.isnan(block)] = np.float32(fill)
    return out


# ---------------------------------------------------------------- sequences
def window_index(rows: np.ndarray, sym_start: np.ndarray, T: int) -> np.ndarray:
    """``(B, T)`` panel rows of the windows ending at ``rows`` (oldest first), clamped to each
    stock's first row."""
    idx = rows[:, None] - np.arange(T - 1, -1, -1)[None, :]
    return np.maximum(idx, sym_start[rows][:, None])


def relative_windows(w: np.ndarray) -> np.ndarray:
    """Alpha360 style: log prices minus the last day's log close; log volume minus the last
    day's log volume. ``w`` (B, T, 6) -> same shape."""
    out = w.copy() if isinstance(w, np.ndarray) else w.clone()
    out[..., :5] = w[..., :5] - w[:, -1:, 3:4]
    out[..., 5] = w[..., 5] - w[:, -1:, 5]
    return out


def fit_seq_norm(seq: np.ndarray, sym_start: np.ndarray, rows: np.ndarray, T: int, clip: float,
                 seed: int) -> dict[str, Any]:
    """Pooled robust median/MAD per (lag, field) of relative windows, from up to 20,000 train rows."""
    rng = np.random.default_rng(seed)
    pick = rows if rows.size <= SEQ_STATS_SAMPLE else rng.choice(rows, SEQ_STATS_SAMPLE, replace=False)
    w = relative_windows(seq[window_index(np.sort(pick), sym_start, T)])
    with np.errstate(all="ignore"):
        med = np.nanmedian(w, axis=0)
        mad = np.nanmedian(np.abs(w - med), axis=0)
    scale = mad * P.MAD_SCALE + 1e-6
    return {"median": np.nan_to_num(med).tolist(), "scale": np.nan_to_num(scale, nan=1.0).tolist(),
            "clip": clip, "T": T}


@dataclass
class SequenceData:
    """Map-style dataset for a DataLoader: ``__getitems__(idx)`` gathers a batch of windows.

    ``x`` (torch tensor, n_rows x F, on any device) is the one contiguous panel; ``rows`` the
    samples' end rows; ``norm`` the fitted ``fit_seq_norm`` state for Alpha360-style input, or
    None for windows of already processed factor rows. Returns ``(B, T, F)`` float32 and the
    sample indices.
    """

    x: Any
    sym_start: Any
    rows: Any
    T: int
    norm: dict[str, Any] | None = None
    _med: Any = None
    _scale: Any = None

    def __post_init__(self) -> None:
        import torch
        if self.norm is not None:
            self._med = torch.tensor(self.norm["median"], dtype=torch.float32, device=self.x.device)
            self._scale = torch.tensor(self.norm["scale"], dtype=torch.float32, device=self.x.device)
        self._steps = torch.arange(self.T - 1, -1, -1, device=self.x.device)

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __getitems__(self, idx: Any):
        import torch
        idx = torch.as_tensor(idx, device=self.x.device)
        r = self.rows[idx]
        w_idx = torch.maximum(r[:, None] - self._steps[None, :], self.sym_start[r][:, None])
        w = self.x[w_idx]
        if self.norm is not None:
            w = relative_windows(w)
            w = ((w - self._med) / self._scale).clamp(-self.norm["clip"], self.norm["clip"])
            w = torch.nan_to_num(w, nan=0.0)
        return w, idx

    def __getitem__(self, i: int):
        w, _ = self.__getitems__([i])
        return w[0]
