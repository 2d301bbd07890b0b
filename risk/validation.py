"""Checks of a risk model: regression fit by year, bias statistics, factor return tables.

* ``r2_by_year``: mean daily cross-sectional R^2 (uncentred, the Barra convention: the country
  factor explains the market's move; and centred, after removing the weighted mean return).
* ``bias``: for portfolios held over days, z_t = r_{t+1} / sigma_t with sigma_t predicted at the
  close of t; the bias statistic is std(z) (1 is perfect; the rough 95 % band for T days is
  1 +- sqrt(2 / T)). ``random_portfolios`` builds P equal-weighted portfolios of ``size``
  names each, every one a fixed random ranking of all stocks applied to each day's
  estimation universe (so they persist while the universe changes); ``benchmark_portfolio``
  uses given weights.
* ``factor_summary``: per factor and year, compounded return, annual volatility and t-stat.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import polars as pl

from flyer.risk.model import RiskModel, exposure_rows


def r2_by_year(model: RiskModel) -> pl.DataFrame:
    """[year, days, r2, r2_centred, n_stocks] means of the daily regressions."""
    fr = model.factor_returns().drop_nulls("r2")
    return fr.group_by(pl.col("date").dt.year().alias("year"), maintain_order=True).agg(
        pl.len().alias("days"), pl.col("r2").mean(), pl.col("r2_centred").mean(), pl.col("n_stocks").mean())


def portfolio_bias(model: RiskModel, weights_at: Callable[[int], np.ndarray | None], n: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """(z (T-1, n), sigma (T-1, n)) for ``n`` portfolios whose weights (n, N) at the close of
    row i ``weights_at(i)`` gives (None: none that day): z = realised next-day return /
    predicted daily volatility."""
    t = len(model.dates)
    z = np.full((t - 1, n), np.nan)
    sig = np.full((t - 1, n), np.nan)
    cols = np.arange(len(model.symbols))
    for i in range(t - 1):
        w = weights_at(i)
        if w is None or not np.any(w):
            continue
        x = exposure_rows(model.ind[i], model.x[i], cols, model.n_ind)
        y = w @ x
        row = model.specific[i]
        spec = np.nan_to_num(row, nan=float(np.nanmedian(row)) if np.isfinite(row).any() else 0.0)
        var = np.einsum("pk,kl,pl->p", y, model.cov[i], y) + (w * w) @ spec
        r = w @ np.nan_to_num(model.ret[i + 1])
        ok = var > 0
        sig[i, ok] = np.sqrt(var[ok])
        z[i, ok] = r[ok] / sig[i, ok]
    return z, sig


def random_portfolios(model: RiskModel, size: int = 50, seed: int = 0, n: int = 50
                      ) -> Callable[[int], np.ndarray | None]:
    """``weights_at`` for :func:`portfolio_bias`: portfolio k holds, each day, the ``size``
    stocks of the next day's estimation universe ranked first by its own fixed random ranking,
    equally weighted."""
    rank = np.random.default_rng(seed).random((n, len(model.symbols)))

    def weights_at(i: int) -> np.ndarray | None:
        live = model.estu[min(i + 1, len(model.dates) - 1)]
        if live.sum() < size:
            return None
        keys = np.where(live[None, :], rank, -1.0)
        top = np.argpartition(-keys, size - 1, axis=1)[:, :size]
        w = np.zeros_like(rank)
        np.put_along_axis(w, top, 1.0 / size, axis=1)
        return w

    return weights_at


def bias_table(z: np.ndarray, dates: list, label: str) -> pl.DataFrame:
    """Per year and overall: [portfolios, year, days, bias_mean, bias_median, in_band] where
    in_band is the share of portfolios whose std(z) is within 1 +- sqrt(2/T)."""
    years = np.array([d.year for d in dates[1:]])
    rows = []
    for year in [*sorted(set(years.tolist())), None]:
        sel = np.ones(len(years), bool) if year is None else years == year
        zz = z[sel]
        stats = np.array([np.nanstd(zz[:, k], ddof=1) for k in range(zz.shape[1])
                          if np.isfinite(zz[:, k]).sum() > 20])
        if stats.size == 0:
            continue
        days = int(np.isfinite(zz).any(axis=1).sum())
        band = np.sqrt(2.0 / days)
        rows.append({"portfolios": label, "year": "all" if year is None else str(year), "days": days,
                     "bias_mean": float(stats.mean()), "bias_median": float(np.median(stats)),
                     "in_band": float(np.mean(np.abs(stats - 1) <= band))})
    return pl.DataFrame(rows)


def factor_summary(model: RiskModel) -> pl.DataFrame:
    """Per style factor and year: [factor, year, return, volatility, t_stat] of the daily factor
    returns (return compounded; volatility annualised; t = mean / sd * sqrt(days))."""
    fr = model.factor_returns().select("date", "country", *model.styles)
    long = fr.unpivot(index="date", variable_name="factor", value_name="f").drop_nulls("f").drop_nans("f")
    ppy = model.periods_per_year
    return long.group_by("factor", pl.col("date").dt.year().alias("year"), maintain_order=True).agg(
        ((1 + pl.col("f")).product() - 1).alias("return"), (pl.col("f").std() * np.sqrt(ppy)).alias("volatility"),
        (pl.col("f").mean() / pl.col("f").std() * pl.len().sqrt()).alias("t_stat")).sort("factor", "year")
