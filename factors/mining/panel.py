"""The market panel a miner evaluates candidates on: plain arrays, built once, shared by workers.

``MiningData`` holds the bars as numpy columns (rows sorted by symbol, then date; symbols and
dates as int32 codes so the frame rebuilds cheaply in any process), the forward-return label as
a (T, N) matrix, the universe mask and the date indices of the training and validation periods.
It is what ``ray.put`` ships once to the object store.

Label: ``close[t+1+h] / close[t+1] - 1`` on the adjusted close (the models' label), NaN where
the future rows do not exist or where (date, symbol) is outside the universe on ``t``. Training
dates stop ``h + 1`` days before the training end, so no training label reaches into validation.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl

from flyer.data.fields import attach

from flyer.data.returns import forward_return
from flyer.data.universe import UNIVERSES
from flyer.data.universe import members as universe_members
from flyer.factors.mining.kernels import label_order_nb
from flyer.errors import FlyerError

N_SIGNATURE_DATES = 40


@dataclass(frozen=True)
class MiningData:
    """Arrays for candidate evaluation (see module docstring); T dates x N symbols.

    ``columns``: name -> array of the panel rows (``symbol``/``date``: int32 codes, fields:
    float64, ``is_suspended``: bool). ``label``: (T, N) float64, NaN = not usable.
    ``label_order``: (T, N) int32, per date the symbols with a label sorted by it (-1 padded).
    ``train_idx``/``valid_idx``: int64 date indices; ``sig_idx``: the training dates on which
    signatures (for correlations between factors) are taken.
    """

    columns: dict[str, np.ndarray]
    row_date: np.ndarray
    row_sym: np.ndarray
    label: np.ndarray
    label_order: np.ndarray
    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    train_idx: np.ndarray
    valid_idx: np.ndarray
    sig_idx: np.ndarray
    horizon: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.label.shape

    def frame(self) -> pl.DataFrame:
        """The bars frame the factor engine reads (symbol and date as int codes)."""
        return pl.DataFrame({k: v for k, v in self.columns.items()})


def build_data(bars: pl.DataFrame, members: pl.DataFrame | None, horizon: int,
               train: tuple[dt.date, dt.date], valid: tuple[dt.date, dt.date],
               fields: tuple[str, ...]) -> MiningData:
    """``MiningData`` from adjusted bars (the store contract) and optional ``[date, symbol]`` members.

    ``bars`` should start early enough to cover the formulas' lookback before ``train[0]`` and
    run ``horizon + 1`` days past ``valid[1]``.
    """
    if horizon < 1:
        raise FlyerError(f"horizon must be >= 1 day, got {horizon}")
    if members is not None:
        bars = bars.filter(pl.col("symbol").is_in(members["symbol"].unique().implode()))
    bars = bars.sort("symbol", "date")
    if bars.height == 0:
        raise FlyerError("no bars for the mining universe and dates")
    dates = bars["date"].unique().sort()
    symbols = bars["symbol"].unique().sort()
    row_date = _codes(bars["date"], dates)
    row_sym = _codes(bars["symbol"], symbols)
    T, N = dates.len(), symbols.len()
    label = np.full((T, N), np.nan)
    fwd = bars.select(forward_return(horizon))
    label[row_date, row_sym] = fwd.to_series().cast(pl.Float64).fill_null(np.nan).to_numpy()
    if members is not None:
        label[~_member_mask(members, dates, symbols)] = np.nan
    date_list = dates.to_list()
    train_idx = _span_idx(date_list, train, embargo=horizon + 1)
    valid_idx = _span_idx(date_list, valid, embargo=0)
    if train_idx.size < 20:
        raise FlyerError(f"training span {train[0]}:{train[1]} has {train_idx.size} usable dates (need 20+)")
    sig = train_idx[np.linspace(0, train_idx.size - 1, min(N_SIGNATURE_DATES, train_idx.size)).astype(int)]
    cols = {"symbol": row_sym, "date": row_date}
    for f in sorted(set(fields) | {"close"}):
        if f in bars.columns:
            cols[f] = bars[f].cast(pl.Float64).fill_null(np.nan).to_numpy()
    cols["is_suspended"] = bars["is_suspended"].fill_null(False).to_numpy() if "is_suspended" in bars.columns \
        else np.zeros(bars.height, dtype=bool)
    return MiningData(cols, row_date, row_sym, label, label_order_nb(label), tuple(date_list), tuple(symbols.to_list()),
                      train_idx, valid_idx, np.unique(sig), horizon)


def _codes(values: pl.Series, uniques: pl.Series) -> np.ndarray:
    """int32 position of each value in the sorted ``uniques``."""
    return uniques.search_sorted(values).to_numpy().astype(np.int32)


def _member_mask(members: pl.DataFrame, dates: pl.Series, symbols: pl.Series) -> np.ndarray:
    mask = np.zeros((dates.len(), symbols.len()), dtype=bool)
    m = members.filter(pl.col("date").is_in(dates.implode()) & pl.col("symbol").is_in(symbols.implode()))
    mask[_codes(m["date"], dates), _codes(m["symbol"], symbols)] = True
    return mask


def _span_idx(dates: list[dt.date], span: tuple[dt.date, dt.date], embargo: int) -> np.ndarray:
    """Indices of dates inside ``span`` whose label (``embargo`` days ahead) ends inside it too."""
    inside = [i for i, d in enumerate(dates) if span[0] <= d <= span[1]]
    if not inside or embargo == 0:
        return np.asarray(inside, dtype=np.int64)
    last = inside[-1]
    return np.asarray([i for i in inside if i + embargo <= last], dtype=np.int64)


def load_data(store, universe: str, horizon: int, train: tuple[dt.date, dt.date],
              valid: tuple[dt.date, dt.date], fields: tuple[str, ...], lookback: int) -> MiningData:
    """``MiningData`` from a market store: bars from ``lookback`` trading days before the training
    start through ``horizon + 2`` days after the validation end; CSI universes point-in-time."""
    if universe not in UNIVERSES:
        raise FlyerError(f"unknown universe {universe!r}; use {', '.join(UNIVERSES)}")
    if valid[0] <= train[1]:
        raise FlyerError(f"validation span must start after the training span ends ({train[1]})")
    cal = store.calendar()
    first = int(cal.search_sorted(train[0], side="left"))
    last = int(cal.search_sorted(valid[1], side="right"))
    if first >= cal.len() or last == 0:
        raise FlyerError(f"the store has no trading days in {train[0]}:{valid[1]}")
    start, end = cal[max(first - lookback, 0)], cal[min(last + horizon + 1, cal.len() - 1)]
    members = universe_members(store, universe, train[0], valid[1])
    symbols = members["symbol"].unique().sort().to_list() if members is not None else None
    bars = attach(store, store.bars(start, end, symbols=symbols), fields)  # $pe, $pb point in time
    return build_data(bars, members, horizon, train, valid, fields)
