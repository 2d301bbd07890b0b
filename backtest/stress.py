"""Regime and stress report of any backtest: named stress windows, volatility and breadth regimes.

* :func:`window_table`: per named window (:data:`DEFAULT_WINDOWS`, or a file read by
  :func:`load_windows`): coverage by the backtest (``full`` / ``partial`` / ``none``: a window
  the data does not cover is a row saying so, never dropped), return, benchmark return and
  geometric excess from the close before the window to its last day, the drawdowns of the
  portfolio and of the excess curve inside it, turnover, execution (fill rate, capped and
  blocked orders: ``flyer.backtest.execution.summary``) and how the portfolio's size and
  liquidity exposures moved from the ``BEFORE`` trading days before the window into it.
* :func:`exposures`: per day, the value-weighted mean over holdings of the cross-sectional
  z-score of log total market cap (size; read from the store) and of log ADV (liquidity; the
  market's trailing 20-day mean traded value), z-scored over the backtest market's stocks with a
  bar that day (every stock scored at some point). Positive = larger / more liquid than the
  average stock of that universe.
* :func:`regime_table`: days bucketed into terciles of the benchmark's trailing 20-day
  volatility and of market breadth (trailing 20-day mean of the share of the market's stocks
  that rose), both known the day before; per bucket the days, annualised mean daily return
  of the portfolio and the benchmark (x the calendar's trading days per year, ``flyer.core.stats``), the mean daily geometric excess
  annualised, its hit rate and information ratio. Regimes use the backtest's own span (the
  first 20 days are unclassified).
Returns are fractions; tables, not prints.
"""
from __future__ import annotations

import datetime as dt
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
import polars as pl

from flyer.backtest import execution
from flyer.backtest.metrics import curves
from flyer.core.stats import periods_per_year
from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.backtest.result import BacktestResult
    from flyer.data.store import MarketStore

BEFORE = 20      # trading days before a window that its "before" exposures average
REGIME_WINDOW = 20


@dataclass(frozen=True)
class Window:
    """A named stress window [start, end] (dates inclusive)."""

    name: str
    start: dt.date
    end: dt.date


# A-share stress windows; the dates are report conventions (shared/reference/risk_capacity_mining.md §4)
DEFAULT_WINDOWS = (
    Window("2015 crash", dt.date(2015, 6, 15), dt.date(2015, 9, 15)),
    Window("2016 circuit breaker", dt.date(2016, 1, 4), dt.date(2016, 1, 29)),
    Window("2018 bear market", dt.date(2018, 1, 29), dt.date(2018, 12, 28)),
    Window("2020 Covid", dt.date(2020, 1, 23), dt.date(2020, 3, 23)),
    Window("2021-22 quant drawdown", dt.date(2021, 12, 1), dt.date(2022, 4, 27)),
    Window("2024 small-cap crash", dt.date(2024, 1, 2), dt.date(2024, 2, 7)),
)


def load_windows(path: str | Path) -> tuple[Window, ...]:
    """Windows from a TOML/YAML file: a list ``window`` of tables with ``name``, ``start``,
    ``end`` (ISO dates), added to :data:`DEFAULT_WINDOWS` (a window of the same name replaces
    the built-in one); ``defaults = false`` keeps only the file's."""
    from flyer.core.config import read_file

    path = Path(path)
    raw = read_file(path, what="stress windows")
    items = raw.get("window", [])
    if not isinstance(items, list):
        raise FlyerError(f"stress windows {path}: expected a list 'window' of {{name, start, end}} tables")
    own = [_window(item, path) for item in items]
    names = {w.name for w in own}
    keep = [w for w in DEFAULT_WINDOWS if w.name not in names] if raw.get("defaults", True) else []
    return tuple(sorted(keep + own, key=lambda w: w.start))


def _window(item: Any, path: Path) -> Window:
    try:
        start, end = (v if isinstance(v, dt.date) else dt.date.fromisoformat(str(v))
                      for v in (item["start"], item["end"]))
        window = Window(str(item["name"]), start, end)
    except (KeyError, TypeError, ValueError) as exc:
        raise FlyerError(f"stress windows {path}: bad window {item!r} (need name, start, end as YYYY-MM-DD)") from exc
    if window.end < window.start:
        raise FlyerError(f"stress windows {path}: window {window.name!r} ends before it starts")
    return window


