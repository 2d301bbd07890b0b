"""Frozen, typed risk-model settings; their content hash keys the stored model.

Windows are in trading days, half-lives too. The defaults follow the public MSCI Barra CNE5 /
USE4 conventions (see ``../shared/reference/risk_capacity_mining.md``); where a number is a
convention it is marked so in the field comment.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from flyer.errors import FlyerError

STYLES = ("size", "nonlinear_size", "beta", "momentum", "residual_vol", "liquidity", "value")
# Bumped when the estimator itself changes (not only its settings): part of the key, so a stored
# model built by other code is never read as this one.
MODEL_VERSION = 1


@dataclass(frozen=True)
class RiskConfig:
    """One risk model: universe, factors, descriptor windows and the covariance estimator.

    * ``estimation_universe``: ``all`` (every stock in the store) or index codes joined by ``+``
      (e.g. ``000300.SH+000905.SH`` = CSI 800): the point-in-time members whose returns fit the
      regression and whose caps standardise the exposures. Exposures, residuals and specific
      risk are computed for every stock with a bar and a cap.
    * ``industry_standard``: the store's classification (``sw`` real data, ``sim``); None = the
      store's main one.
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
    factor_min_obs: int = 42           # a factor with fewer returns gets its group's median variance

    def __post_init__(self) -> None:
        unknown = [s for s in self.styles if s not in STYLES]
        if unknown:
            raise FlyerError(f"unknown risk style(s): {', '.join(unknown)} (known: {', '.join(STYLES)})")
        if "size" not in self.styles:
            raise FlyerError("the risk model needs the size style (it weights and orthogonalises the others)")
        if not 0 <= self.shrinkage <= 1:
            raise FlyerError(f"shrinkage must be in [0, 1], got {self.shrinkage}")
        if self.nw_lags < 0 or self.specific_nw_lags < 0:
            raise FlyerError("Newey-West lags must be >= 0")

    @property
    def lookback(self) -> int:
        """Trading days of history a date's exposures need (the longest descriptor window)."""
        return max(self.beta_window, self.momentum_window + self.momentum_lag, self.dastd_window,
                   21 * self.cmra_months, max(self.liquidity_windows)) + 5

    def index_codes(self) -> tuple[str, ...]:
        """Index codes of the estimation universe (empty for ``all``)."""
        u = self.estimation_universe.strip()
        return () if u.lower() == "all" else tuple(p.strip() for p in u.split("+") if p.strip())

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["start"] = self.start.isoformat() if self.start else None
        d["styles"], d["liquidity_windows"] = list(self.styles), list(self.liquidity_windows)
        return d

    def key(self) -> str:
        """Content hash (12 hex digits) of the settings and ``MODEL_VERSION``: names the model's
        folder under ``$FLYER_HOME/risk``."""
        blob = json.dumps({**self.to_dict(), "model_version": MODEL_VERSION}, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RiskConfig":
        """Build from a plain dict (JSON/TOML); unknown keys are ``FlyerError``s."""
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FlyerError(f"unknown risk config key(s): {', '.join(unknown)}")
        if isinstance(d.get("start"), str):
            d["start"] = dt.date.fromisoformat(d["start"])
        for k in ("styles", "liquidity_windows"):
            if k in d:
                d[k] = tuple(d[k])
        return cls(**d)
