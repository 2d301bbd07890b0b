"""The market panel a miner evaluates candidates on, built once and shared by workers.

``MiningData`` holds:

- ``panel``: the engine's prepared panel (``flyer.factors.engine.prepare_panel``: rows sorted by
  symbol then date, traded fields null on suspended days, ``_gid``/``_age``) of every stock that
  is a universe member on some date of the span, with symbol and date as int32 codes, plus
  ``_member`` (bool): whether the row's stock is a member *on that date* (point in time). Cross
  sections inside mined formulas (CSRank, CSZScore, ...) rank over the members of that date only.
- the evaluation cells: the (date, member) rows of the training, validation and test dates that
  have a label, ordered by date then symbol (``cell_rows``: row numbers in ``panel``), with
  ``segments`` (per date, the cells' offsets) and each date's ``period`` (0 train, 1 valid,
  2 test).
- ``label``: the forward return at each cell (``flyer.data.returns.forward_return``, a fraction).

Training dates stop ``horizon + 1`` days before the training end and validation dates before the
validation end, so no label reaches into the next period. The test period is never looked at
by the search (``flyer.factors.mining.search``); only the report reads it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from flyer.data.fields import attach
from flyer.data.returns import forward_return
from flyer.data.universe import UNIVERSES
from flyer.data.universe import members as universe_members
from flyer.factors.engine import AGE, prepare_panel

from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

MEMBER = "_member"      # panel column: the row's stock is a universe member on that date
MIN_CELLS = 10          # members with a label on a date, for the date to count
PERIODS = ("train", "valid", "test")
Span = tuple[dt.date, dt.date]


@dataclass(frozen=True)
class MiningData:
    """Panel and evaluation cells (see module docstring); D evaluation dates, C cells."""

    panel: pl.DataFrame
    starts: np.ndarray          # (n_symbols + 1,) int64 block offsets of ``panel``
    cell_rows: np.ndarray       # (C,) int64 rows of ``panel``
    segments: np.ndarray        # (D + 1,) int64 offsets into the cells, one segment per date
    seg_date: np.ndarray        # (D,) int64 date codes
    period: np.ndarray          # (D,) int8: 0 train, 1 valid, 2 test
    label: np.ndarray           # (C,) float64 forward return
    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    horizon: int
    spans: tuple[Span | None, ...]   # train, valid, test

    @property
    def n_cells(self) -> int:
        return int(self.cell_rows.size)

    def period_dates(self, period: int) -> np.ndarray:
        """Indices (into the segments) of the dates of one period."""
        return np.flatnonzero(self.period == period)

    def cell_dates(self) -> list[dt.date]:
        """The calendar date of each segment."""
        return [self.dates[int(t)] for t in self.seg_date]


def build_data(bars: pl.DataFrame, members: pl.DataFrame | None, horizon: int, train: Span, valid: Span,
               test: Span | None, fields: tuple[str, ...]) -> MiningData:
    """``MiningData`` from adjusted bars (the store contract) and ``[date, symbol]`` members
    (None: every stock in ``bars`` on every date).

    ``bars`` should start early enough to cover the formulas' lookback before ``train[0]`` and
    run ``horizon + 1`` days past the last span.
    """
    if horizon < 1:
        raise FlyerError(f"horizon must be >= 1 day, got {horizon}")
    bars, panel, starts, member, date_list, symbols = _coded_panel(bars, members, fields)
    label = bars.select(forward_return(horizon)).to_series().cast(pl.Float64).fill_null(np.nan).to_numpy()
    spans = (train, valid, test)
    period_of = np.full(len(date_list), -1, dtype=np.int8)
    for p, span in enumerate(spans):
        if span is not None:
            period_of[_span_idx(date_list, span, embargo=horizon + 1 if p < 2 else 0)] = p
    cells = _cells(panel, member, label, period_of)
    data = _assemble(panel, starts, cells, label, period_of, date_list, symbols, horizon, spans)
    _check_usable(data, date_list)
    return data


#: usable dates each span needs (training, validation, test when given)
MIN_DATES = (20, 1, 1)


def _check_usable(data: MiningData, dates: list[dt.date]) -> None:
    """``FlyerError`` (one line, before any mining) naming the first span with too few usable dates:
    dates inside it with ``MIN_CELLS``+ members whose label ends inside it too."""
    for p, (name, span) in enumerate(zip(("training", "validation", "test"), data.spans)):
        n = data.period_dates(p).size
        if span is not None and n < MIN_DATES[p]:
            have = f"the bars loaded run {dates[0]}..{dates[-1]}" if dates else "no bars were loaded"
            raise FlyerError(f"{name} span {span[0]}:{span[1]} has {n} usable dates (need {MIN_DATES[p]}+ with "
                             f"{MIN_CELLS}+ labelled members, a {data.horizon}-day label inside the span; {have})")


def build_scoring_data(bars: pl.DataFrame, members: pl.DataFrame | None, span: Span,
                       fields: tuple[str, ...]) -> MiningData:
    """``MiningData`` whose cells are every member row on the dates of ``span`` (no label needed:
    NaN); the one period is 2. For computing a pool's combined score (``flyer.factors.mining.score``)."""
    bars, panel, starts, member, date_list, symbols = _coded_panel(bars, members, fields)
    period_of = np.full(len(date_list), -1, dtype=np.int8)
    period_of[_span_idx(date_list, span, embargo=0)] = 2
    label = np.zeros(bars.height)            # placeholder: every member row is a cell
    cells = _cells(panel, member, label, period_of, min_cells=1)
    return _assemble(panel, starts, cells, np.full(bars.height, np.nan), period_of, date_list,
                     symbols, 1, (None, None, span))


