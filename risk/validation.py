"""Checks of a risk model: regression fit by year, bias statistics, factor return tables.

* ``r2_by_year``: mean daily cross-sectional R^2 (uncentred, the Barra convention: the country
  factor explains the market's move; and centred, after removing the weighted mean return).
* ``bias``: for portfolios held over days, z_t = r_{t+1} / sigma_t with sigma_t predicted at the
  close of t; the bias statistic is std(z) (1 is perfect; the rough 95 % band for T days is
  1 +- sqrt(2 / T)). ``random_portfolios`` builds P equal-weighted portfolios of ``size``
  names each, every one a fixed random ranking of all stocks applied to each day's
  estimation universe (so they persist while the universe changes); ``optimised_portfolios``
  builds P mean-variance optimal portfolios w = Sigma^-1 alpha of fixed random alphas over
  each day's estimation universe with the model's own Sigma (the portfolios an optimiser
  builds: they load on the directions the model thinks least risky, so their bias shows how
  far the small eigenvalues are under-estimated - Menchero, Wang & Orr 2011);
  ``optimised_factor_bias`` does the same in factor space alone (h = F^-1 alpha over the
  factors with a return the next day; z = h'f / sqrt(h'Fh)): the check of the eigenfactor
  adjustment, free of specific risk.
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


def optimised_portfolios(model: RiskModel, seed: int = 0, n: int = 20) -> Callable[[int], np.ndarray | None]:
    """``weights_at`` for :func:`portfolio_bias`: portfolio k is w = Sigma_i^-1 alpha_k over the
    next day's estimation universe, alpha_k a fixed N(0, 1) draw per stock, Sigma_i = X F X' + D
    the forecast at close i (solved through the Woodbury identity: K x K systems only),
    scaled to unit gross weight (the bias statistic does not depend on the scale)."""
    alpha = np.random.default_rng(seed).standard_normal((n, len(model.symbols)))
    cols = np.arange(len(model.symbols))

    def weights_at(i: int) -> np.ndarray | None:
        live = np.flatnonzero(model.estu[min(i + 1, len(model.dates) - 1)])
        if live.size <= model.cov.shape[1] or not np.max(np.diag(model.cov[i])) > 0:
            return None
        x = exposure_rows(model.ind[i], model.x[i], cols[live], model.n_ind)
        spec = model.specific[i, live]
        if not (np.isfinite(spec) & (spec > 0)).any():
            return None
        d = np.where(np.isfinite(spec) & (spec > 0), spec, np.nanmedian(np.where(spec > 0, spec, np.nan)))
        a = alpha[:, live].T / d[:, None]                                   # D^-1 alpha (n_live, P)
        m = np.eye(x.shape[1]) + model.cov[i] @ (x.T / d) @ x               # I + F X' D^-1 X
        w_live = a - (x / d[:, None]) @ np.linalg.solve(m, model.cov[i] @ (x.T @ a))
        w = np.zeros((n, len(model.symbols)))
        w[:, live] = (w_live / np.abs(w_live).sum(axis=0)).T
        return w

    return weights_at


def optimised_factor_bias(model: RiskModel, seed: int = 0, n: int = 20) -> np.ndarray:
    """z (T-1, n) of ``n`` minimum-variance factor portfolios h = F_i^-1 alpha_k (alpha_k a fixed
    N(0, 1) draw per factor) over the factors that have a return on day i+1 and had at least
    ``factor_min_obs`` returns by day i (a newer factor's variance is a stand-in, not an
    estimate: a new industry after a reclassification): z = h'f_(i+1) / sqrt(h'F_i h); NaN on
    rows without a forecast."""
    alpha = np.random.default_rng(seed).standard_normal((n, model.cov.shape[1]))
    t = len(model.dates)
    z = np.full((t - 1, n), np.nan)
    seen = np.cumsum(np.isfinite(model.f), axis=0)
    for i in range(t - 1):
        f = model.f[i + 1]
        ok = np.isfinite(f) & (seen[i] >= model.config.factor_min_obs)
        c = model.cov[i][np.ix_(ok, ok)]
        if ok.sum() < 2 or not np.max(np.diag(c)) > 0:
            continue
        h = np.linalg.solve(c, alpha[:, ok].T)
        var = np.einsum("kp,kl,lp->p", h, c, h)
        z[i] = (f[ok] @ h) / np.sqrt(var)
    return z


def model_bias(model: RiskModel, n: int = 20, size: int = 50, seed: int = 0) -> pl.DataFrame:
    """The bias statistics of one model per year: ``bias_table`` rows of ``n`` random
    ``size``-stock portfolios, ``n`` optimised stock portfolios and ``n`` optimised factor
    portfolios (labels ``random``, ``optimised``, ``optimised factors``)."""
    dates = list(model.dates)
    parts = []
    for label, fn in (("random", random_portfolios(model, size=size, seed=seed, n=n)),
                      ("optimised", optimised_portfolios(model, seed=seed, n=n))):
        parts.append(bias_table(portfolio_bias(model, fn, n)[0], dates, label))
    parts.append(bias_table(optimised_factor_bias(model, seed, n), dates, "optimised factors"))
    return pl.concat([p for p in parts if p.height], how="diagonal_relaxed")


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
