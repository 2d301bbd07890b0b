"""Risk-model attribution of any backtest (top-k, benchmark tilt or enhanced): where the
excess return came from, and how much active risk the model predicted.

For each trading day D after the first (``attribute``):
  * w: the portfolio's start-of-day weights (close D-1 holdings / NAV; cash is the rest),
    b: the benchmark's start-of-day weights (``flyer.risk.benchmark``), a = w - b;
  * active exposures at the close of D-1: y = X' a (country = -cash, industries, styles);
  * with the day's factor returns f and residuals u (``flyer.risk``: r = X f + u exactly for
    every stock), the holdings' active return a' r splits into
    ``country`` (-cash x market), ``industry`` and ``style`` (y_k f_k summed per group) and
    ``specific`` (a' u);
  * ``execution`` = portfolio return - w' r: what the start-of-day holdings do not explain -
    the day's trades (fills at the deal price, then the traded names' move from the fill to the
    close, which is where a signal traded at the open earns its first day), fees and lot
    rounding; the cash drag is in ``country``;
  * ``benchmark_gap`` = b' r - index return: the weighted members' total return against the
    index itself (dividends when the benchmark is a price index, and the weight estimate);
  * total excess = portfolio return - benchmark index return (both arithmetic, daily), so the
    six parts add up to it exactly (to float precision) every day:
    excess = (r_p - w'r) + (w - b)'r + (b'r - r_index);
  * ``predicted_te``: sqrt(y' F y + sum a^2 d), annualised, from the forecasts made at D-1.
Per year (``yearly``): sums of the daily parts (arithmetic; the geometric excess of
``flyer.backtest.metrics`` differs by compounding), realised TE (std of daily excess x
sqrt(trading days per year)), mean predicted TE, their ratio ``te_ratio`` = realised /
predicted, and two bias statistics: ``bias`` = std(excess / predicted) (what a fund sees) and
``bias_model`` = std(a'r / predicted) (the risk model's own check: the active return it
forecasts, without execution and benchmark gaps). ``attribution_for`` adds ``model_bias``: the
risk model's bias statistic per year of random and of optimised portfolios over the same
dates (``flyer.risk.validation.model_bias``), the yardstick for the portfolio's own.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import polars as pl

if TYPE_CHECKING:
    from flyer.backtest.result import BacktestResult
    from flyer.data.store import MarketStore
    from flyer.risk.config import RiskConfig
    from flyer.risk.model import RiskModel

PARTS = ("country", "industry", "style", "specific", "execution", "benchmark_gap")


@dataclass(frozen=True)
class Attribution:
    """``daily``: [date, excess, <PARTS>..., active_return, replica_return, predicted_te]; ``exposures``:
    [date, <industry and style factors>...] active exposures; ``periods_per_year``;
    ``model_bias``: [year, random, optimised, optimised factors] the risk model's bias statistic
    of those portfolios per year (empty unless ``attribution_for`` computed it)."""

    daily: pl.DataFrame
    exposures: pl.DataFrame
    periods_per_year: float
    notes: tuple[str, ...] = ()
    model_bias: pl.DataFrame = field(default_factory=pl.DataFrame)

    def yearly(self) -> pl.DataFrame:
        """Per year: [year, days, excess, <PARTS>..., realised_te, predicted_te, te_ratio, bias, bias_model]."""
        ppy = self.periods_per_year
        sd = pl.col("predicted_te") / np.sqrt(ppy)
        df = self.daily.with_columns(pl.col("date").dt.year().alias("year"), (pl.col("excess") / sd).alias("z"),
                                     (pl.col("active_return") / sd).alias("zm"))
        return df.group_by("year", maintain_order=True).agg(
            pl.len().alias("days"), pl.col("excess").sum(), *(pl.col(p).sum() for p in PARTS),
            (pl.col("excess").std() * np.sqrt(ppy)).alias("realised_te"), pl.col("predicted_te").mean(),
            pl.col("z").std().alias("bias"), pl.col("zm").std().alias("bias_model")).with_columns(
            (pl.col("realised_te") / pl.col("predicted_te")).alias("te_ratio")).select(
            "year", "days", "excess", *PARTS, "realised_te", "predicted_te", "te_ratio", "bias", "bias_model")

    def cumulative(self) -> pl.DataFrame:
        """[date, excess, <PARTS>...] cumulative sums of the daily parts."""
        return self.daily.select("date", *(pl.col(c).cum_sum() for c in ("excess", *PARTS)))


def _start_weights(result: BacktestResult, symbols: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """((T, n) start-of-day weights of ``symbols``, (T,) cash weight) from the close before."""
    dates = result.dates
    t = len(dates)
    col = {s: j for j, s in enumerate(symbols)}
    row = {d: i for i, d in enumerate(dates)}
    nav, cash = result.nav, result.cash
    w = np.zeros((t, len(symbols)))
    pos = result.positions()
    if pos.height:
        ri = np.array([row[d] + 1 for d in pos["date"].to_list()])
        ci = np.array([col[s] for s in pos["symbol"].to_list()])
        ok = ri < t
        w[ri[ok], ci[ok]] = pos["value"].to_numpy()[ok] / nav[ri[ok] - 1]
    cash_w = np.ones(t)
    cash_w[1:] = cash[:-1] / nav[:-1]
    return w, cash_w


def attribute(result: BacktestResult, model: RiskModel, bench: pl.DataFrame) -> Attribution:
    """The daily attribution of ``result`` (module docstring); ``bench``: [date, symbol,
    weight] start-of-day benchmark weights covering the result's dates."""
    dates = result.dates
    held = result.positions()["symbol"].unique().to_list() if result.records.shape[0] else []
    bench = bench.filter(pl.col("date").is_in(dates))
    symbols = sorted(set(held) | set(bench["symbol"].unique().to_list()))
    w, cash_w = _start_weights(result, symbols)
    b = _dense(bench, dates, symbols)
    daily = result.daily()
    nav = daily["nav"].to_numpy()
    bidx = daily["benchmark"].fill_null(strategy="forward").to_numpy().astype(float)
    cols = model.columns(symbols)
    k_ind = model.n_ind
    rows, expo = [], []
    for i in range(1, len(dates)):
        prev, day = model.row(dates[i - 1]), model.row(dates[i])
        parts, y, r = _day(model, prev, day, cols, w[i] - b[i], k_ind)
        port, index = nav[i] / nav[i - 1] - 1, bidx[i] / bidx[i - 1] - 1
        active = sum(parts.values())
        replica = float(b[i] @ r)
        rows.append({"date": dates[i], "excess": port - index, **parts,
                     "execution": port - (active + replica), "benchmark_gap": replica - index,
                     "active_return": active, "replica_return": replica,
                     "predicted_te": _predicted(model, prev, cols, w[i] - b[i], y)})
        expo.append(y[1:])
    names = list(model.factors[1:])
    exposures = pl.DataFrame(np.array(expo), schema=names, orient="row").with_columns(
        pl.Series("date", list(dates[1:]), dtype=pl.Date)).select("date", *names)
    notes = (f"benchmark {result.benchmark_name}; excess is arithmetic daily portfolio minus index return",)
    return Attribution(pl.DataFrame(rows), exposures, model.periods_per_year, notes)