def _coded_panel(bars: pl.DataFrame, members: pl.DataFrame | None, fields: tuple[str, ...]
                 ) -> tuple[pl.DataFrame, pl.DataFrame, np.ndarray, np.ndarray, list[dt.date], list[str]]:
    """Bars of the universe's stocks sorted by (symbol, date), the prepared panel (int32 codes,
    ``_member``), its block starts, the member flags, and the dates and symbols of the codes."""
    if members is not None:
        bars = bars.filter(pl.col("symbol").is_in(members["symbol"].unique().implode()))
    bars = bars.sort("symbol", "date")
    if bars.height == 0:
        raise FlyerError("no bars for the universe and dates")
    dates, symbols = bars["date"].unique().sort(), bars["symbol"].unique().sort()
    member = _member_flags(bars, members)
    coded = bars.with_columns(pl.Series("symbol", _codes(bars["symbol"], symbols)),
                              pl.Series("date", _codes(bars["date"], dates)))
    panel, starts = prepare_panel(coded, set(fields) | {"close"})
    panel = panel.with_columns(pl.Series(MEMBER, member))
    return bars, panel, starts, member, dates.to_list(), symbols.to_list()


def _member_flags(bars: pl.DataFrame, members: pl.DataFrame | None) -> np.ndarray:
    """Per row of ``bars`` (sorted): is the stock a member on that date."""
    if members is None:
        return np.ones(bars.height, dtype=bool)
    flag = members.select("date", "symbol").unique().with_columns(pl.lit(True).alias("_m"))
    joined = bars.select("symbol", "date").join(flag, on=["date", "symbol"], how="left", maintain_order="left")
    return joined["_m"].fill_null(False).to_numpy()


def _cells(panel: pl.DataFrame, member: np.ndarray, label: np.ndarray, period_of: np.ndarray,
           min_cells: int = MIN_CELLS) -> pl.DataFrame:
    """``[row, date]`` of the member rows with a label on evaluation dates, by date then symbol."""
    date = panel["date"].to_numpy()
    ok = member & np.isfinite(label) & (period_of[date] >= 0)
    rows = np.flatnonzero(ok)
    frame = pl.DataFrame({"row": rows, "date": date[rows], "symbol": panel["symbol"].to_numpy()[rows]})
    frame = frame.sort("date", "symbol")
    counts = frame.group_by("date").len()
    keep = counts.filter(pl.col("len") >= min_cells)["date"]
    return frame.filter(pl.col("date").is_in(keep.implode()))


