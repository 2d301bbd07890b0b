"""What a backtest could not see or had to decide, reported with its result (never silent).

Typed (frozen) records, no dicts: :class:`RunDiagnostics` (what every portfolio of one run
shares: the calendar's days per year, scores dropped, members without bars, the benchmark's
total-return estimate, coverage notes) and :class:`ResultDiagnostics` (one portfolio's: orders
blocked and capped, picks made from ties, holdings without bars, the strategy's plan, and every
note to print). The computations read the run's loaded data (``flyer.backtest.loader.RunData``),
never the store:

* ``tie_picks``: buys of a new name whose signal-day score equals that of a scored name left
  out (neither held nor bought): the seeded tie order (``strategies.tie_keys_nb``), not the
  signal, chose them. Counted overall and per year.
* ``members_without_bars``: the benchmark weight (and count) of index members that have no
  bar on a day (a source file ended: the portfolio cannot hold what the benchmark held), per year.
* ``held_without_bars``: the share of NAV in holdings without a bar that day (held at their
  last close, neither sellable nor buyable), per year.
* ``coverage_notes``: the store's ``unknown`` coverage spans inside the run (e.g. ST flags:
  limits then assume a stock is not ST) and, for a vwap deal price, the stock-days without
  amount (vwap substituted when configured, else no fill).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from flyer.backtest.plan import StrategyPlan

if TYPE_CHECKING:
    from flyer.backtest.loader import RunData
    from flyer.backtest.market import Market

TINY = 1e-9


def dense_positions(records: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(T, N) adjusted shares held at each day's close from one portfolio's order records."""
    delta = np.zeros(shape)
    signed = np.where(records["side"] == 0, records["size"], -records["size"])
    np.add.at(delta, (records["idx"].astype(np.int64), records["col"].astype(np.int64)), signed)
    return np.cumsum(delta, axis=0)


def signal_rows(rebalance: np.ndarray) -> np.ndarray:
    """(T,) row of the signal behind each day's trades: the row before the latest rebalance day
    on or before it (-1 before the first)."""
    last = np.where(rebalance, np.arange(rebalance.size), -1)
    return np.maximum.accumulate(last) - 1


@dataclass(frozen=True, eq=False)
class TiePicks:
    """Buys of new names chosen by the tie order: ``picks`` buys of a new name, ``from_ties``
    of them tied with a scored name left out, ``share`` = from_ties / picks; ``by_year``
    [year, picks, from_ties, share]."""

    picks: int
    from_ties: int
    share: float
    by_year: pl.DataFrame


def tie_picks(market: Market, scores: np.ndarray, records: np.ndarray, rebalance: np.ndarray) -> TiePicks:
    """The ``TiePicks`` of one portfolio: ``scores`` (T, N) the dense signal, ``rebalance`` (T,)
    bool its rebalance days."""
    pos = dense_positions(records, market.shape) > TINY
    sig = signal_rows(rebalance)
    buys = records[records["side"] == 0]
    years, tied = [], []
    for i, j in zip(buys["idx"].astype(np.int64), buys["col"].astype(np.int64)):
        s = sig[i]
        if s < 0 or (i > 0 and pos[i - 1, j]) or np.isnan(scores[s, j]):
            continue  # a top-up of a held name, or no signal behind it
        same = scores[s] == scores[s, j]
        same[j] = False
        years.append(market.dates[i].year)
        tied.append(bool(np.any(same & ~pos[i])))
    df = pl.DataFrame({"year": years, "tie": tied}, schema={"year": pl.Int32, "tie": pl.Boolean})
    per_year = df.group_by("year").agg(pl.len().alias("picks"), pl.col("tie").sum().alias("from_ties")).sort("year")
    per_year = per_year.with_columns((pl.col("from_ties") / pl.col("picks")).alias("share"))
    n, k = len(tied), int(sum(tied))
    return TiePicks(n, k, k / n if n else 0.0, per_year)


def bar_mask(data: RunData, market: Market) -> np.ndarray:
    """(T, N) bool: the stock has a bar (any status) that day."""
    return data.bar_index.mask(market.dates, market.symbols)


def held_without_bars(market: Market, records: np.ndarray, has_bar: np.ndarray, nav: np.ndarray) -> pl.DataFrame:
    """``[year, share, max_share]``: mean and peak daily share of NAV held in stocks without a
    bar that day (valued at their last close)."""
    pos = dense_positions(records, market.shape)
    value = np.where((pos > TINY) & ~has_bar, pos * np.nan_to_num(market.arrays.close_val), 0.0).sum(axis=1)
    df = pl.DataFrame({"date": list(market.dates), "share": value / np.where(nav > 0, nav, np.nan)},
                      schema={"date": pl.Date, "share": pl.Float64})
    return (df.group_by(pl.col("date").dt.year().alias("year"))
            .agg(pl.col("share").mean(), pl.col("share").max().alias("max_share")).sort("year"))