def exposures(result: BacktestResult, store: MarketStore | None = None) -> pl.DataFrame:
    """[date, size, liquidity] per day (see module doc); size is NaN without a store."""
    m = result.market
    t, n = m.shape
    w = np.zeros((t, n))
    pos = result.positions()
    if pos.height:
        row = {d: i for i, d in enumerate(m.dates)}
        col = {s: j for j, s in enumerate(m.symbols)}
        w[[row[d] for d in pos["date"].to_list()], [col[s] for s in pos["symbol"].to_list()]] = pos["value"].to_numpy()
    with np.errstate(divide="ignore", invalid="ignore"):
        liq = np.log(np.where(m.arrays.adv > 0, m.arrays.adv, np.nan))
    size = _log_caps(result, store) if store is not None else np.full((t, n), np.nan)
    return pl.DataFrame({"date": list(m.dates), "size": _exposure(w, size), "liquidity": _exposure(w, liq)},
                        schema_overrides={"date": pl.Date})


def _log_caps(result: BacktestResult, store: MarketStore) -> np.ndarray:
    m = result.market
    caps = store.bars(m.dates[0], m.dates[-1], symbols=list(m.symbols), adjust=False,
                      columns=["symbol", "date", "total_cap"])
    out = np.full(m.shape, np.nan)
    row = {d: i for i, d in enumerate(m.dates)}
    col = {s: j for j, s in enumerate(m.symbols)}
    caps = caps.filter(pl.col("total_cap") > 0)
    out[[row[d] for d in caps["date"].to_list()], [col[s] for s in caps["symbol"].to_list()]] = \
        np.log(caps["total_cap"].to_numpy())
    out[np.isnan(m.arrays.deal)] = np.nan     # only stocks with a bar that day
    return out


