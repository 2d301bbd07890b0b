"""A-share execution rules as small pure numba functions (no labels, no config, no I/O).

Shares here are raw (exchange) shares, prices raw CNY, fee rates fractions. The rules follow
``../shared/reference/ashare_rules.md``; rates by date come from ``flyer.data.rules`` through the
arrays that ``flyer.backtest.market`` prepares.
"""
from __future__ import annotations

import numpy as np
from numba import njit

EPS_SHARES = 1e-6  # share counts within this of an integer are that integer (float noise)


@njit(cache=True)
def whole_shares_nb(raw: float) -> float:
    """Whole shares in a (possibly fractional, after a corporate action) raw holding."""
    return np.floor(raw + EPS_SHARES)


@njit(cache=True)
def buy_lot_nb(desired: float, min_lot: float, inc: float) -> float:
    """Largest valid buy size <= ``desired`` shares: multiples of ``inc``, at least ``min_lot``, else 0.

    Main/ChiNext/BSE: (100, 100); STAR: at least 200 then any whole number (200, 1).
    """
    if desired < min_lot - EPS_SHARES:
        return 0.0
    n = np.floor(desired / inc + EPS_SHARES) * inc
    return n if n >= min_lot else 0.0


@njit(cache=True)
def sell_lot_nb(desired: float, held: float, sellable: float, min_lot: float, inc: float) -> float:
    """Shares to sell for a wish to sell ``desired`` out of ``held`` (``sellable`` of them T+1-free).

    Sells are in lots (``inc``, at least ``min_lot``), except that selling the whole holding is
    always allowed (the odd remainder goes with it). Returns 0 when nothing valid can be sold.
    A holding that includes shares bought today (sellable < held) cannot be sold whole.
    """
    if sellable <= EPS_SHARES or desired <= EPS_SHARES:
        return 0.0
    if desired >= held - EPS_SHARES and sellable >= held - EPS_SHARES:
        return held
    n = np.floor(min(desired, sellable) / inc + EPS_SHARES) * inc
    if n < min_lot:
        return 0.0
    if n >= held - EPS_SHARES:
        return held
    return n


@njit(cache=True)
def fees_nb(value: float, is_sell: bool, commission: float, min_commission: float,
            stamp: float, transfer: float) -> tuple[float, float, float]:
    """(commission, stamp duty, transfer fee) in CNY for one order of ``value`` CNY."""
    comm = max(value * commission, min_commission)
    duty = value * stamp if is_sell else 0.0
    return comm, duty, value * transfer


@njit(cache=True)
def total_fee_nb(value: float, is_sell: bool, commission: float, min_commission: float,
                 stamp: float, transfer: float) -> float:
    """Sum of :func:`fees_nb`."""
    c, s, t = fees_nb(value, is_sell, commission, min_commission, stamp, transfer)
    return c + s + t


@njit(cache=True)
def affordable_nb(cash: float, price: float, want: float, min_lot: float, inc: float,
                  commission: float, min_commission: float, transfer: float) -> float:
    """Largest valid buy size <= ``want`` whose cost (value + commission + transfer) fits ``cash``.

    ``price`` is the fill price (slippage included). Returns 0 when not even ``min_lot`` fits.
    """
    n = buy_lot_nb(want, min_lot, inc)
    if n <= 0.0 or price <= 0.0:
        return 0.0
    rate = 1.0 + transfer
    cap = max(cash - min_commission, 0.0) / (price * rate)            # min commission binds
    cap = min(cap, cash / (price * (rate + commission)))              # proportional commission binds
    n = min(n, buy_lot_nb(cap, min_lot, inc))
    while n >= min_lot and n * price + total_fee_nb(n * price, False, commission, min_commission,
                                                    0.0, transfer) > cash:
        n -= inc
    return n if n >= min_lot else 0.0