def members_without_bars(data: RunData, code: str) -> pl.DataFrame:
    """``[year, members, missing, weight_missing]``: per year over the run's days, the mean daily
    number of ``code``'s members, of those without a bar, and their share of the index weight
    (null weights: equal). Empty when the run loaded no membership of ``code``."""
    m = data.members_of(code)
    if m.height == 0:
        return pl.DataFrame(schema={"year": pl.Int32, "members": pl.Float64, "missing": pl.Float64,
                                    "weight_missing": pl.Float64})
    bar = data.rows_of(m["date"], m["symbol"]) >= 0   # members are dated within the run's days
    m = m.with_columns(pl.Series("bar", bar), pl.col("weight").fill_null(1.0))
    day = m.group_by("date").agg(pl.len().alias("members"), (~pl.col("bar")).sum().alias("missing"),
                                 (pl.col("weight").filter(~pl.col("bar")).sum() / pl.col("weight").sum())
                                 .alias("weight_missing"))
    return (day.group_by(pl.col("date").dt.year().cast(pl.Int32).alias("year"))
            .agg(pl.col("members").mean().cast(pl.Float64), pl.col("missing").mean().cast(pl.Float64),
                 pl.col("weight_missing").mean()).sort("year"))


def coverage_notes(data: RunData, symbols: list[str]) -> list[str]:
    """One line per gap the run crosses (see module doc)."""
    start = data.days[0]
    notes = unknown_coverage_notes(data.coverage, start, data.days[-1])
    if data.deal_price == "vwap" and "amount" in data.bars.columns:
        gaps = (data.bars_of(symbols, start)
                .filter((pl.col("volume") > 0) & (pl.col("amount").is_null() | (pl.col("amount") <= 0)))
                .group_by(pl.col("date").dt.year().alias("year")).len("n").sort("year"))
        note = vwap_gap_note(dict(zip(gaps["year"].to_list(), gaps["n"].to_list())), data.vwap_fill)
        notes += [note] if note else []
    return notes


def unknown_coverage_notes(coverage: pl.DataFrame, start: dt.date, end: dt.date) -> list[str]:
    """One line per ``unknown`` coverage span of the store crossing [start, end]."""
    notes = []
    unk = coverage.filter((pl.col("mode") == "unknown") & (pl.col("first") <= end) & (pl.col("last") >= start))
    for r in unk.iter_rows(named=True):
        what = " (price limits assume the stock is not ST)" if r["tbl"] == "st" else ""
        notes.append(f"{r['tbl']} {r['key']} unknown {max(r['first'], start)}..{min(r['last'], end)}: "
                     f"{r['note']}{what}")
    return notes


def vwap_gap_note(per_year: dict[int, int], vwap_fill: str) -> str | None:
    """The note for traded stock-days without amount under a vwap deal price (``per_year``:
    year -> count, years without any left out), None when there are none."""
    if not per_year:
        return None
    per = ", ".join(f"{y}: {n:,}" for y, n in sorted(per_year.items()))
    how = "vwap substituted by (high+low+close)/3" if vwap_fill == "typical" else "no vwap: no fill"
    return f"vwap deal price: {sum(per_year.values()):,} traded stock-days without amount ({per}): {how}"


def as_rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    """A per-year table as JSON-ready dicts."""
    return [{k: (float(v) if isinstance(v, float) else v) for k, v in r.items()} for r in df.iter_rows(named=True)]


# ------------------------------------------------------------------------ typed records
@dataclass(frozen=True, eq=False)
class RunDiagnostics:
    """What every portfolio of one run shares (module docstring).

    ``year_days``: (year, trading days) of the store's calendar, the annualisation of every
    figure; ``dropped_scores``: scores outside the market's dates or symbols; ``unlisted_scores``
    / ``suspended_scores``: scores of symbols with no bar (not listed yet, or delisted) or
    suspended on the score date, dropped before the strategy saw them; ``members_without_bars``
    [year, members, missing, weight_missing]; ``benchmark_tr_name``: the label of the estimated
    total-return benchmark (None when the store holds one, or no membership); ``notes``.
    """

    year_days: tuple[tuple[int, int], ...]
    dropped_scores: int = 0
    unlisted_scores: int = 0
    suspended_scores: int = 0
    members_without_bars: pl.DataFrame = dataclasses.field(default_factory=pl.DataFrame)
    benchmark_tr_name: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def days_per_year(self) -> dict[int, int]:
        """``year_days`` as a mapping (``flyer.core.stats``' annualisation input)."""
        return dict(self.year_days)


