"""What the numba kernels know of a ``BacktestConfig``: one ``Params`` NamedTuple of (G,) arrays.

Row g of every field is portfolio g of a run (G = 1) or a sweep (G = grid points); the kernels
read ``params.k[g]``, ``params.commission[g]``, ... . Adding a setting the kernels use is one
change here: a field of :class:`Params` and the line in :meth:`Params.from_configs` that fills
it from ``BacktestConfig``.
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np

from flyer.backtest.config import QLIB_CLOSE_COST, QLIB_MIN_COST, QLIB_OPEN_COST, QLIB_RISK_DEGREE, BacktestConfig
from flyer.backtest.strategies import EQUAL, SCORE
from flyer.backtest.strategy import strategy_for

RETRY_REBALANCE, RETRY_NEXT_DAY = 0, 1
RULES_ASHARE, RULES_QLIB = 0, 1
WEIGHTINGS = {"equal": EQUAL, "score": SCORE}
RETRIES = {"next_rebalance": RETRY_REBALANCE, "next_day": RETRY_NEXT_DAY}
REMAINDER_CARRY, REMAINDER_CANCEL = 0, 1
REMAINDERS = {"carry": REMAINDER_CARRY, "cancel": REMAINDER_CANCEL}


class Params(NamedTuple):
    """Per-portfolio settings, each an (G,) array (see ``BacktestConfig`` for their meaning)."""

    mode: np.ndarray             # int64 ``strategies.MODE_*`` of ``strategy``
    k: np.ndarray                # int64 names held (top-k)
    n_drop: np.ndarray           # int64 names swapped per rebalance (top-k)
    weighting: np.ndarray        # int64 ``strategies.EQUAL`` / ``SCORE``
    rebalance_kept: np.ndarray   # bool: kept names are traded back to their weight
    rebalance_every: np.ndarray  # int64: trade on every n-th day that has scores
    retry: np.ndarray            # int64 ``RETRY_REBALANCE`` / ``RETRY_NEXT_DAY``
    capital: np.ndarray          # float64 starting cash, CNY
    commission: np.ndarray       # float64 fraction of traded value
    min_commission: np.ndarray   # float64 CNY per order
    slippage: np.ndarray         # float64 fraction (bps / 1e4)
    stamp_duty: np.ndarray       # float64 1.0 = seller stamp duty by date, 0.0 = none
    transfer_fee: np.ndarray     # float64 1.0 = transfer fee by date and exchange, 0.0 = none
    participation: np.ndarray    # float64 max fraction of the day's volume per fill, 0 = unlimited
    remainder: np.ndarray        # int64 ``REMAINDER_CARRY`` / ``REMAINDER_CANCEL``
    impact_k: np.ndarray         # float64 square-root impact prefactor, 0.0 = no impact
    rules: np.ndarray            # int64 ``RULES_ASHARE`` / ``RULES_QLIB`` (sizing of buys)
    risk_degree: np.ndarray      # float64 share of cash qlib rules spend on a day's buys

    @classmethod
    def from_configs(cls, configs: Sequence[BacktestConfig]) -> "Params":
        """One row per config, in order."""
        def col(values: list, dtype: type) -> np.ndarray:
            return np.array(values, dtype=dtype).reshape(len(configs))

        qlib = [c.rules == "qlib" for c in configs]
        pick = lambda c, q, a: q if c.rules == "qlib" else a  # noqa: E731 - qlib's costs replace the config's
        return cls(
            mode=col([strategy_for(c.strategy).mode for c in configs], np.int64),
            k=col([c.k for c in configs], np.int64),
            n_drop=col([c.n_drop for c in configs], np.int64),
            weighting=col([WEIGHTINGS[c.weighting] for c in configs], np.int64),
            rebalance_kept=col([c.rebalance_kept for c in configs], np.bool_),
            rebalance_every=col([c.rebalance_every for c in configs], np.int64),
            retry=col([RETRIES[c.retry] for c in configs], np.int64),
            capital=col([c.capital for c in configs], np.float64),
            commission=col([pick(c, QLIB_OPEN_COST, c.costs.commission) for c in configs], np.float64),
            min_commission=col([pick(c, QLIB_MIN_COST, c.costs.min_commission) for c in configs], np.float64),
            slippage=col([pick(c, 0.0, c.costs.slippage_bps / 1e4) for c in configs], np.float64),
            # qlib rules: the market's stamp array holds the flat extra sell cost (close - open)
            stamp_duty=col([pick(c, 1.0, float(c.costs.stamp_duty)) for c in configs], np.float64),
            transfer_fee=col([pick(c, 0.0, float(c.costs.transfer_fee)) for c in configs], np.float64),
            rules=col([RULES_QLIB if q else RULES_ASHARE for q in qlib], np.int64),
            risk_degree=col([QLIB_RISK_DEGREE if q else 1.0 for q in qlib], np.float64),
            # qlib rules: no volume limit and no market impact (qlib's exchange defaults)
            participation=col([pick(c, 0.0, c.participation) for c in configs], np.float64),
            remainder=col([REMAINDERS[c.remainder] for c in configs], np.int64),
            impact_k=col([c.charged_impact_k for c in configs], np.float64),
        )

    @property
    def n_groups(self) -> int:
        return int(self.k.shape[0])


class Applied(NamedTuple):
    """The execution rules a run applied (what a printout should state), from ``config``: under
    ``rules="qlib"`` qlib's exchange replaces the config's costs and limits.

    participation: max fraction of the day's volume per fill (0 = no volume limit);
    impact_k: square-root impact prefactor (0 = no impact); buy_cost / sell_cost: fractions of
    the traded value (``sell_cost`` None: commission plus the dated stamp duty and transfer fee);
    min_cost: CNY per order; limit: ``board`` (A-share limit prices by board, ST and listing
    age) or ``flat 9.5%`` (qlib: |close change| >= 9.5 % blocks both sides);
    cash_share: share of the cash after sells a day's new buys split (1.0: 1/k of NAV each);
    delisted: ``sold`` (at the last close) or ``held`` (qlib: kept at the last close).
    """

    rules: str
    participation: float
    impact_k: float
    buy_cost: float
    sell_cost: float | None
    min_cost: float
    limit: str
    cash_share: float
    delisted: str


def applied(config: BacktestConfig) -> Applied:
    """What :class:`Params` makes of ``config`` (see :class:`Applied`)."""
    p = Params.from_configs([config])
    qlib = config.rules == "qlib"
    return Applied(rules=config.rules, participation=float(p.participation[0]), impact_k=float(p.impact_k[0]),
                   buy_cost=float(p.commission[0]), sell_cost=QLIB_CLOSE_COST if qlib else None,
                   min_cost=float(p.min_commission[0]), limit="flat 9.5%" if qlib else "board",
                   cash_share=float(p.risk_degree[0]) if qlib else 1.0, delisted="held" if qlib else "sold")