@njit(cache=True)
def buy_blocked_nb(has_bar: bool, suspended: bool, deal: float, close: float, limit_up: float,
                   deal_is_open: bool) -> bool:
    """No buy without a bar, while suspended, or at limit-up.

    At limit-up means the deal price at/above the limit, or (close/VWAP deals) the close at it:
    a stock closing at its upper limit is not buyable that day. NaN limit = no limit.
    """
    if not has_bar or suspended:
        return True
    if np.isnan(limit_up):
        return False
    if deal >= limit_up - 1e-9:
        return True
    return (not deal_is_open) and close >= limit_up - 1e-9


@njit(cache=True)
def sell_blocked_nb(has_bar: bool, suspended: bool, deal: float, close: float, limit_down: float,
                    deal_is_open: bool) -> bool:
    """No sell without a bar, while suspended, or at limit-down (mirror of :func:`buy_blocked_nb`)."""
    if not has_bar or suspended:
        return True
    if np.isnan(limit_down):
        return False
    if deal <= limit_down + 1e-9:
        return True
    return (not deal_is_open) and close <= limit_down + 1e-9


# ------------------------------------------------------------ volume limit and market impact
@njit(cache=True)
def volume_cap_nb(volume: float, participation: float) -> float:
    """Most raw shares one fill may take on a day that traded ``volume`` raw shares:
    floor(participation x volume); ``inf`` when ``participation`` is 0 (unlimited), 0 when the
    day has no volume (NaN or 0)."""
    if participation <= 0.0:
        return np.inf
    if not volume > 0.0:
        return 0.0
    return np.floor(participation * volume + EPS_SHARES)


@njit(cache=True)
def impact_rate_nb(shares: float, price: float, adv: float, sigma: float, k: float) -> float:
    """Square-root market impact as a fraction of the fill value: ``k * sigma * sqrt(Q / adv)``
    with Q = ``shares`` x ``price`` (raw shares at the raw deal price, CNY), ``adv`` the average
    daily traded value (CNY) and ``sigma`` the daily volatility (fraction). 0 when ``k`` is 0 or the
    window is unknown (NaN ``adv``/``sigma``: a stock without trailing history)."""
    if k <= 0.0 or shares <= 0.0 or not adv > 0.0 or not sigma >= 0.0:
        return 0.0
    return k * sigma * np.sqrt(shares * price / adv)


@njit(cache=True)
def impact_cost_nb(shares: float, price: float, adv: float, sigma: float, k: float) -> float:
    """Impact of one fill in CNY: ``impact_rate_nb`` x Q (see there)."""
    return impact_rate_nb(shares, price, adv, sigma, k) * shares * price


@njit(cache=True)
def buy_cost_nb(n: float, fill: float, deal: float, commission: float, min_commission: float,
                transfer: float, adv: float, sigma: float, k: float) -> float:
    """Cash a buy of ``n`` raw shares takes: value at the ``fill`` price (slippage included),
    commission, transfer fee and the impact priced at the raw ``deal`` price (CNY)."""
    value = n * fill
    return (value + total_fee_nb(value, False, commission, min_commission, 0.0, transfer)
            + impact_cost_nb(n, deal, adv, sigma, k))


@njit(cache=True)
def affordable_impact_nb(cash: float, fill: float, deal: float, n_max: float, min_lot: float, inc: float,
                         commission: float, min_commission: float, transfer: float, adv: float,
                         sigma: float, k: float) -> float:
    """Largest valid buy size <= ``n_max`` (a valid size itself) whose :func:`buy_cost_nb` fits
    ``cash`` (bisection over lot counts: the cost rises with the size). 0 when none does."""
    if n_max < min_lot:
        return 0.0
    if buy_cost_nb(n_max, fill, deal, commission, min_commission, transfer, adv, sigma, k) <= cash:
        return n_max
    lo = np.ceil(min_lot / inc - EPS_SHARES)         # lot counts: lo fits (checked), hi does not
    hi = np.floor(n_max / inc + EPS_SHARES)
    if buy_cost_nb(lo * inc, fill, deal, commission, min_commission, transfer, adv, sigma, k) > cash:
        return 0.0
    while hi - lo > 1:
        mid = np.floor((lo + hi) / 2)
        if buy_cost_nb(mid * inc, fill, deal, commission, min_commission, transfer, adv, sigma, k) <= cash:
            lo = mid
        else:
            hi = mid
    return lo * inc
