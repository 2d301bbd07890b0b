"""A simulated A-share market: deterministic given a seed, generated in seconds, offline.

Dynamics (one pass over trading days, vectorised over stocks; see ``_simulate``):
  1. market return: GARCH(1,1) volatility (long-run ~1.4%/day) with Student-t(4) shocks, a
     small positive drift and a few crash episodes (10-25 days of strongly negative drift and
     doubled volatility);
  2. 28 industries with their own factor returns; size (small caps beat large on average but
     with their own noise) and value style factors with fixed per-stock loadings;
  3. fat-tailed idiosyncratic returns (Student-t(4)) with per-stock volatility 1.2%-3.2%,
     scaled by the market's volatility regime;
  4. volume co-moves with absolute returns and market volatility around a per-stock base
     turnover; amount = volume x a VWAP between low and high;
  5. price limits by board, ST status and date (``flyer.data.rules``): closes are clipped to the
     limit prices, so a close can sit at limit-up or limit-down; IPO days follow the rules
     for new listings; suspensions (flat bars, volume 0), ST periods (5% limit), IPOs after
     the start and delistings (after an ST period, or after 20 closes under 1 CNY, the
     par-value rule); cash dividends and bonus-share splits
     change the raw price and enter the back-adjustment factor;
  6. an optional liquidity crisis (off by default; ``SimConfig.crisis_start``): for
     ``crisis_days`` days from that date the market drifts down, idiosyncratic shocks share a
     common component (``crisis_correlation``: the correlation between stocks' residuals jumps),
     volume collapses to ``crisis_volume`` of normal, and each day a share ``crisis_limit_down``
     of stocks (small caps more often) is locked at limit-down (open = high = low = close =
     the limit price, almost no volume). Its random draws come from a generator of their own,
     so the market before the crisis is the default one;
  7. CSI 300 / CSI 500: reviewed every June and December, effective the next trading day after
     the second Friday, ranked by average total market cap over the last 250 days among
     non-ST stocks listed for 250+ days; ranks 1-300 and 301-800 (scaled down to 3/8 and 5/8
     of the first 40% of eligible stocks when the market has fewer than 2,000 of them).
     Weights are float-cap weights, snapshotted at each review and at each month start;
     index levels chain members' price returns (dividends excluded, as in 000905).

Planted predictability (documented strength). The expected return of stock i on day t+1 is
``alpha_i(t) + 0.5 * alpha_i(t-1)``, where, with z() a cross-sectional z-score over live stocks,
    alpha_i(t) = ALPHA_SCALE * ( 0.45 * -z(r5)                  # short-term reversal
                               + 0.35 * -z(z(r1) * z(vshock))   # volume-price interaction
                               + 0.45 * -(z(r20)^2 - 1)/sqrt2 )  # nonlinear: extreme movers lose
with r5 the 5-day return, r1 the 1-day return, vshock the log of volume over its 20-day mean
and r20 the 20-day return (all log returns of the adjusted close). ALPHA_SCALE = 0.0011 (0.11% a day) against a
cross-sectional return dispersion of about 2.3%, so the best possible daily RankIC is about
0.05-0.07 and a good model reaches a few percent. The r20 term is symmetric (both big
winners and big losers of the last 20 days lag): a linear model on r20 (e.g. Alpha158's ROC20)
finds almost nothing in it; trees and neural nets do.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import polars as pl
from flyer.data.calendar import sse_calendar
from flyer.data.coverage import CoverageRow, coverage_frame, span
from flyer.data.rules import (
    BSE_START,
    CHINEXT_REFORM,
    IPO_FREE_DAYS,
    MAIN_IPO_DOWN,
    MAIN_IPO_UP,
    MAIN_REGISTRATION,
    STAR_START,
)
from flyer.data.sources.base import Batch
from flyer.core.values import as_date

from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

ALPHA_SCALE = 0.0011
W_REVERSAL, W_VOLPRICE, W_NONLINEAR = 0.45, 0.35, 0.45
CSI300, CSI500 = "000300.SH", "000905.SH"
# The market is always simulated up to HORIZON_END on the offline calendar (``sse_calendar``,
# never the growing known calendar) and then cut at ``end``, so a run ending earlier is an
# exact prefix of a run ending later (the nightly job relies on this); an ``end`` after it is
# refused rather than silently cut short.
HORIZON_END = dt.date(2026, 12, 31)
INDUSTRIES = (
    "Agriculture", "Mining", "Chemicals", "Steel", "Nonferrous", "Electronics", "Autos",
    "Appliances", "Food&Beverage", "Textiles", "LightIndustry", "Pharma", "Utilities",
    "Transport", "RealEstate", "Retail", "Services", "Conglomerates", "BuildingMaterials",
    "Construction", "ElectricalEquip", "Machinery", "Defense", "Computers", "Media",
    "Telecom", "Banks", "NonbankFinance",
)


class SimError(FlyerError, ValueError):
    """Settings the simulator cannot honour (one line)."""


@dataclass(frozen=True)
class SimConfig:
    """Size and span of the simulated market (defaults: 800 stocks, 2016-2024)."""

    n_stocks: int = 800              # stocks over the simulation horizon (to 2026); those that
                                     # list after ``end`` are not in the output
    start: dt.date = dt.date(2016, 1, 1)
    end: dt.date = dt.date(2024, 12, 31)
    seed: int = 42
    ipo_fraction: float = 0.25       # share of stocks that list after ``start``
    delist_fraction: float = 0.03    # share that is delisted (after an ST spell)
    st_fraction: float = 0.04        # share with a temporary ST spell
    crisis_start: dt.date | None = None  # first day of a liquidity crisis (None = no crisis)
    crisis_days: int = 20            # its length in trading days
    crisis_volume: float = 0.15      # volume during the crisis, as a fraction of normal
    crisis_limit_down: float = 0.2   # share of stocks locked at limit-down each crisis day
    crisis_correlation: float = 0.8  # weight of the common shock in residual variance
    # fields the feed stops supplying (as the real data does after 2022-01-14; None: never):
    lose_amount_from: dt.date | None = None   # amount and market caps null from this date
    lose_st_from: dt.date | None = None       # ST flags stored False from this date (recorded
                                              # as an ``unknown`` coverage span)

    def __post_init__(self) -> None:
        if not 10 <= self.n_stocks <= 5000:
            raise SimError(f"n_stocks must be in [10, 5000], got {self.n_stocks}")
        if self.start < dt.date(2005, 1, 1) or self.end <= self.start:
            raise SimError(f"bad sim span {self.start}..{self.end} (start from 2005, end after start)")
        if self.crisis_start is not None:
            checks = [(self.crisis_days >= 1, f"crisis_days must be >= 1, got {self.crisis_days}"),
                      (0 < self.crisis_volume <= 1, f"crisis_volume must be in (0, 1], got {self.crisis_volume}"),
                      (0 <= self.crisis_limit_down <= 1, f"crisis_limit_down must be in [0, 1], got {self.crisis_limit_down}"),
                      (0 <= self.crisis_correlation <= 1, f"crisis_correlation must be in [0, 1], got {self.crisis_correlation}")]
            for ok, msg in checks:
                if not ok:
                    raise SimError(msg)
        if self.end > HORIZON_END:
            raise SimError(f"the simulated market runs through {HORIZON_END} (its fixed horizon, on the offline "
                           f"calendar), got end {self.end}")


@dataclass
class _Universe:
    """Static per-stock attributes (arrays of length N)."""

    symbols: list[str]
    board: np.ndarray          # object array of board names
    industry: np.ndarray       # int industry index
    list_idx: np.ndarray       # first trading-day index in the calendar (may be < 0: listed before)
    delist_idx: np.ndarray     # last trading-day index (T-1 when still listed)
    st_start: np.ndarray       # ST spell [st_start, st_end) in day indexes, -1 when none
    st_end: np.ndarray
    shares: np.ndarray         # total shares
    float_frac: np.ndarray
    base_turn: np.ndarray      # base daily turnover (fraction of float shares)
    idio_vol: np.ndarray
    beta: np.ndarray
    size_load: np.ndarray
    value_load: np.ndarray
    price0: np.ndarray


def _codes(rng: np.random.Generator, boards: np.ndarray) -> list[str]:
    """Unique canonical symbols per board (main SH/SZ, ChiNext, STAR, BSE)."""
    prefixes = {"main_sh": ["600", "601", "603", "605"], "main_sz": ["000", "001", "002", "003"],
                "chinext": ["300", "301"], "star": ["688"], "bse": ["430", "830", "870"]}
    suffix = {"main_sh": "SH", "main_sz": "SZ", "chinext": "SZ", "star": "SH", "bse": "BJ"}
    used: set[str] = set()
    out = []
    for b in boards:
        while True:
            code = f"{rng.choice(prefixes[b])}{rng.integers(1, 1000):03d}"
            if code not in used:
                used.add(code)
                out.append(f"{code}.{suffix[b]}")
                break
    return out


def _universe(cfg: SimConfig, dates: list[dt.date], rng: np.random.Generator) -> _Universe:
    n, t = cfg.n_stocks, len(dates)
    kinds = rng.choice(["main_sh", "main_sz", "chinext", "star", "bse"], size=n,
                       p=[0.40, 0.33, 0.17, 0.07, 0.03])
    date_arr = np.array(dates, dtype="datetime64[D]")
    first_ok = {"star": np.searchsorted(date_arr, np.datetime64(STAR_START)),
                "bse": np.searchsorted(date_arr, np.datetime64(BSE_START))}
    list_idx = np.zeros(n, dtype=np.int64)
    ipo = rng.random(n) < cfg.ipo_fraction
    for i, k in enumerate(kinds):
        lo = int(first_ok.get(k, 1))
        if k in first_ok and lo >= t - 60:   # board did not exist yet in this span
            kinds[i], k, lo = "main_sh", "main_sh", 1
        if k in first_ok or ipo[i]:
            list_idx[i] = rng.integers(max(lo, 1), max(lo + 2, t - 60))
        else:
            list_idx[i] = -int(rng.integers(60, 2500))
    delist_idx = np.full(n, t - 1)
    st_start = np.full(n, -1)
    st_end = np.full(n, -1)
    u = rng.random(n)
    for i in range(n):
        span_lo = max(list_idx[i], 0) + 120
        if span_lo >= t - 150:
            continue
        if u[i] < cfg.delist_fraction:
            st_start[i] = rng.integers(span_lo, t - 150)
            delist_idx[i] = min(t - 1, st_start[i] + int(rng.integers(120, 400)))
            st_end[i] = delist_idx[i] + 1
        elif u[i] < cfg.delist_fraction + cfg.st_fraction:
            st_start[i] = rng.integers(span_lo, t - 150)
            st_end[i] = st_start[i] + int(rng.integers(60, 300))
    board = np.array([{"main_sh": "main", "main_sz": "main"}.get(k, k) for k in kinds], dtype=object)
    log_cap = rng.normal(math.log(8e9), 1.1, n)
    price0 = np.exp(rng.normal(math.log(12.0), 0.7, n)).round(2).clip(2.0, 300.0)
    shares = np.exp(log_cap) / price0
    size_z = (log_cap - log_cap.mean()) / log_cap.std()
    return _Universe(
        symbols=_codes(rng, kinds), board=board, industry=rng.integers(0, len(INDUSTRIES), n),
        list_idx=list_idx, delist_idx=delist_idx, st_start=st_start, st_end=st_end,
        shares=shares, float_frac=rng.uniform(0.3, 1.0, n), base_turn=np.exp(rng.normal(math.log(0.012), 0.5, n)),
        idio_vol=rng.uniform(0.012, 0.032, n) * np.exp(-0.15 * size_z), beta=rng.normal(1.0, 0.25, n).clip(0.3, 1.8),
        size_load=-size_z, value_load=rng.normal(0, 1, n), price0=price0,
    )


def _zscore(x: np.ndarray, live: np.ndarray) -> np.ndarray:
    """Cross-sectional z-score over ``live`` entries; 0 elsewhere and for NaN."""
    out = np.zeros_like(x)
    v = x[live]
    ok = np.isfinite(v)
    if ok.sum() < 3:
        return out
    mu, sd = v[ok].mean(), v[ok].std()
    z = np.where(ok, (v - mu) / (sd if sd > 0 else 1.0), 0.0)
    out[live] = np.clip(z, -4, 4)
    return out


def _limits(u: _Universe, d: dt.date, day_no: np.ndarray, is_st: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(up, down) limit fractions per stock for date ``d``; inf where no limit applies."""
    up = np.where(is_st, 0.05, 0.10)
    free = day_no <= IPO_FREE_DAYS
    new_rules = (u.board == "star") | ((u.board == "chinext") & (d >= CHINEXT_REFORM))
    up = np.where(new_rules, np.where(free, np.inf, 0.2), up)
    up = np.where(u.board == "bse", np.where(day_no <= 1, np.inf, 0.3), up)
    main_free = (u.board == "main") & (d >= MAIN_REGISTRATION) & free
    up = np.where(main_free, np.inf, up)
    first_capped = (day_no == 1) & np.isfinite(up) & (u.board != "bse")
    down = np.where(first_capped, MAIN_IPO_DOWN, up)
    up = np.where(first_capped, MAIN_IPO_UP, up)
    return up, down