def _assemble(panel: pl.DataFrame, starts: np.ndarray, cells: pl.DataFrame, label: np.ndarray,
              period_of: np.ndarray, dates: list[dt.date], symbols: list[str], horizon: int,
              spans: tuple[Span | None, ...]) -> MiningData:
    rows = cells["row"].to_numpy().astype(np.int64)
    cdate = cells["date"].to_numpy().astype(np.int64)
    seg_date, first = np.unique(cdate, return_index=True)
    segments = np.append(first, rows.size).astype(np.int64)
    return MiningData(panel, starts, rows, segments, seg_date, period_of[seg_date].astype(np.int8),
                      label[rows], tuple(dates), tuple(symbols), horizon, spans)


def _codes(values: pl.Series, uniques: pl.Series) -> np.ndarray:
    """int32 position of each value in the sorted ``uniques``."""
    return uniques.search_sorted(values).to_numpy().astype(np.int32)


def _span_idx(dates: list[dt.date], span: Span, embargo: int) -> np.ndarray:
    """Indices of dates inside ``span`` whose label (``embargo`` days ahead) ends inside it too."""
    inside = [i for i, d in enumerate(dates) if span[0] <= d <= span[1]]
    if not inside or embargo == 0:
        return np.asarray(inside, dtype=np.int64)
    last = inside[-1]
    return np.asarray([i for i in inside if i + embargo <= last], dtype=np.int64)


def check_spans(train: Span, valid: Span, test: Span | None) -> None:
    """Train, validation and test must follow each other without overlap."""
    if valid[0] <= train[1]:
        raise FlyerError(f"validation span must start after the training span ends ({train[1]})")
    if test is not None and test[0] <= valid[1]:
        raise FlyerError(f"test span must start after the validation span ends ({valid[1]})")


def load_bars(store: MarketStore, universe: str, first: dt.date, last: dt.date, lookback: int,
              lead: int, fields: tuple[str, ...] = ()) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """Adjusted bars from ``lookback`` trading days before ``first`` through ``lead`` days after
    ``last`` for the stocks that are ``universe`` members on some date of ``[first, last]``
    (with ``fields`` that are not bar columns, e.g. ``$pe``, joined point in time by
    ``flyer.data.fields.attach``), and the point-in-time ``[date, symbol]`` members (None for ``all``)."""
    if universe not in UNIVERSES:
        raise FlyerError(f"unknown universe {universe!r}; use {', '.join(UNIVERSES)}")
    cal = store.calendar()
    i0 = int(cal.search_sorted(first, side="left"))
    i1 = int(cal.search_sorted(last, side="right"))
    if i0 >= cal.len() or i1 == 0:
        raise FlyerError(f"the store has no trading days in {first}:{last}")
    start, end = cal[max(i0 - lookback, 0)], cal[min(i1 + lead, cal.len()) - 1]
    members = universe_members(store, universe, first, last)
    symbols = members["symbol"].unique().sort().to_list() if members is not None else None
    return attach(store, store.bars(start, end, symbols=symbols), fields), members


def load_data(store: MarketStore, universe: str, horizon: int, train: Span, valid: Span, test: Span | None,
              fields: tuple[str, ...], lookback: int) -> MiningData:
    """``MiningData`` from a market store: bars from ``lookback`` trading days before the training
    start through ``horizon + 2`` days after the last span; CSI universes point in time."""
    check_spans(train, valid, test)
    last = (test or valid)[1]
    bars, members = load_bars(store, universe, train[0], last, lookback, horizon + 2, fields)
    return build_data(bars, members, horizon, train, valid, test, fields)


def age_mask(data: MiningData, lookback: int) -> np.ndarray:
    """(n_rows,) bool: rows with at least ``lookback`` rows of history (full windows)."""
    return data.panel[AGE].to_numpy() >= lookback
