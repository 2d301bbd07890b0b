"""Settings of the ``enhance`` strategy (frozen, typed, serialisable; part of ``BacktestConfig``).

Kept apart from ``flyer.backtest.enhance`` so that reading a config imports no numeric library.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from flyer.errors import FlyerError
from flyer.risk.config import RiskConfig


@dataclass(frozen=True)
class EnhanceConfig:
    """Settings of the ``enhance`` strategy (fractions; ``te`` annualised, predicted by the risk
    model). See ``flyer.backtest.optimizer`` for the problem and its relaxation order."""

    te: float = 0.05                 # predicted tracking error target (annual)
    stock_limit: float = 0.01        # |w - b| per stock
    industry_limit: float = 0.02     # |active industry weight|
    style_limit: float = 0.2         # |active style exposure|, in standard deviations
    turnover: float = 0.3            # two-sided sum |w - w0| per rebalance
    member_floor: float = 0.8        # share of weight in benchmark members
    risk_aversion: float = 1.0       # on annual active variance
    alpha_scale: float = 0.05        # annual expected active return of a 1-sd score
    alpha_horizon: int = 20          # trading days an alpha lasts (amortises trading costs)
    impact_bps: float = 10.0         # assumed market impact per unit traded, bps
    min_weight: float = 1e-4         # smaller optimised weights are set to 0 (dust lots)
    risk: RiskConfig = field(default_factory=RiskConfig)

    def __post_init__(self) -> None:
        if not 0 < self.te < 1:
            raise FlyerError(f"enhance.te must be in (0, 1), got {self.te}")
        if not 0 <= self.member_floor <= 1:
            raise FlyerError(f"enhance.member_floor must be in [0, 1], got {self.member_floor}")
        for name in ("stock_limit", "industry_limit", "style_limit", "turnover", "risk_aversion", "alpha_scale"):
            if getattr(self, name) < 0:
                raise FlyerError(f"enhance.{name} must be >= 0, got {getattr(self, name)}")
        if self.alpha_horizon < 1:
            raise FlyerError("enhance.alpha_horizon must be >= 1 day")

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["risk"] = self.risk.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "EnhanceConfig":
        """From a plain dict (a TOML ``[enhance]`` table, ``risk`` nested); unknown keys raise."""
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise FlyerError(f"unknown enhance setting(s): {', '.join(unknown)}")
        risk = d.pop("risk", None)
        out = cls(**d)
        if isinstance(risk, RiskConfig):
            return dataclasses.replace(out, risk=risk)
        return dataclasses.replace(out, risk=RiskConfig.from_dict(risk)) if risk else out
