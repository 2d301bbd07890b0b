"""Settings of the ``enhance`` strategy (frozen, typed, serialisable; part of ``BacktestConfig``).

Kept apart from ``flyer.backtest.enhance`` so that reading a config imports no numeric library.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flyer.core.config import Config, check
from flyer.risk.config import RiskConfig


@dataclass(frozen=True)
class EnhanceConfig(Config):
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

    SECTION = "enhance"

    def __post_init__(self) -> None:
        for name in ("te", "stock_limit", "industry_limit", "style_limit", "turnover", "member_floor",
                     "risk_aversion", "alpha_scale", "impact_bps", "min_weight"):
            v = getattr(self, name)
            check(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf"),
                  f"enhance.{name}", f"must be a finite number >= 0, got {v!r}")
        check(0 < self.te < 1, "enhance.te", f"must be in (0, 1), got {self.te}")
        check(self.member_floor <= 1, "enhance.member_floor", f"must be in [0, 1], got {self.member_floor}")
        check(isinstance(self.alpha_horizon, int) and self.alpha_horizon >= 1, "enhance.alpha_horizon",
              f"must be an integer >= 1 (days), got {self.alpha_horizon!r}")