def _dense(frame: pl.DataFrame, dates: list[dt.date], symbols: list[str]) -> np.ndarray:
    out = np.zeros((len(dates), len(symbols)))
    if frame.height:
        row = {d: i for i, d in enumerate(dates)}
        col = {s: j for j, s in enumerate(symbols)}
        ri = np.array([row[d] for d in frame["date"].to_list()])
        ci = np.array([col[s] for s in frame["symbol"].to_list()])
        out[ri, ci] = frame["weight"].to_numpy()
    return out


def _day(model: RiskModel, prev: int, day: int, cols: np.ndarray, a: np.ndarray, k_ind: int
         ) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """({country, industry, style, specific}, active exposures y (K,), returns r (n,)) of one
    day; r = X f + u exactly (a stock without a return that day counts 0)."""
    from flyer.risk.model import exposure_rows

    x = exposure_rows(model.ind[prev], model.x[prev], cols, k_ind)
    y = x.T @ a
    f = np.nan_to_num(model.f[day])
    known = cols >= 0
    u = np.zeros(len(cols))
    u[known] = np.nan_to_num(model.resid[day, cols[known]])
    # a stock without a return that day (no bar) moved by nothing the model explains
    no_ret = known.copy()
    no_ret[known] = ~np.isfinite(model.ret[day, cols[known]])
    u[no_ret | ~known] = -(x[no_ret | ~known] @ f)
    r = x @ f + u
    return {"country": float(y[0] * f[0]), "industry": float(y[1:1 + k_ind] @ f[1:1 + k_ind]),
            "style": float(y[1 + k_ind:] @ f[1 + k_ind:]), "specific": float(a @ u)}, y, r


def _predicted(model: RiskModel, prev: int, cols: np.ndarray, a: np.ndarray, y: np.ndarray) -> float:
    spec = model.specific[prev]
    med = float(np.nanmedian(spec)) if np.isfinite(spec).any() else 0.0
    d = np.where(cols >= 0, spec[np.maximum(cols, 0)], np.nan)
    d = np.where(np.isfinite(d), d, med)
    var = (y @ model.cov[prev] @ y + np.sum(a * a * d)) * model.periods_per_year
    return float(np.sqrt(max(var, 0.0)))


def attribution_for(store: MarketStore, result: BacktestResult, config: RiskConfig | None = None,
                    home: str | Path | None = None, model_bias: bool = True) -> Attribution:
    """:func:`attribute` with the risk model of ``config`` (default: the enhance strategy's,
    else ``RiskConfig()``; built or appended under the store's home) and the benchmark weights
    of ``result.config.universe``; with ``model_bias`` the model's bias statistics of random and
    optimised portfolios per year over the result's dates."""
    from flyer.backtest.enhance import risk_model
    from flyer.risk.benchmark import benchmark_weights

    cfg = config or result.config.enhance.risk
    start, end = result.dates[0], result.dates[-1]
    model, notes = risk_model(store, cfg, start, end, home)
    bench = benchmark_weights(store, result.config.universe, start, end)
    att = attribute(result, model, bench.weights)
    return Attribution(att.daily, att.exposures, att.periods_per_year, att.notes + notes + bench.notes,
                       _model_bias(model, start) if model_bias else pl.DataFrame())


def _model_bias(model: RiskModel, start: dt.date) -> pl.DataFrame:
    """[year, random, optimised, optimised factors] bias means of the model from ``start`` on."""
    from flyer.risk.validation import model_bias

    table = model_bias(model).filter((pl.col("year") == "all") | (pl.col("year") >= str(start.year)))
    return table.pivot(on="portfolios", index="year", values="bias_mean") if table.height else table
