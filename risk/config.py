"""Frozen, typed risk-model settings; their content hash keys the stored model.

Windows are in trading days, half-lives too. The defaults follow the public MSCI Barra CNE5 /
USE4 conventions (see ``../shared/reference/risk_capacity_mining.md``); where a number is a
convention it is marked so in the field comment.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from flyer.core.config import Config, check

STYLES = ("size", "nonlinear_size", "beta", "momentum", "residual_vol", "liquidity", "value")
# Bumped when the estimator itself changes (not only its settings): part of the key, so a stored
# model built by other code is never read as this one.
MODEL_VERSION = 1


@dataclass(frozen=True)
class RiskConfig(Config):
    """One risk model: universe, factors, descriptor windows and the covariance estimator.

    * ``estimation_universe``: ``all`` (every stock in the store) or index codes joined by ``+``
      (e.g. ``000300.SH+000905.SH`` = CSI 800): the point-in-time members whose returns fit the
      regression and whose caps standardise the exposures. Exposures, residuals and specific
      risk are computed for every stock with a bar and a cap.
    * ``industry_standard``: the store's classification (``sw`` real data, ``sim``); None = the
      store's main one.
    * ``eigen_*``: the eigenfactor risk adjustment of the factor covariance
      (``flyer.risk.covariance.eigen_adjust_nb``): ``eigen_sims`` simulated histories of
      ``4 x eigen_halflife`` days re-estimated with that EWMA half-life (one half-life for
      volatilities and correlations alike: a simplification of the vol/corr split, and no
      Newey-West in the simulation), refreshed every ``eigen_every`` days; applied before the
      volatility-regime adjustment (``vra_halflife``).
    * ``start``: first date of the model (None = first date with enough history). ``start``
      is part of the key (EWMA estimates depend on where they start); later dates are appended
      by ``flyer.risk.storage.update``.
    """

    estimation_universe: str = "all"
    industry_standard: str | None = None
    industry_level: int = 1
    styles: tuple[str, ...] = STYLES
    start: dt.date | None = None
    min_listed_days: int = 63          # trading days since a stock's first bar before it joins the regression
    max_abs_return: float = 0.3        # daily returns beyond this are kept out of the regression (data errors)
    min_style_coverage: float = 0.1   # a style enters a day's regression when this share of the universe has it
    winsor_sd: float = 3.0             # exposures clipped at +- this many standard deviations
    beta_window: int = 252             # convention (CNE5)
    beta_halflife: int = 63
    momentum_window: int = 504
    momentum_lag: int = 21
    momentum_halflife: int = 126
    dastd_window: int = 252
    dastd_halflife: int = 42
    cmra_months: int = 12              # months of 21 trading days
    liquidity_windows: tuple[int, int, int] = (21, 63, 252)
    min_obs_fraction: float = 0.25     # a window descriptor needs this share of its window observed
    vol_halflife: int = 90             # factor volatilities (convention)
    corr_halflife: int = 480           # factor correlations (convention)
    nw_lags: int = 2                   # Newey-West lags, factor covariance
    specific_halflife: int = 90
    specific_nw_lags: int = 2
    specific_min_obs: int = 21         # fewer residuals: specific vol = its size decile's mean
    shrinkage: float = 0.1             # Bayesian shrinkage toward the size-decile mean (convention)
    vra_halflife: int = 42             # volatility-regime adjustment of both forecasts (0 = off)
    eigen_sims: int = 100              # eigenfactor adjustment: simulated histories per refresh (0 = off)
    eigen_scale: float = 1.2           # a in gamma_k = a (v_k - 1) + 1 (papers: 1.2-1.5; convention)
    eigen_halflife: int = 90           # EWMA half-life the simulation re-estimates with (the volatility one)
    eigen_every: int = 21              # trading days between refreshes of the simulated bias
    factor_min_obs: int = 42           # a factor with fewer returns gets its group's median variance
    corr_min_obs: int = 126            # days with both factors before a pair's correlation is estimated (zero before)

    SECTION = "risk"

    def __post_init__(self) -> None:
        unknown = [s for s in self.styles if s not in STYLES]
        check(not unknown, "risk.styles", f"unknown style(s) {', '.join(map(str, unknown))} (known: {', '.join(STYLES)})")
        check("size" in self.styles, "risk.styles", "the risk model needs the size style (it weights and "
              "orthogonalises the others)")
        check(0 <= self.shrinkage <= 1, "risk.shrinkage", f"must be in [0, 1], got {self.shrinkage}")
        check(self.nw_lags >= 0 and self.specific_nw_lags >= 0, "risk.nw_lags", "Newey-West lags must be >= 0")
        check(self.industry_level in (1, 2, 3), "risk.industry_level", f"must be 1, 2 or 3, got {self.industry_level}")
        windows = ("beta_window", "beta_halflife", "momentum_window", "momentum_halflife", "dastd_window",
                   "dastd_halflife", "cmra_months", "vol_halflife", "corr_halflife", "specific_halflife",
                   "specific_min_obs", "factor_min_obs", "corr_min_obs", "min_listed_days")
        for name in windows:
            check(getattr(self, name) >= 1, f"risk.{name}", f"must be >= 1, got {getattr(self, name)}")
        check(all(w >= 1 for w in self.liquidity_windows), "risk.liquidity_windows", "windows must be >= 1 day")
        check(self.momentum_lag >= 0 and self.vra_halflife >= 0, "risk.momentum_lag", "lags must be >= 0")
        check(isinstance(self.eigen_sims, int) and self.eigen_sims >= 0, "risk.eigen_sims",
              f"must be an integer >= 0 (0 = no eigenfactor adjustment), got {self.eigen_sims!r}")
        check(0 <= self.eigen_scale <= 5, "risk.eigen_scale", f"must be in [0, 5], got {self.eigen_scale}")
        check(self.eigen_halflife >= 1 and self.eigen_every >= 1, "risk.eigen_halflife",
              "the simulation's half-life and refresh interval must be >= 1 day")
        check(self.max_abs_return > 0 and self.winsor_sd > 0, "risk.max_abs_return", "bounds must be > 0")
        check(0 < self.min_obs_fraction <= 1 and 0 <= self.min_style_coverage <= 1, "risk.min_obs_fraction",
              "fractions must be in (0, 1]")

    @property
    def lookback(self) -> int:
        """Trading days of history a date's exposures need (the longest descriptor window)."""
        return max(self.beta_window, self.momentum_window + self.momentum_lag, self.dastd_window,
                   21 * self.cmra_months, max(self.liquidity_windows)) + 5

    def index_codes(self) -> tuple[str, ...]:
        """Index codes of the estimation universe (empty for ``all``)."""
        u = self.estimation_universe.strip()
        return () if u.lower() == "all" else tuple(p.strip() for p in u.split("+") if p.strip())

    def identity(self) -> dict[str, Any]:
        """The settings and ``MODEL_VERSION``: what names the model's folder under ``$FLYER_HOME/risk``."""
        return {**self.to_dict(), "model_version": MODEL_VERSION}
