"""Frozen, typed, serialisable backtest configuration.

A :class:`BacktestConfig` names everything a run depends on besides the market store and the
scores; its content hash (:meth:`BacktestConfig.key`) names a run. Units: rates are fractions
(0.00025 = 0.025 %), money in CNY, slippage in basis points.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flyer.backtest.enhance_config import EnhanceConfig

DealPrice = Literal["open", "close", "vwap"]
Strategy = Literal["topk", "benchmark", "enhance"]
Weighting = Literal["equal", "score"]
Retry = Literal["next_rebalance", "next_day"]
Remainder = Literal["carry", "cancel"]
Impact = Literal["none", "sqrt"]
VwapFill = Literal["none", "typical"]
Rules = Literal["ashare", "qlib"]

DEAL_PRICES = ("open", "close", "vwap")
STRATEGIES = ("topk", "benchmark", "enhance")
WEIGHTINGS = ("equal", "score")
RETRIES = ("next_rebalance", "next_day")
REMAINDERS = ("carry", "cancel")
IMPACTS = ("none", "sqrt")
# Square-root law prefactor Y in impact = Y * sigma_daily * sqrt(Q / ADV): "of order 1"
# (Almgren, Thum, Hauptmann & Li 2005, "Direct estimation of equity market impact"; Toth et al.
# 2011, "Anomalous price impact and the critical nature of liquidity"; estimates 0.5-1.5).
IMPACT_K = 1.0
VWAP_FILLS = ("none", "typical")
RULES = ("ashare", "qlib")
# qlib parity (``rules="qlib"``): the exchange settings of qlib's benchmark workflows
QLIB_OPEN_COST, QLIB_CLOSE_COST, QLIB_MIN_COST = 0.0005, 0.0015, 5.0
QLIB_LIMIT, QLIB_RISK_DEGREE = 0.095, 0.95


@dataclass(frozen=True)
class CostConfig:
    """Trading costs. Stamp duty and transfer fee follow ``flyer.data.rules`` by trade date."""

    commission: float = 0.00025     # fraction of traded value, both sides
    min_commission: float = 5.0     # CNY per order
    slippage_bps: float = 0.0       # buys fill at price*(1+s), sells at price*(1-s)
    stamp_duty: bool = True         # seller stamp duty by date (0.1 % -> 0.05 % on 2023-08-28)
    transfer_fee: bool = True       # per-side transfer fee by date and exchange
    impact: Impact = "none"         # "sqrt": square-root market impact charged per fill
    impact_k: float = IMPACT_K      # prefactor Y of the square-root law (see IMPACT_K)

    def __post_init__(self) -> None:
        if self.impact not in IMPACTS:
            raise ValueError(f"impact must be one of {IMPACTS}, got {self.impact!r}")
        if not self.impact_k >= 0:
            raise ValueError(f"impact_k must be >= 0, got {self.impact_k}")


ENHANCE_KEYS = frozenset(f.name for f in dataclasses.fields(EnhanceConfig)) - {"risk"}


@dataclass(frozen=True)
class BacktestConfig:
    """One backtest: strategy, execution and cost settings.

    * ``strategy="topk"``: hold ``k`` names, each rebalance drop the ``n_drop`` worst-scored
      holdings for the best-scored names not held (qlib TopkDropout). ``weighting`` sizes new
      buys (``equal`` = 1/k of NAV each, ``score`` = proportional to score above the day's
      minimum, scaled to |held set|/k); with ``rebalance_kept`` kept names are also traded back
      to their weight.
    * ``strategy="benchmark"``: CSI 500 weights tilted by score, each stock's active weight
      within ``active_limit`` (see ``flyer.backtest.strategies.benchmark_tilt``).
    * ``strategy="enhance"``: enhanced-index weights from an optimiser with a risk model and a
      tracking-error target (``enhance``, see ``flyer.backtest.enhance``); its settings only
      enter ``to_dict``/``key`` for that strategy, so other configs keep their keys.
    * ``rebalance_every``: rebalance on every n-th day that has scores (1 = daily).
    * ``retry``: an order blocked by a limit or suspension waits for the next rebalance
      (``next_rebalance``) or is retried every following day (``next_day``).
    * ``participation``: a fill takes at most this fraction of the day's volume (raw shares;
      0 = unlimited). The rest of a capped order waits for the next day; ``remainder`` says
      what a rebalance does with it: ``carry`` keeps it unless the new plan trades that name,
      ``cancel`` drops it (see ``flyer.backtest.engine``).
    * ``costs.impact="sqrt"``: square-root market impact per fill, ``impact_k * sigma *
      sqrt(fill value / ADV)`` of the fill value, sigma and ADV over the 20 traded days before
      the fill (``flyer.backtest.market.LIQUIDITY_WINDOW``).
    * ``vwap_fill``: a vwap deal price on a day the store has no amount is missing (``none``:
      no fill) or the typical price (high + low + close) / 3 (``typical``); either way the
      result's notes count those stock-days.
    * ``rules``: ``ashare`` (flyer's exact exchange rules, the default) or ``qlib``, a migration
      aid that reproduces qlib's backtest semantics to compare with qlib's numbers: one flat
      limit threshold (|change| >= 9.5 % blocks both sides, every board), costs of qlib's
      benchmarks (buy 0.05 %, sell 0.15 %, at least 5 CNY per order; ``costs`` ignored), buys
      share the day's cash (after sells) x 0.95 equally instead of 1/k of NAV, and the first
      trade happens on ``start`` itself (from the previous day's scores). Not replicated: qlib
      scores and "buys" suspended stocks (flyer never fills an order on a suspended day).
    """

    strategy: Strategy = "topk"
    k: int = 50
    n_drop: int = 5
    weighting: Weighting = "equal"
    rebalance_kept: bool = False
    rebalance_every: int = 1
    deal_price: DealPrice = "open"
    vwap_fill: VwapFill = "none"
    rules: Rules = "ashare"
    retry: Retry = "next_rebalance"
    participation: float = 0.1       # max fraction of the day's volume per fill, 0 = unlimited
    remainder: Remainder = "carry"   # a capped order's rest at the next rebalance: carry | cancel
    capital: float = 10_000_000.0
    costs: CostConfig = field(default_factory=CostConfig)
    benchmark: str = "000905.SH"
    universe: str = "000905.SH"      # index whose members' weights the benchmark strategy tilts
    active_limit: float = 0.01       # max |weight - benchmark weight| per stock (benchmark strategy)
    start: dt.date | None = None
    end: dt.date | None = None
    enhance: EnhanceConfig = field(default_factory=EnhanceConfig)

    def __post_init__(self) -> None:
        checks = [
            (self.strategy in STRATEGIES, f"strategy must be one of {STRATEGIES}, got {self.strategy!r}"),
            (self.deal_price in DEAL_PRICES, f"deal_price must be one of {DEAL_PRICES}, got {self.deal_price!r}"),
            (self.weighting in WEIGHTINGS, f"weighting must be one of {WEIGHTINGS}, got {self.weighting!r}"),
            (self.retry in RETRIES, f"retry must be one of {RETRIES}, got {self.retry!r}"),
            (self.remainder in REMAINDERS, f"remainder must be one of {REMAINDERS}, got {self.remainder!r}"),
            (0 <= self.participation <= 1, f"participation must be in [0, 1] (0 = unlimited), got {self.participation}"),
            (self.vwap_fill in VWAP_FILLS, f"vwap_fill must be one of {VWAP_FILLS}, got {self.vwap_fill!r}"),
            (self.rules in RULES, f"rules must be one of {RULES}, got {self.rules!r}"),
            (self.rules == "ashare" or (self.strategy == "topk" and self.weighting == "equal"
                                        and not self.rebalance_kept),
             "rules='qlib' reproduces qlib's TopkDropout: strategy topk, equal weighting, kept names not rebalanced"),
            (self.k >= 1, f"k must be >= 1, got {self.k}"),
            (0 <= self.n_drop <= self.k, f"n_drop must be in [0, k], got {self.n_drop}"),
            (self.rebalance_every >= 1, f"rebalance_every must be >= 1, got {self.rebalance_every}"),
            (self.capital > 0, f"capital must be > 0, got {self.capital}"),
            (self.active_limit >= 0, f"active_limit must be >= 0, got {self.active_limit}"),
        ]
        for ok, msg in checks:
            if not ok:
                raise ValueError(msg)

    def replace(self, **changes: Any) -> "BacktestConfig":
        """A copy with ``changes``; cost fields (``commission``, ...) may be given flat."""
        cost_keys = {f.name for f in dataclasses.fields(CostConfig)}
        cost_changes = {k: changes.pop(k) for k in list(changes) if k in cost_keys}
        if cost_changes:
            changes["costs"] = dataclasses.replace(self.costs, **cost_changes)
        enh_changes = {k: changes.pop(k) for k in list(changes) if k in ENHANCE_KEYS}
        if enh_changes:
            changes["enhance"] = dataclasses.replace(changes.get("enhance", self.enhance), **enh_changes)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able dict (dates as ISO strings)."""
        d = dataclasses.asdict(self)
        for key in ("start", "end"):
            d[key] = d[key].isoformat() if d[key] else None
        if self.strategy == "enhance":
            d["enhance"] = self.enhance.to_dict()
        else:
            d.pop("enhance")
        return d

    def key(self) -> str:
        """Content hash (12 hex digits) of the config: names a run, keys a cache."""
        blob = json.dumps(self.to_dict(), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BacktestConfig":
        """Build from a (possibly nested or flat) dict as read from TOML/YAML; unknown keys raise."""
        d = dict(d)
        costs = dict(d.pop("costs", {}) or {})
        cost_keys = {f.name for f in dataclasses.fields(CostConfig)}
        for k in list(d):
            if k in cost_keys:
                costs[k] = d.pop(k)
        enhance = d.pop("enhance", {}) or {}
        enhance = enhance.to_dict() if isinstance(enhance, EnhanceConfig) else dict(enhance)
        for k in list(d):
            if k in ENHANCE_KEYS:
                enhance[k] = d.pop(k)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(d) - known)
        bad_costs = sorted(set(costs) - cost_keys)
        if unknown or bad_costs:
            raise ValueError(f"unknown backtest config key(s): {', '.join(unknown + bad_costs)}")
        for key in ("start", "end"):
            if isinstance(d.get(key), str):
                d[key] = dt.date.fromisoformat(d[key])
            elif isinstance(d.get(key), dt.datetime):
                d[key] = d[key].date()
        return cls(**d, costs=CostConfig(**costs), enhance=EnhanceConfig.from_dict(enhance))

    @classmethod
    def from_file(cls, path: str | Path) -> "BacktestConfig":
        """Read a TOML (``.toml``) or YAML (``.yaml``/``.yml``) file; a ``[backtest]`` table is used if present."""
        path = Path(path)
        text = path.read_text()
        if path.suffix == ".toml":
            import tomllib

            data = tomllib.loads(text)
        elif path.suffix in (".yaml", ".yml"):
            import yaml

            data = yaml.safe_load(text) or {}
        else:
            raise ValueError(f"config file must be .toml, .yaml or .yml: {path}")
        if "backtest" in data and isinstance(data["backtest"], dict):
            data = data["backtest"]
        return cls.from_dict(data)