def _exposure(weights: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(T,) sum_j w_j z_j / sum_j w_j over holdings with a value, z the row z-score of ``x``
    (NaN on days without any value, e.g. no market caps in the store)."""
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)   # rows without a single value
        mu = np.nanmean(np.where(np.isfinite(x), x, np.nan), axis=1, keepdims=True)
        sd = np.nanstd(np.where(np.isfinite(x), x, np.nan), axis=1, keepdims=True)
        z = (x - mu) / np.where(sd > 0, sd, np.nan)
        ok = np.isfinite(z) & (weights > 0)
        total = np.where(ok, weights, 0.0).sum(axis=1)
        return np.where(total > 0, np.where(ok, weights * np.nan_to_num(z), 0.0).sum(axis=1) / total, np.nan)


def window_table(result: BacktestResult, store: MarketStore | None = None,
                 windows: Sequence[Window] = DEFAULT_WINDOWS) -> pl.DataFrame:
    """One row per window (see module doc): [window, start, end, coverage, days, return,
    benchmark_return, excess, max_drawdown, excess_max_drawdown, turnover, fill_rate,
    capped_orders, blocked_orders, size_before, size_in, liquidity_before, liquidity_in, note]."""
    daily = result.daily()
    expo = exposures(result, store)
    rows = [_window_row(result, daily, expo, w) for w in windows]
    return pl.DataFrame(rows, schema=_WINDOW_SCHEMA)


_WINDOW_SCHEMA = {"window": pl.Utf8, "start": pl.Date, "end": pl.Date, "coverage": pl.Utf8, "days": pl.Int64,
                  **{k: pl.Float64 for k in ("return", "benchmark_return", "excess", "max_drawdown",
                                             "excess_max_drawdown", "turnover", "fill_rate")},
                  "capped_orders": pl.Int64, "blocked_orders": pl.Int64,
                  **{k: pl.Float64 for k in ("size_before", "size_in", "liquidity_before", "liquidity_in")},
                  "note": pl.Utf8}


def _window_row(result: BacktestResult, daily: pl.DataFrame, expo: pl.DataFrame, w: Window) -> dict[str, Any]:
    first, last = daily["date"][0], daily["date"][-1]
    nan = float("nan")
    row: dict[str, Any] = {"window": w.name, "start": w.start, "end": w.end, "days": 0, "capped_orders": None,
                           "blocked_orders": None, **{k: nan for k, v in _WINDOW_SCHEMA.items() if v == pl.Float64}}
    if w.end < first or w.start > last:
        return {**row, "coverage": "none", "note": f"outside the backtest ({first}..{last}): not covered"}
    full = w.start >= first and w.end <= last
    idx = np.flatnonzero(((daily["date"] >= w.start) & (daily["date"] <= w.end)).to_numpy())
    lo, hi = int(idx[0]), int(idx[-1])
    base = lo - 1 if lo > 0 else lo
    nav, bench, _ = curves(daily)
    ret, bret = nav[hi] / nav[base] - 1, bench[hi] / bench[base] - 1
    x = (nav[base:hi + 1] / nav[base]) / (bench[base:hi + 1] / bench[base])
    ex = execution.summary(result, w.start, w.end)
    sz, lq = expo["size"].to_numpy(), expo["liquidity"].to_numpy()
    pre = slice(max(0, lo - BEFORE), lo)
    note = "" if full else f"partial: the backtest covers {daily['date'][lo]}..{daily['date'][hi]} of it"
    if base == lo:
        note = (note + "; " if note else "") + "returns from the first backtest day's close"
    if not np.isfinite(sz[lo:hi + 1]).any():
        note = (note + "; " if note else "") + "no market caps in the store here: size exposure unknown"
    return {**row, "coverage": "full" if full else "partial", "days": hi - lo + 1, "return": ret,
            "benchmark_return": bret, "excess": (1 + ret) / (1 + bret) - 1,
            "max_drawdown": _max_dd(nav[base:hi + 1]), "excess_max_drawdown": _max_dd(x),
            "turnover": float(daily["turnover"][lo:hi + 1].sum()), "fill_rate": ex["fill_rate"],
            "capped_orders": ex["capped_orders"], "blocked_orders": ex["blocked_orders"],
            "size_before": _mean(sz[pre]), "size_in": _mean(sz[lo:hi + 1]),
            "liquidity_before": _mean(lq[pre]), "liquidity_in": _mean(lq[lo:hi + 1]), "note": note}


def _max_dd(curve: np.ndarray) -> float:
    return float(np.min(curve / np.maximum.accumulate(curve) - 1)) if curve.size and np.all(np.isfinite(curve)) else float("nan")


def _mean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if x.size else float("nan")


def regime_table(result: BacktestResult) -> pl.DataFrame:
    """[regime, bucket, low, high, days, return, benchmark_return, excess, hit_rate,
    information_ratio] for regimes ``volatility`` and ``breadth`` (see module doc)."""
    daily = result.daily()
    days = periods_per_year(daily["date"].to_list(), result.year_days)
    nav, bench, _ = curves(daily)
    r, b = nav[1:] / nav[:-1] - 1, bench[1:] / bench[:-1] - 1
    e = (1 + r) / (1 + b) - 1
    signals = {"volatility": _trailing(np.concatenate([[np.nan], b]), np.std),
               "breadth": _trailing(_breadth(result), np.mean)}
    rows = []
    for regime, value in signals.items():
        rows += _buckets(regime, value[1:], r, b, e, days)
    return pl.DataFrame(rows, schema={"regime": pl.Utf8, "bucket": pl.Utf8, "low": pl.Float64, "high": pl.Float64,
                                      "days": pl.Int64, "return": pl.Float64, "benchmark_return": pl.Float64,
                                      "excess": pl.Float64, "hit_rate": pl.Float64, "information_ratio": pl.Float64})


def _breadth(result: BacktestResult) -> np.ndarray:
    """(T,) share of the market's stocks with a bar whose adjusted close rose that day (NaN on day 0)."""
    a = result.market.arrays
    prev, cur = a.close_val[:-1], a.close_val[1:]
    has = ~np.isnan(a.deal[1:]) & np.isfinite(prev) & (prev > 0)
    up = np.where(has, cur > prev, False).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.concatenate([[np.nan], np.where(has.sum(axis=1) > 0, up / has.sum(axis=1), np.nan)])


def _trailing(x: np.ndarray, fn) -> np.ndarray:
    """(T,) ``fn`` of x over the REGIME_WINDOW days before each day (NaN when any is missing)."""
    out = np.full(x.shape[0], np.nan)
    for i in range(REGIME_WINDOW, x.shape[0]):
        win = x[i - REGIME_WINDOW:i]
        if np.all(np.isfinite(win)):
            out[i] = fn(win, ddof=1) if fn is np.std else fn(win)
    return out


def _buckets(regime: str, value: np.ndarray, r: np.ndarray, b: np.ndarray, e: np.ndarray,
             days: float) -> list[dict]:
    """Tercile rows of one regime; ``days``: returns per year (annualisation)."""
    ok = np.isfinite(value) & np.isfinite(e)
    if ok.sum() < 3:
        return [{"regime": regime, "bucket": "unclassified", "days": int(value.shape[0])}]
    q1, q2 = np.quantile(value[ok], [1 / 3, 2 / 3])
    edges = [("low", -np.inf, q1), ("mid", q1, q2), ("high", q2, np.inf)]
    rows = []
    for name, lo, hi in edges:
        sel = ok & (value > lo) & (value <= hi) if name != "low" else ok & (value <= hi)
        er = e[sel]
        sd = float(np.std(er, ddof=1)) if er.size > 1 else float("nan")
        rows.append({"regime": regime, "bucket": name, "low": float(value[sel].min()) if sel.any() else None,
                     "high": float(value[sel].max()) if sel.any() else None, "days": int(sel.sum()),
                     "return": float(r[sel].mean() * days), "benchmark_return": float(b[sel].mean() * days),
                     "excess": float(er.mean() * days), "hit_rate": float((er > 0).mean()),
                     "information_ratio": float(er.mean() / sd * math.sqrt(days)) if sd > 0 else float("nan")})
    rows.append({"regime": regime, "bucket": "unclassified", "days": int((~ok).sum())})
    return rows