def _round(x: np.ndarray) -> np.ndarray:
    return np.floor(x * 100 + 0.5 - 1e-9) / 100


class _Path:
    """Output arrays (T, N) filled day by day."""

    @staticmethod
    def select(p: _Path, cols: np.ndarray) -> _Path:
        """The same path restricted to the stocks where ``cols`` is True."""
        q = object.__new__(_Path)
        q.__dict__.update({k: v[:, cols] for k, v in vars(p).items()})
        return q

    def __init__(self, t: int, n: int) -> None:
        self.open, self.high, self.low, self.close = (np.full((t, n), np.nan) for _ in range(4))
        self.volume, self.amount, self.factor, self.pret = (np.full((t, n), np.nan) for _ in range(4))
        self.susp = np.zeros((t, n), dtype=bool)
        self.st = np.zeros((t, n), dtype=bool)
        self.live = np.zeros((t, n), dtype=bool)
        self.shares = np.full((t, n), np.nan)


def _truncate(p: _Path, t: int) -> _Path:
    """The first ``t`` days of a path (views, no copy)."""
    q = object.__new__(_Path)
    q.__dict__.update({k: v[:t] for k, v in vars(p).items()})
    return q


def _market(rng: np.random.Generator, t: int) -> tuple[np.ndarray, np.ndarray]:
    """Market returns and volatility: GARCH(1,1) with t(4) shocks and crash episodes."""
    crash_drift = np.zeros(t)
    for _ in range(max(1, t // 1000)):
        s = int(rng.integers(60, max(61, t - 30)))
        ln = int(rng.integers(10, 20))
        crash_drift[s:s + ln] = -rng.uniform(0.005, 0.012)
    omega, a, b = 0.014 ** 2 * 0.03, 0.08, 0.89
    var = 0.014 ** 2
    ret, vol = np.zeros(t), np.zeros(t)
    shocks = rng.standard_t(4, t) / math.sqrt(2)
    for i in range(t):
        sig = math.sqrt(var) * (2.0 if crash_drift[i] < 0 else 1.0)
        ret[i] = 0.0001 + crash_drift[i] + sig * shocks[i]
        vol[i] = sig
        var = omega + a * (ret[i] - 0.0001) ** 2 + b * var
        var = min(var, 0.06 ** 2)
    return ret, vol


class _Crisis:
    """Step 6 of the module docstring: the crisis days and their own random draws."""

    def __init__(self, cfg: SimConfig, dates: list[dt.date], size_load: np.ndarray) -> None:
        first = next((i for i, d in enumerate(dates) if d >= cfg.crisis_start), len(dates)) \
            if cfg.crisis_start is not None else len(dates)
        self.lo, self.hi = first, first + cfg.crisis_days if cfg.crisis_start is not None else first
        self.cfg = cfg
        self.rng = np.random.default_rng([cfg.seed, 0xC815])
        small = 1 / (1 + np.exp(-size_load))          # small caps (high size loading) lock more often
        self.lock_p = np.clip(cfg.crisis_limit_down * 2 * small, 0, 1)

    def on(self, i: int) -> bool:
        return self.lo <= i < self.hi

    def shock(self, r: np.ndarray, idio: np.ndarray, u: _Universe) -> tuple[np.ndarray, np.ndarray]:
        """(returns, locked at limit-down) of a crisis day: the residuals get a common part
        (correlation ``crisis_correlation``) and the market a -1 %/day drift."""
        c = self.cfg.crisis_correlation
        common = self.rng.standard_t(4) / math.sqrt(2) * u.idio_vol
        r = r - idio + math.sqrt(1 - c) * idio + math.sqrt(c) * common - 0.01 * u.beta
        return r, self.rng.random(r.shape[0]) < self.lock_p


def _simulate(cfg: SimConfig, dates: list[dt.date], u: _Universe, rng: np.random.Generator) -> _Path:
    """Run the day loop (steps 1-6 of the module docstring)."""
    t, n = len(dates), cfg.n_stocks
    p = _Path(t, n)
    crisis = _Crisis(cfg, dates, u.size_load)
    mret, mvol = _market(rng, t)
    ind_ret = rng.standard_t(5, (t, len(INDUSTRIES))) * 0.007
    size_ret = rng.normal(0.00005, 0.004, t)
    value_ret = rng.normal(0.0, 0.003, t)
    close = u.price0.copy()
    factor = np.ones(n)
    shares = u.shares.copy()
    hist_r = np.zeros((t, n))
    hist_lv = np.zeros((t, n))
    prev_alpha = np.zeros(n)
    alpha = np.zeros(n)
    susp_left = np.zeros(n, dtype=int)
    div_month_day = rng.integers(0, 40, n)
    pays_div = rng.random(n) < 0.6
    div_yield = rng.uniform(0.005, 0.03, n)
    below_par = np.zeros(n, dtype=int)
    for i, d in enumerate(dates):
        live = (u.list_idx <= i) & (u.delist_idx >= i)
        day_no = i - u.list_idx + 1
        is_st = (u.st_start >= 0) & (u.st_start <= i) & (i < u.st_end)
        # corporate actions: dividends in Jun/Jul, rare 10-for-10 bonus shares
        exdiv = pays_div & live & (day_no > 1) & (d.month == 6) & (d.day == 1 + div_month_day % 28)
        split = live & (day_no > 250) & (rng.random(n) < 0.0002)
        ref = close.copy()
        ref = np.where(exdiv, _round(ref * (1 - div_yield)), ref)
        ref = np.where(split, _round(ref / 2), ref)
        factor = factor * np.where(exdiv | split, close / np.maximum(ref, 0.01), 1.0)
        shares = np.where(split, shares * 2, shares)
        # suspensions
        start_susp = live & (susp_left == 0) & (day_no > 5) & (rng.random(n) < 1 / 1500)
        susp_left = np.where(start_susp, rng.geometric(0.2, n).clip(1, 60), susp_left)
        susp = live & (susp_left > 0) & (day_no > 1)
        susp_left = np.maximum(susp_left - live, 0)
        # returns
        regime = mvol[i] / 0.014
        idio = rng.standard_t(4, n) / math.sqrt(2) * u.idio_vol * (0.6 + 0.4 * regime)
        r = (u.beta * mret[i] + ind_ret[i, u.industry] + u.size_load * size_ret[i]
             + u.value_load * value_ret[i] + idio + alpha + 0.5 * prev_alpha)
        r = np.where(is_st, r - 0.001, r)
        ipo_day = day_no == 1
        r = np.where(ipo_day, rng.uniform(0.2, 1.2, n), r)
        locked = np.zeros(n, dtype=bool)
        if crisis.on(i):
            r, locked = crisis.shock(r, idio, u)
        up, down = _limits(u, d, day_no, is_st)
        hi_lim = np.where(np.isfinite(up), _round(ref * (1 + np.minimum(up, 10))), np.inf)
        lo_lim = np.where(np.isfinite(down), _round(ref * (1 - np.minimum(down, 0.99))), 0.01)
        locked &= np.isfinite(down) & ~ipo_day
        new_close = np.clip(_round(ref * np.exp(r)), np.maximum(lo_lim, 0.01), hi_lim)
        gap = np.clip(_round(ref * np.exp(0.35 * r + rng.normal(0, 0.004, n))), np.maximum(lo_lim, 0.01), hi_lim)
        wig = np.abs(rng.normal(0, 0.6, (2, n))) * u.idio_vol * (0.5 + 0.5 * regime)
        hi = np.minimum(_round(np.maximum(gap, new_close) * (1 + wig[0])), hi_lim)
        lo = np.maximum(_round(np.minimum(gap, new_close) * (1 - wig[1])), np.maximum(lo_lim, 0.01))
        hi, lo = np.maximum(hi, np.maximum(gap, new_close)), np.minimum(lo, np.minimum(gap, new_close))
        turn = u.base_turn * np.exp(8 * np.abs(np.log(new_close / ref)) + 0.3 * (regime - 1) + rng.normal(0, 0.3, n))
        turn = np.where(ipo_day, 0.5, turn)
        if crisis.on(i):
            floor = np.maximum(lo_lim, 0.01)
            new_close, gap = np.where(locked, floor, new_close), np.where(locked, floor, gap)
            hi, lo = np.where(locked, floor, hi), np.where(locked, floor, lo)
            turn = turn * np.where(locked, 0.02, 1.0) * cfg.crisis_volume
        vol = np.maximum(np.round(shares * u.float_frac * turn / 100) * 100, 100)
        vwap = np.clip(lo + (hi - lo) * rng.uniform(0.3, 0.7, n), lo, hi)
        # suspended days: flat bar at the last close, nothing traded
        new_close = np.where(susp, ref, new_close)
        for arr, val in ((p.open, gap), (p.high, hi), (p.low, lo), (p.close, new_close)):
            arr[i] = np.where(live, np.where(susp, ref, val), np.nan)
        p.volume[i] = np.where(live, np.where(susp, 0.0, vol), np.nan)
        p.amount[i] = np.where(live, np.where(susp, 0.0, np.round(vol * vwap, 2)), np.nan)
        p.factor[i], p.susp[i], p.st[i], p.live[i], p.shares[i] = factor, susp & live, is_st, live, shares
        price_ret = np.where(ipo_day, np.nan, new_close * np.where(split, 2.0, 1.0) / np.maximum(close, 0.01) - 1)
        p.pret[i] = np.where(live & ~susp, price_ret, 0.0)
        # state for the planted signal
        tot = np.where(live & ~susp & ~ipo_day, np.log(new_close / ref), 0.0)
        hist_r[i] = tot
        hist_lv[i] = np.where(live & ~susp, np.log(vol), np.nan)
        close = np.where(live, new_close, close)
        # par-value delisting: 20 consecutive closes under 1 CNY end the listing that day
        below_par = np.where(live & (close < 1.0), below_par + 1, 0)
        u.delist_idx = np.where(below_par >= 20, i, u.delist_idx)
        prev_alpha = alpha
        alpha = _alpha(hist_r, hist_lv, i, live & ~susp & (day_no > 20))
    return p


def _alpha(hist_r: np.ndarray, hist_lv: np.ndarray, i: int, ok: np.ndarray) -> np.ndarray:
    """Planted expected-return component for day i+1 from information up to day i."""
    if i < 21:
        return np.zeros(hist_r.shape[1])
    r1 = hist_r[i]
    r5 = hist_r[i - 4:i + 1].sum(axis=0)
    r20 = hist_r[i - 19:i + 1].sum(axis=0)
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows of suspended stocks
        vshock = hist_lv[i] - np.nanmean(hist_lv[i - 20:i], axis=0)
    zm = _zscore(r20, ok)
    a = (W_REVERSAL * -_zscore(r5, ok)
         + W_VOLPRICE * -_zscore(_zscore(r1, ok) * _zscore(np.nan_to_num(vshock), ok), ok)
         + W_NONLINEAR * -(zm ** 2 - 1) / math.sqrt(2))
    return np.where(ok, ALPHA_SCALE * a, 0.0)


def generate(cfg: SimConfig = SimConfig()) -> dict[str, pl.DataFrame]:
    """Simulate the market; returns table frames (``flyer.data.schema``) ready for ``MarketStore.write``."""
    rng = np.random.default_rng(cfg.seed)
    horizon = sse_calendar(cfg.start, max(cfg.end, HORIZON_END))
    dates = [d for d in horizon if d <= cfg.end]
    if len(dates) < 60:
        raise SimError(f"sim span {cfg.start}..{cfg.end} has only {len(dates)} trading days (need 60)")
    u = _universe(cfg, horizon, rng)
    books = _book_params(cfg.seed, cfg.n_stocks, u.value_load)  # own generator: the market path is unchanged
    p = _truncate(_simulate(cfg, horizon, u, rng), len(dates))
    keep = u.list_idx < len(dates)            # stocks that list after ``end`` do not exist yet
    books = {k: v[keep] for k, v in books.items()}
    kept: dict[str, Any] = {k: ([x for x, ok in zip(v, keep) if ok] if isinstance(v, list) else v[keep])
                            for k, v in vars(u).items()}
    u = _Universe(**kept)
    p = _Path.select(p, keep)
    bars = _bars_frame(dates, u, p)
    members, index_bars = _indexes(dates, u, p)
    st_last = set(bars.filter((pl.col("date") == dates[-1]) & pl.col("is_st"))["symbol"].to_list())
    instruments = _instruments(dates, u, st_last)
    fundamentals = _fundamentals(bars, u.symbols, books)
    bars, coverage = _lose_fields(cfg, bars)
    return {
        "calendar": pl.DataFrame({"date": dates}, schema={"date": pl.Date}),
        "instruments": instruments,
        "bars": bars,
        "index_bars": index_bars,
        "index_members": members,
        "industries": _industries(instruments),
        "fundamentals": fundamentals,
        **({"coverage": coverage} if coverage.height else {}),
    }


def _lose_fields(cfg: SimConfig, bars: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Bars with the fields ``cfg`` makes vanish removed from their date on, and the coverage
    rows that say so (ST flags stored False are ``unknown``; amount and caps are simply null)."""
    rows: list[CoverageRow] = []
    last = as_date(bars["date"].max())
    if cfg.lose_amount_from is not None:
        gone = pl.col("date") >= cfg.lose_amount_from
        bars = bars.with_columns(pl.when(gone).then(None).otherwise(pl.col(c)).alias(c)
                                 for c in ("amount", "total_cap", "float_cap"))
    if cfg.lose_st_from is not None and cfg.lose_st_from <= last:
        bars = bars.with_columns(pl.when(pl.col("date") >= cfg.lose_st_from).then(False)
                                 .otherwise(pl.col("is_st")).alias("is_st"))
        rows.append(span("st", "*", "unknown", cfg.lose_st_from, last, "sim feed without ST flags (stored False)", "sim"))
    return bars, coverage_frame(rows)


@functools.lru_cache(maxsize=4)
def _generated(cfg: SimConfig) -> dict[str, pl.DataFrame]:
    """``generate(cfg)`` once per process: the nightly job cuts the same market night after night."""
    return generate(cfg)


def as_known_on(frames: dict[str, pl.DataFrame], since: dt.date | None, until: dt.date) -> dict[str, pl.DataFrame]:
    """The sim feed as known on ``until``: rows dated in ``(since, until]`` (all up to ``until``
    when ``since`` is None), instruments cut back to what was known that day: listed by then,
    delisting dates only when past, the ST prefix as of ``until``."""
    in_span = pl.col("date") <= until if since is None else pl.col("date").is_between(since, until, closed="right")
    st_today = frames["bars"].filter(pl.col("date") == until).select("symbol", "is_st")
    inst = (frames["instruments"].filter(pl.col("list_date") <= until)
            .join(st_today, on="symbol", how="left")
            .with_columns(
                pl.when(pl.col("delist_date") <= until).then(pl.col("delist_date")).otherwise(None).alias("delist_date"),
                pl.when(pl.col("is_st").fill_null(False))
                .then(pl.lit("*ST ") + pl.col("name").str.strip_prefix("*ST "))
                .otherwise(pl.col("name").str.strip_prefix("*ST ")).alias("name"))
            .drop("is_st"))
    return {
        "calendar": frames["calendar"].filter(pl.col("date") <= until),
        "instruments": inst,
        "bars": frames["bars"].filter(in_span),
        "index_bars": frames["index_bars"].filter(in_span),
        "index_members": frames["index_members"].filter(in_span),
        "industries": frames["industries"].filter(pl.col("start_date") <= until),
        "fundamentals": frames["fundamentals"].filter(in_span),
    }


@dataclass(frozen=True)
class SimSource:
    """Source ``sim``: the simulated market of ``stocks`` stocks over ``start..end`` (seeded).

    Read whole (a plain ``flyer ingest``) it is the market as of ``end``; read with
    ``until`` (the nightly job) it is the feed as known that day (``as_known_on``)."""

    kind: ClassVar[str] = "sim"
    stocks: int = 800
    seed: int = 42
    start: dt.date = dt.date(2016, 1, 1)
    end: dt.date = dt.date(2024, 12, 31)
    crisis_start: dt.date | None = None   # a liquidity crisis (see SimConfig), off by default
    crisis_days: int = 20
    crisis_volume: float = 0.15
    crisis_limit_down: float = 0.2
    crisis_correlation: float = 0.8
    lose_amount_from: dt.date | None = None
    lose_st_from: dt.date | None = None

    def __post_init__(self) -> None:
        """Every setting checked where it enters (``SimConfig``'s checks), before any work."""
        from flyer.core.config import ConfigError

        try:
            self.config()
        except (SimError, TypeError, ValueError) as exc:
            raise ConfigError(str(exc).splitlines()[0].replace("n_stocks", "stocks")) from None

    def config(self) -> SimConfig:
        return SimConfig(n_stocks=self.stocks, start=self.start, end=self.end, seed=self.seed,
                         crisis_start=self.crisis_start, crisis_days=self.crisis_days,
                         crisis_volume=self.crisis_volume, crisis_limit_down=self.crisis_limit_down,
                         crisis_correlation=self.crisis_correlation,
                         lose_amount_from=self.lose_amount_from, lose_st_from=self.lose_st_from)

    def read(self, store: MarketStore, since: dt.date | None = None, until: dt.date | None = None) -> Batch:
        cfg = self.config()
        if since is None and until is None:
            return Batch(generate(cfg), cfg.start, cfg.end)
        day = min(until or cfg.end, cfg.end)
        if until is not None and until > cfg.end:
            raise FlyerError(f"the sim feed ends on {cfg.end}; no data for {until}")
        return Batch(as_known_on(_generated(cfg), since, day), since, day)


def _bars_frame(dates: list[dt.date], u: _Universe, p: _Path) -> pl.DataFrame:
    """Long bars frame sorted by (symbol, date), built without a sort: stocks are laid out in
    symbol order, each stock's days contiguous."""
    t, n = p.close.shape
    order = np.argsort(np.array(u.symbols), kind="stable")
    mask = p.live[:, order].T.ravel()

    def flat(a: np.ndarray) -> np.ndarray:
        return a[:, order].T.ravel()[mask]

    pos = np.repeat(np.arange(n), t)[mask]          # position in symbol order
    sid = order[pos]
    sorted_symbols = pl.Series("symbol", [u.symbols[j] for j in order], dtype=pl.Utf8)
    close = flat(p.close)
    shares = flat(p.shares)
    return pl.DataFrame({
        "symbol": sorted_symbols.gather(pos),
        "date": pl.Series(np.tile(np.array(dates, dtype="datetime64[D]"), n)[mask]).cast(pl.Date),
        "open": flat(p.open), "high": flat(p.high), "low": flat(p.low), "close": close,
        "volume": flat(p.volume), "amount": flat(p.amount), "adj_factor": flat(p.factor),
        "is_st": flat(p.st), "is_suspended": flat(p.susp),
        "total_cap": close * shares,
        "float_cap": close * shares * u.float_frac[sid],
    })


def _instruments(dates: list[dt.date], u: _Universe, st_last: set[str]) -> pl.DataFrame:
    """One row per stock; the name carries ``*ST`` exactly when its bar on the last day is ST
    (``st_last``), the rule ``as_known_on`` applies night by night."""
    t = len(dates)
    first = [dates[max(i, 0)] if i >= 0 else dates[0] - dt.timedelta(days=int(-i * 1.45)) for i in u.list_idx]
    names = [f"{'*ST ' if u.symbols[i] in st_last else ''}Sim {INDUSTRIES[u.industry[i]]} {k:04d}"
             for k, i in enumerate(range(len(u.symbols)))]
    return pl.DataFrame({
        "symbol": u.symbols,
        "name": names,
        "exchange": [s.split(".")[1] for s in u.symbols],
        "board": list(u.board),
        "industry": [INDUSTRIES[k] for k in u.industry],
        "list_date": first,
        "delist_date": [dates[j] if j < t - 1 else None for j in u.delist_idx],
    }, schema={"symbol": pl.Utf8, "name": pl.Utf8, "exchange": pl.Utf8, "board": pl.Utf8,
               "industry": pl.Utf8, "list_date": pl.Date, "delist_date": pl.Date})


def _industries(instruments: pl.DataFrame) -> pl.DataFrame:
    """The sim's classification (standard ``sim``, level 1): each stock stays in its industry
    from its listing on (the sim has no reclassifications)."""
    codes = {name: f"S{k + 1:02d}" for k, name in enumerate(INDUSTRIES)}
    return instruments.select(
        "symbol", pl.lit("sim").alias("standard"), pl.lit(1, pl.Int32).alias("level"),
        pl.col("industry").replace_strict(codes).alias("code"), pl.col("industry").alias("name"),
        pl.col("list_date").alias("start_date"), pl.lit(None, pl.Date).alias("end_date"))


def _book_params(seed: int, n: int, value_load: np.ndarray) -> dict[str, np.ndarray]:
    """Per-stock accounting parameters, from a generator of their own: the starting
    price-to-book (cheap stocks load on the value style), return on equity and sales / book."""
    rng = np.random.default_rng([seed, 0xB00C])
    return {"pb0": np.exp(0.6 - 0.45 * value_load + rng.normal(0.0, 0.3, n)),
            "roe": rng.normal(0.08, 0.07, n), "sales_to_book": np.exp(rng.normal(-0.3, 0.5, n))}


def _fundamentals(bars: pl.DataFrame, symbols: list[str], books: dict[str, np.ndarray]) -> pl.DataFrame:
    """Daily PE (TTM), PB (MRQ), PS (TTM), turnover rate and share counts for every bar row.

    Book value per (adjusted) share starts so that PB equals ``pb0`` on the stock's first day and
    grows by ROE/4 at each quarterly report, published a month after the quarter ends (so PB
    steps on report days and moves with the price in between); earnings and sales are ROE and
    ``sales_to_book`` times book. Loss makers (ROE < 0) have a negative PE, as vendors report."""
    params = pl.DataFrame({"symbol": symbols, **books})
    adj_close = pl.col("close") * pl.col("adj_factor")
    shifted = pl.col("date").dt.offset_by("-1mo")  # reports come a month after the quarter
    quarter = shifted.dt.year() * 4 + (shifted.dt.month() - 1) // 3
    q0 = quarter.first().over("symbol")
    book = (adj_close.first().over("symbol") / pl.col("pb0")) * (1 + pl.col("roe") / 4) ** (quarter - q0)
    pb = adj_close / book
    return (bars.join(params, on="symbol", how="left", maintain_order="left")
            .select("symbol", "date",
                    pl.when(pl.col("roe") != 0).then(pb / pl.col("roe")).alias("pe_ttm"),
                    pb.alias("pb_mrq"), (pb / pl.col("sales_to_book")).alias("ps_ttm"),
                    (pl.col("volume") / (pl.col("float_cap") / pl.col("close"))).alias("turnover_rate"),
                    (pl.col("total_cap") / pl.col("close")).alias("total_shares"),
                    (pl.col("float_cap") / pl.col("close")).alias("float_shares")))


def _review_days(dates: list[dt.date]) -> list[int]:
    """Indexes of CSI review effective days: next trading day after June/Dec's second Friday."""
    out = []
    for year in sorted({d.year for d in dates}):
        for month in (6, 12):
            first = dt.date(year, month, 1)
            second_friday = first + dt.timedelta(days=(4 - first.weekday()) % 7 + 7)
            nxt = next((k for k, d in enumerate(dates) if d > second_friday), None)
            if nxt is not None:
                out.append(nxt)
    return out


def _indexes(dates: list[dt.date], u: _Universe, p: _Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Membership snapshots (reviews + month starts) and index bars for CSI 300/500."""
    t, n = p.close.shape
    cap = np.nan_to_num(p.close * p.shares)
    fcap = cap * u.float_frac
    csum = np.cumsum(cap, axis=0)
    reviews = set(_review_days(dates)) | {0}
    month_starts = {k for k in range(1, t) if dates[k].month != dates[k - 1].month}
    members = {CSI300: np.zeros(n, bool), CSI500: np.zeros(n, bool)}
    snaps: list[pl.DataFrame] = []
    levels: dict[str, list[float]] = {CSI300: [], CSI500: []}
    weights = {c: np.zeros(n) for c in members}
    level = {CSI300: 1000.0, CSI500: 1000.0}
    in_index = {c: np.zeros((t, n), dtype=bool) for c in members}
    for k in range(t):
        if k in reviews:
            lo = max(0, k - 250)
            avg = (csum[k - 1] - (csum[lo - 1] if lo > 0 else 0)) / max(k - lo, 1) if k > 0 else cap[0]
            age = k - u.list_idx
            ok = p.live[k] & ~p.st[k] & (age >= 250)
            ranked = np.argsort(-np.where(ok, avg, -np.inf))[: ok.sum()]
            n300, n500 = (300, 500) if ok.sum() >= 2000 else (int(ok.sum() * 0.15), int(ok.sum() * 0.25))
            members[CSI300] = np.isin(np.arange(n), ranked[:n300])
            members[CSI500] = np.isin(np.arange(n), ranked[n300:n300 + n500])
        for code, m in members.items():
            if k > 0:  # chain yesterday's weights with today's price returns
                level[code] *= 1 + float(np.nansum(weights[code] * p.pret[k]))
            mm = m & p.live[k]
            in_index[code][k] = mm
            w = np.where(mm, fcap[k], 0.0)
            weights[code] = w / w.sum() if w.sum() > 0 else w
            levels[code].append(level[code])
            if k in reviews or k in month_starts:
                idx = np.flatnonzero(mm)
                snaps.append(pl.DataFrame({"index_code": code, "date": dates[k],
                                           "symbol": [u.symbols[j] for j in idx], "weight": weights[code][idx]},
                                          schema={"index_code": pl.Utf8, "date": pl.Date, "symbol": pl.Utf8,
                                                  "weight": pl.Float64}))
    bars = []
    for code, lv in levels.items():
        close = np.array(lv)
        prev = np.concatenate([[close[0]], close[:-1]])
        held = in_index[code]
        bars.append(pl.DataFrame({
            "index_code": code, "date": dates, "open": _round(prev * (1 + (close / prev - 1) * 0.3)),
            "close": _round(close), "volume": np.nansum(np.where(held, p.volume, 0), axis=1),
            "amount": np.nansum(np.where(held, p.amount, 0), axis=1)},
            schema_overrides={"date": pl.Date}))
    frame = pl.concat(bars).with_columns(
        pl.max_horizontal("open", "close").mul(1.003).round(2).alias("high"),
        pl.min_horizontal("open", "close").mul(0.997).round(2).alias("low"))
    return pl.concat(snaps), frame.select("index_code", "date", "open", "high", "low", "close", "volume", "amount")
