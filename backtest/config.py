"""Frozen, typed, serialisable backtest configuration.

A :class:`BacktestConfig` names everything a run depends on besides the market store and the
scores; its content hash (:meth:`BacktestConfig.key`) names a run. Units: rates are fractions
(0.00025 = 0.025 %), money in CNY, slippage in basis points.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Literal

from flyer.backtest.enhance_config import EnhanceConfig
from flyer.core.config import Config, check

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
# qlib's trade unit (raw shares, every board) and the 0.1 share its buy rounding adds before
# flooring to the unit (``Exchange.round_amount_by_trade_unit``: (amount + 0.1) // 100 * 100)
QLIB_TRADE_UNIT, QLIB_ROUND_SLACK = 100.0, 0.1


@dataclass(frozen=True)
class CostConfig(Config):
    """Trading costs, and the fund's own fees. Stamp duty and transfer fee follow
    ``flyer.data.rules`` by trade date. ``management_fee`` and ``custody_fee`` are annual
    fractions of NAV accrued daily (``flyer.backtest.metrics.accrue_fees``): the result reports
    NAV and excess return before and after them (default 0: no fees, and no change to a
    config's key)."""

    SECTION = "costs"

    commission: float = 0.00025     # fraction of traded value, both sides
    min_commission: float = 5.0     # CNY per order
    slippage_bps: float = 0.0       # buys fill at price*(1+s), sells at price*(1-s)
    stamp_duty: bool = True         # seller stamp duty by date (0.1 % -> 0.05 % on 2023-08-28)
    transfer_fee: bool = True       # per-side transfer fee by date and exchange
    impact: Impact = "none"         # "sqrt": square-root market impact charged per fill
    impact_k: float = IMPACT_K      # prefactor Y of the square-root law (see IMPACT_K)
    management_fee: float = 0.0     # fund management fee, fraction of NAV a year, accrued daily
    custody_fee: float = 0.0        # custody fee, fraction of NAV a year, accrued daily

    def __post_init__(self) -> None:
        check(self.impact in IMPACTS, "costs.impact", f"must be one of {', '.join(IMPACTS)}, got {self.impact!r}")
        for name in ("commission", "min_commission", "slippage_bps", "impact_k", "management_fee", "custody_fee"):
            v = getattr(self, name)
            check(isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf"),
                  f"costs.{name}", f"must be a finite number >= 0, got {v!r}")
        check(self.commission < 1, "costs.commission", f"is a fraction of traded value (< 1), got {self.commission}")
        for name in ("management_fee", "custody_fee"):
            check(getattr(self, name) < 0.2, f"costs.{name}",
                  f"is a fraction of NAV a year (0.01 = 1 %), got {getattr(self, name)}")

    @property
    def fund_fee(self) -> float:
        """Management plus custody fee, fraction of NAV a year."""
        return self.management_fee + self.custody_fee


ENHANCE_KEYS = frozenset(f.name for f in dataclasses.fields(EnhanceConfig)) - {"risk"}


@dataclass(frozen=True)
class BacktestConfig(Config):
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
      aid that reproduces qlib's backtest (``TopkDropoutStrategy`` on its ``Exchange``, qlib
      0.9.7) to compare with qlib's numbers. Applied: one flat limit threshold (|close change| >=
      9.5 % blocks both sides, every board); qlib's costs (buy 0.05 %, sell 0.15 %, at least 5 CNY
      per order; ``costs`` ignored), no volume limit (``participation`` ignored), no impact; one
      100-share trade unit on every board (STAR too), a buy floored to it from its shares + 0.1;
      new buys share the day's cash after sells x 0.95 equally (blocked buys included: their
      share stays idle) instead of 1/k of NAV; the first trade on ``start`` itself, from the
      previous trading day's scores; a sell the day blocks still takes its drop slot and its
      place among the k (so up to k + n_drop names are held); equal scores, and holdings without
      a score (ranked last), in qlib's instrument-code order (``SH600000``, ``SZ000002``: the
      last code is dropped first); a delisted stock is kept after its last bar at its last
      close, unsellable, its unscored sell taking a drop slot every day; blocked orders add
      nothing to the execution ``demand`` (qlib never places them: the fill rate counts the
      orders sent). Not reproduced (``bench/qlib_parity.py`` runs both and names them): two
      steps of qlib have no defined order - on a day it has no candidate to buy, its unscored
      holdings go in Python's set order (it changes with ``PYTHONHASHSEED``), and equal scores
      in the order of numpy's unstable quicksort (machine dependent) - flyer uses the code order
      for both, which is qlib with the two pinned; qlib charges a sell max(0.15 % x value, 5)
      CNY, flyer max(0.05 % x value, 5) + 0.1 % x value (different below 10,000 CNY); qlib may
      overdraw cash by up to 0.1 share when the cash caps a buy, flyer's cash stays >= 0; qlib
      ranks scored suspended stocks (and skips their orders), flyer drops the scores of stocks
      not trading on the score date (``flyer.backtest.api.tradable_scores``).
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

    SECTION = "backtest"

    def __post_init__(self) -> None:
        choices = {"strategy": STRATEGIES, "deal_price": DEAL_PRICES, "weighting": WEIGHTINGS, "retry": RETRIES,
                   "remainder": REMAINDERS, "vwap_fill": VWAP_FILLS, "rules": RULES}
        for name, allowed in choices.items():
            v = getattr(self, name)
            check(v in allowed, f"backtest.{name}", f"must be one of {', '.join(allowed)}, got {v!r}")
        for name in ("k", "n_drop", "rebalance_every"):
            v = getattr(self, name)
            check(isinstance(v, int) and not isinstance(v, bool), f"backtest.{name}", f"must be an integer, got {v!r}")
        for name in ("participation", "capital", "active_limit"):
            v = getattr(self, name)
            check(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < float("inf"),
                  f"backtest.{name}", f"must be a finite number, got {v!r}")
        check(self.k >= 1, "backtest.k", f"must be >= 1, got {self.k}")
        check(0 <= self.n_drop <= self.k, "backtest.n_drop", f"must be in [0, k = {self.k}], got {self.n_drop}")
        check(self.rebalance_every >= 1, "backtest.rebalance_every", f"must be >= 1, got {self.rebalance_every}")
        check(0 <= self.participation <= 1, "backtest.participation",
              f"must be in [0, 1] (0 = unlimited), got {self.participation}")
        check(self.capital > 0, "backtest.capital", f"must be > 0 CNY, got {self.capital}")
        check(self.active_limit >= 0, "backtest.active_limit", f"must be >= 0, got {self.active_limit}")
        check(self.start is None or self.end is None or self.start <= self.end, "backtest.start",
              f"{self.start} is after end {self.end}")
        check(self.rules == "ashare" or (self.strategy == "topk" and self.weighting == "equal"
                                         and not self.rebalance_kept), "backtest.rules",
              "'qlib' reproduces qlib's TopkDropout: strategy topk, equal weighting, kept names not rebalanced")

    @property
    def charged_impact_k(self) -> float:
        """The square-root impact prefactor the engine charges: ``costs.impact_k`` with
        ``costs.impact="sqrt"``, else 0 (and 0 under qlib rules); the enhance optimiser prices
        its trades with the same (``flyer.backtest.params.Params.impact_k``)."""
        return self.costs.impact_k if self.costs.impact == "sqrt" and self.rules != "qlib" else 0.0

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
        """Plain JSON-able dict (dates as ISO strings); the ``enhance`` table only for that strategy."""
        d = super().to_dict()
        if self.strategy != "enhance":
            d.pop("enhance")
        for fee in ("management_fee", "custody_fee"):  # no fees: the key of a config without them
            if not d["costs"][fee]:
                d["costs"].pop(fee)
        return d

    @classmethod
    def normalise(cls, raw: dict[str, Any], where: str) -> dict[str, Any]:
        """Cost keys (``commission``, ...) and enhance keys (``te``, ...) may be given flat."""
        d = dict(raw)
        costs = d.pop("costs", None) or {}
        costs = costs.to_dict() if isinstance(costs, CostConfig) else dict(costs) if isinstance(costs, dict) else costs
        enhance = d.pop("enhance", None) or {}
        enhance = enhance.to_dict() if isinstance(enhance, EnhanceConfig) else dict(enhance) if isinstance(enhance, dict) else enhance
        for k in list(d):
            if k in COST_KEYS and isinstance(costs, dict):
                costs[k] = d.pop(k)
            elif k in ENHANCE_KEYS and isinstance(enhance, dict):
                enhance[k] = d.pop(k)
        if costs:
            d["costs"] = costs
        if enhance:
            d["enhance"] = enhance
        return d

    @classmethod
    def from_file(cls, path: Any, table: str | None = "backtest") -> "BacktestConfig":
        """A TOML/YAML file of settings (its ``[backtest]`` table when present)."""
        return super().from_file(path, table)


COST_KEYS = frozenset(f.name for f in dataclasses.fields(CostConfig))