@dataclass(frozen=True, eq=False)
class ResultDiagnostics:
    """One portfolio's diagnostics (module docstring): the run's (``run``), its own order counts
    (blocked by limits or suspension, cut by the participation limit), ``ties``,
    ``held_without_bars`` [year, share, max_share], the strategy's ``plan``, and ``notes``:
    every line to print with the result (the run's first)."""

    run: RunDiagnostics
    plan: StrategyPlan
    blocked_buys: int = 0
    blocked_sells: int = 0
    capped_buys: int = 0
    capped_sells: int = 0
    ties: TiePicks = dataclasses.field(default_factory=lambda: TiePicks(0, 0, 0.0, pl.DataFrame()))
    held_without_bars: pl.DataFrame = dataclasses.field(default_factory=pl.DataFrame)
    notes: tuple[str, ...] = ()

    def counts(self) -> dict[str, int | float]:
        """The scalar figures, JSON-ready (a saved backtest's ``metrics.json``)."""
        r = self.run
        return {"dropped_scores": r.dropped_scores, "unlisted_scores": r.unlisted_scores,
                "suspended_scores": r.suspended_scores, "blocked_buys": self.blocked_buys,
                "blocked_sells": self.blocked_sells, "capped_buys": self.capped_buys,
                "capped_sells": self.capped_sells, "tie_picks": self.ties.picks,
                "tie_picks_from_ties": self.ties.from_ties, "tie_picks_share": self.ties.share}

    def to_json(self) -> dict[str, Any]:
        """Everything as JSON-ready values (tables as rows)."""
        return {**self.counts(), "year_days": [list(x) for x in self.run.year_days],
                "benchmark_tr_name": self.run.benchmark_tr_name,
                "members_without_bars": as_rows(self.run.members_without_bars),
                "tie_picks_by_year": as_rows(self.ties.by_year), "held_without_bars": as_rows(self.held_without_bars),
                "strategy": self.plan.strategy, "plan_notes": list(self.plan.notes), "notes": list(self.notes)}


@dataclass(frozen=True, eq=False)
class ResultContext:
    """What a portfolio's diagnostics are computed from besides its records: the run's
    ``RunDiagnostics``, the strategy's ``plan``, the dense ``signal`` (T, N) it traded on,
    ``has_bar`` (T, N) and its ``rebalance`` days (T,) bool; ``extra_notes`` go first (e.g. the
    warnings of the model run behind the scores); ``tie_order``: how equal scores were ordered."""

    run: RunDiagnostics
    plan: StrategyPlan
    signal: np.ndarray
    has_bar: np.ndarray
    rebalance: np.ndarray
    extra_notes: tuple[str, ...] = ()
    tie_order: str = "seeded random order"


def result_diagnostics(ctx: ResultContext, market: Market, records: np.ndarray, blocked: np.ndarray,
                       capped: np.ndarray, nav: np.ndarray) -> ResultDiagnostics:
    """One portfolio's ``ResultDiagnostics`` from its order records (sorted by day), its (T, 2)
    blocked and capped counts and its NAV (T,)."""
    ties = tie_picks(market, ctx.signal, records, ctx.rebalance)
    tie_order = ctx.tie_order
    notes = [*ctx.extra_notes, *ctx.run.notes]
    if ties.from_ties:
        notes.append(f"{ties.from_ties:,} of {ties.picks:,} picks ({ties.share:.1%}) were made from tied "
                     f"scores ({tie_order}, not the signal)")
    held = held_without_bars(market, records, ctx.has_bar, nav) if records.shape[0] else pl.DataFrame(
        schema={"year": pl.Int32, "share": pl.Float64, "max_share": pl.Float64})
    if held.height and (held["max_share"] > 0).any():
        per = ", ".join(f"{r['year']}: {r['share']:.2%}" for r in held.iter_rows(named=True) if r["max_share"] > 0)
        notes.append(f"NAV held in stocks without bars (valued at their last close, untradable): {per}")
    return ResultDiagnostics(ctx.run, ctx.plan, int(blocked[:, 0].sum()), int(blocked[:, 1].sum()),
                             int(capped[:, 0].sum()), int(capped[:, 1].sum()), ties, held, tuple(notes))
