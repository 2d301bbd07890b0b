"""A slow, obvious reference simulator written from the rules alone (loops and dicts).

It shares no code with the engine except the rule tables of ``flyer.data.rules`` (limit fractions,
stamp duty and transfer fee by date, lot sizes). Holdings are raw shares, scaled by
adj[t]/adj[t-1] when a stock's adj_factor changes (dividends and splits reinvested). Used only
by tests to check ``flyer.backtest.engine`` (NAV agreement to 1e-6), never for speed.

Daily sequence (the engine's contract):
  1. scale holdings (and pending targets) on adj_factor changes;
  2. on a rebalance day, plan targets from the previous day's scores, sized on the NAV before
     the day's trades (a delisted holding counts at its last close); a carried rest of a
     capped order stays for a name the plan does not trade (``remainder="carry"``), all else
     is replaced; otherwise keep targets that were blocked (retry ``next_day``) or forget them
     (``next_rebalance``), carried rests always stay;
  3. sell a holding whose stock had its last bar yesterday at that last close (no slippage);
  4. sells (symbol order), then buys (best score first); a blocked stock keeps its target; a
     fill takes at most floor(participation x the day's volume) shares, and when that cut the
     order (in lots) its target is carried to the next day; market impact
     ``k * sigma * sqrt(shares * price / ADV)`` of the fill value is paid on top of the fees,
     ADV (mean volume x close) / sigma from the stock's 20 traded bars before the day;
  5. NAV = cash + shares x close (the last close when there is no bar).
"""
from __future__ import annotations

import datetime as dt
import math

from typing import TYPE_CHECKING

import polars as pl

from flyer.backtest.config import BacktestConfig
from flyer.backtest.strategies import MODE_TOPK, tie_keys
from flyer.backtest.strategy import strategy_for
from flyer.data import rules
from flyer.data.symbols import board_of

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

TINY = 1e-9
EPS = 1e-6
WINDOW = 20     # traded bars behind ADV and sigma (the engine's market.LIQUIDITY_WINDOW)
LOOKBACK = 25   # trading days loaded before the start (the engine's market.LOOKBACK)


def round_price(x: float) -> float:
    """0.01 CNY tick, half up."""
    return math.floor(x * 100 + 0.5 - 1e-9) / 100


class Reference:
    """One reference run over the store's bars (see module docstring)."""

    def __init__(self, store: MarketStore, scores: pl.DataFrame, config: BacktestConfig,
                 weights: pl.DataFrame | None = None, lookback: int = LOOKBACK) -> None:
        self.cfg = config
        cal = store.calendar(None, config.end).to_list()
        first = next(i for i, d in enumerate(cal) if d >= config.start)
        self.days = cal[first:]
        self.start0 = cal[max(0, first - lookback)]
        names = set(scores["symbol"].to_list()) | (set(weights["symbol"].to_list()) if weights is not None else set())
        bars = store.bars(self.start0, config.end, symbols=sorted(names), adjust=False)
        self.list_date = {r["symbol"]: r["list_date"] for r in store.instruments().iter_rows(named=True)}
        self.delisted = {r["symbol"]: r["delist_date"] for r in store.instruments().iter_rows(named=True)
                         if r["delist_date"] is not None}
        self.bar: dict[tuple[str, dt.date], dict] = {}
        self.prev: dict[tuple[str, dt.date], dict] = {}
        self.nth: dict[tuple[str, dt.date], int] = {}
        self.first: dict[str, dt.date] = {}
        self.last: dict[str, dt.date] = {}
        self.series: dict[str, list[dict]] = {}
        for row in bars.iter_rows(named=True):
            s, d = row["symbol"], row["date"]
            self.series.setdefault(s, []).append(row)
            if s in self.last:
                self.prev[(s, d)] = self.bar[(s, self.last[s])]
                self.nth[(s, d)] = self.nth[(s, self.last[s])] + 1
            else:
                self.first[s] = d
                self.nth[(s, d)] = 1
            self.last[s] = d
            self.bar[(s, d)] = row
        self.symbols = sorted(self.first)
        self.scores: dict[dt.date, dict[str, float]] = {}
        for row in scores.iter_rows(named=True):
            bar = self.bar.get((row["symbol"], row["date"]))  # no bar or suspended: not trading, dropped
            if row["score"] is not None and not math.isnan(row["score"]) and bar is not None and not bar["is_suspended"]:
                self.scores.setdefault(row["date"], {})[row["symbol"]] = row["score"]
        self.weights: dict[dt.date, dict[str, float]] = {}
        for row in (weights.iter_rows(named=True) if weights is not None else []):
            self.weights.setdefault(row["date"], {})[row["symbol"]] = row["weight"]
        self.cash = float(config.capital)
        self.shares: dict[str, float] = {}
        self.adj: dict[str, float] = {}
        self.close: dict[str, float] = {}
        self.pending: dict[str, float] = {}
        self.carry: set[str] = set()
        self.prio: dict[str, int] = {}
        self.fills: list[dict] = []
        self.nav: list[float] = []

    # ------------------------------------------------------------------ rules
    def limits(self, s: str, d: dt.date) -> tuple[float | None, float | None]:
        """(limit up, limit down) raw prices, None where no limit applies."""
        prev = self.prev.get((s, d))
        if prev is None:
            return None, None
        bar = self.bar[(s, d)]
        prev_close = prev["close"] * prev["adj_factor"] / bar["adj_factor"]
        true_first = self.first[s] > self.start0 or self.list_date.get(s) == self.first[s]
        day_no = self.nth[(s, d)] + (0 if true_first else 1000)
        pct = rules.limit_pct(board_of(s), bool(bar["is_st"]), d, day_no)
        if pct is None:
            return None, None
        return round_price(prev_close * (1 + pct[0])), round_price(prev_close * (1 - pct[1]))

    def gone(self, s: str, d: dt.date) -> bool:
        """Delisted before ``d`` (bars that end without a delisting date leave the stock held)."""
        return self.last[s] < d and s in self.delisted and d >= self.delisted[s]

    def tradable(self, s: str, d: dt.date, buy: bool) -> bool:
        """Bar present, not suspended, not at the limit that blocks this side."""
        bar = self.bar.get((s, d))
        if bar is None or bar["is_suspended"] or not bar[self.cfg.deal_price] > 0:
            return False
        up, down = self.limits(s, d)
        price, close = bar[self.cfg.deal_price], bar["close"]
        late = self.cfg.deal_price != "open"
        if buy:
            return not (up is not None and (price >= up - 1e-9 or (late and close >= up - 1e-9)))
        return not (down is not None and (price <= down + 1e-9 or (late and close <= down + 1e-9)))

    def fee(self, value: float, sell: bool, d: dt.date, s: str) -> float:
        """Commission (with minimum) + seller stamp duty + transfer fee, CNY."""
        c = self.cfg.costs
        total = max(value * c.commission, c.min_commission)
        if sell and c.stamp_duty:
            total += value * rules.stamp_duty_rate(d)
        if c.transfer_fee:
            total += value * rules.transfer_fee_rate(d, s.split(".")[1])
        return total

    def lots(self, s: str) -> tuple[float, float]:
        m, inc = rules.lot_rules(board_of(s))
        return float(m), float(inc)

    def volume_cap(self, s: str, d: dt.date) -> float:
        """Shares one fill may take: floor(participation x the day's volume); inf when unlimited."""
        p = self.cfg.participation
        if p <= 0:
            return math.inf
        return math.floor(p * self.bar[(s, d)]["volume"] + EPS)

    def liquidity(self, s: str, d: dt.date) -> tuple[float | None, float | None]:
        """(ADV = mean volume x close in CNY, daily sigma) from the stock's last WINDOW traded bars before ``d``."""
        traded = [r for r in self.series[s] if r["date"] < d and not r["is_suspended"] and r["volume"] > 0
                  and r["close"] > 0]
        amounts = [r["volume"] * r["close"] for r in traded][-WINDOW:]
        closes = [r["close"] * r["adj_factor"] for r in traded]
        rets = [math.log(b / a) for a, b in zip(closes, closes[1:])][-WINDOW:]
        adv = sum(amounts) / len(amounts) if amounts else None
        if len(rets) < 2:
            return adv, None
        mu = sum(rets) / len(rets)
        return adv, math.sqrt(sum((r - mu) ** 2 for r in rets) / (len(rets) - 1))

    def impact(self, s: str, d: dt.date, shares: float) -> float:
        """Square-root impact in CNY of a fill of ``shares`` at the day's deal price."""
        c = self.cfg.costs
        if c.impact != "sqrt" or shares <= 0:
            return 0.0
        adv, sigma = self.liquidity(s, d)
        if adv is None or sigma is None or adv <= 0:
            return 0.0
        q = shares * self.bar[(s, d)][self.cfg.deal_price]
        return c.impact_k * sigma * math.sqrt(q / adv) * q

    # ------------------------------------------------------------------ run
    def run(self) -> list[float]:
        """Simulate every day; returns the NAV (CNY) per day of ``self.days``."""
        signal_days = sorted(d for d in self.scores if self.days[0] <= d <= self.days[-1])
        rebalance_days = set()
        for c, d in enumerate(signal_days):
            nxt = self.days.index(d) + 1
            if c % self.cfg.rebalance_every == 0 and nxt < len(self.days):
                rebalance_days.add(self.days[nxt])
        for i, d in enumerate(self.days):
            self.corporate_actions(d)
            if d in rebalance_days:
                self.plan(d, self.days[i - 1])
            elif self.cfg.retry == "next_rebalance":
                self.pending = {s: v for s, v in self.pending.items() if s in self.carry}
            self.delistings(d)
            self.trade(d)
            for s in self.symbols:
                if (s, d) in self.bar:
                    self.close[s] = self.bar[(s, d)]["close"]
            self.nav.append(self.cash + sum(q * self.close[s] for s, q in self.shares.items()))
        return self.nav

    def corporate_actions(self, d: dt.date) -> None:
        for s in self.symbols:
            bar = self.bar.get((s, d))
            if bar is None:
                continue
            old = self.adj.get(s)
            if old is not None and bar["adj_factor"] != old:
                ratio = bar["adj_factor"] / old
                if s in self.shares:
                    self.shares[s] *= ratio
                if s in self.pending:
                    self.pending[s] *= ratio
            self.adj[s] = bar["adj_factor"]

    def delistings(self, d: dt.date) -> None:
        for s in list(self.shares):
            if self.last[s] < d:
                self.pending.pop(s, None)
                self.carry.discard(s)
                if s not in self.delisted:
                    continue  # bars ended without a delisting: held at the last close, untradable
                if d < self.delisted[s]:
                    continue  # delisted later: held at the last close until the delisting date
                prev_day = self.days[self.days.index(d) - 1] if self.days.index(d) > 0 else None
                if prev_day is not None and prev_day > self.last[s] and prev_day >= self.delisted[s]:
                    continue  # the forced sale was on the first day after the last bar and the delisting
                value = self.shares[s] * self.close[s]
                fee = self.fee(value, True, d, s)
                if value - fee < 0:
                    continue
                self.cash += value - fee
                self.fills.append(dict(date=d, symbol=s, side="sell", shares=self.shares[s], fee=fee))
                del self.shares[s]

    def mark(self, s: str, d: dt.date) -> float:
        bar = self.bar.get((s, d))
        if bar is not None:
            return bar[self.cfg.deal_price]
        return self.close.get(s, 0.0)

    def plan(self, d: dt.date, signal_day: dt.date) -> None:
        scores = self.scores.get(signal_day, {})
        tie = tie_keys(self.symbols, signal_day)  # equal scores: the engine's seeded tie order
        ranked = sorted(self.symbols, key=lambda s: (0, -scores[s], tie[s]) if s in scores else (1, 0.0, tie[s]))
        self.prio = {s: r for r, s in enumerate(ranked)}
        nav = self.cash + sum(q * self.mark(s, d) for s, q in self.shares.items())
        carried = {s: self.pending[s] for s in self.carry if s in self.pending} if self.cfg.remainder == "carry" else {}
        self.pending, self.carry = {}, set()
        if strategy_for(self.cfg.strategy).mode == MODE_TOPK:
            traded = self.plan_topk(d, scores, ranked, nav)
        else:
            traded = self.plan_weights(d, self.weights.get(signal_day, {}), nav)
        for s, target in carried.items():
            if s not in traded:
                self.pending[s] = target
                self.carry.add(s)

    def plan_topk(self, d: dt.date, scores: dict[str, float], ranked: list[str], nav: float) -> set[str]:
        """Targets of a top-k rebalance; returns the names it trades."""
        k, n_drop = self.cfg.k, self.cfg.n_drop
        held = [s for s, q in self.shares.items() if q > TINY and not self.gone(s, d)]
        want = max(n_drop + k - len(held), 0)
        today = [s for s in ranked if s in scores and s not in held][:want]
        comb = [s for s in ranked if s in held or s in today]
        sell = [s for s in comb[len(comb) - n_drop:] if s in held] if n_drop > 0 else []
        buy = today[:max(len(sell) + k - len(held), 0)]
        final = [s for s in held if s not in sell] + buy
        weights = self.topk_weights(scores, final)
        for s in sell:
            self.pending[s] = 0.0
        for s in final:
            price = self.mark(s, d)
            if price > 0 and (s in buy or self.cfg.rebalance_kept):
                self.pending[s] = weights[s] * nav / price
        return set(sell) | {s for s in final if s in buy or self.cfg.rebalance_kept}

    def topk_weights(self, scores: dict[str, float], final: list[str]) -> dict[str, float]:
        k = self.cfg.k
        if self.cfg.weighting == "equal" or not final:
            return {s: 1.0 / k for s in final}
        lo = min(scores.values())
        raw = {s: (scores[s] - lo if s in scores else 0.0) for s in final}
        total = sum(raw.values())
        if total <= 0:
            return {s: 1.0 / k for s in final}
        return {s: raw[s] / total * len(final) / k for s in final}

    def plan_weights(self, d: dt.date, weights: dict[str, float], nav: float) -> set[str]:
        """Targets towards given weights; returns the names it trades."""
        traded = set()
        for s in self.symbols:
            w = weights.get(s)
            w = w if w is not None and w > 0 else 0.0
            if self.gone(s, d) or not (w > 0 or self.shares.get(s, 0.0) > TINY):
                continue
            traded.add(s)
            price = self.mark(s, d)
            if w > 0 and price > 0:
                self.pending[s] = w * nav / price
            elif w == 0:
                self.pending[s] = 0.0
        return traded

    def trade(self, d: dt.date) -> None:
        sells = [s for s in self.symbols if s in self.pending and self.pending[s] < self.shares.get(s, 0.0) - TINY]
        buys = [s for s in self.symbols if s in self.pending and self.pending[s] > self.shares.get(s, 0.0) + TINY]
        for s in sells:
            if self.tradable(s, d, buy=False):
                target = self.pending.pop(s)
                self.settle(s, target, self.sell(s, d, self.shares[s] - target))
        for s in sorted(buys, key=lambda s: self.prio[s]):
            if self.tradable(s, d, buy=True):
                target = self.pending.pop(s)
                self.settle(s, target, self.buy(s, d, target - self.shares.get(s, 0.0)))

    def settle(self, s: str, target: float, capped: bool) -> None:
        """A sent order leaves ``pending``; one the volume cap cut comes back, carried."""
        self.carry.discard(s)
        if capped:
            self.pending[s] = target
            self.carry.add(s)

    def sell_size(self, s: str, want: float) -> float:
        """Valid sell size for a wish of ``want`` shares (lots; the whole holding always), 0 = none."""
        held = self.shares[s]
        min_lot, inc = self.lots(s)
        if want >= held - EPS:
            return held
        n = math.floor(want / inc + EPS) * inc
        if n < min_lot:
            return 0.0
        return held if n >= held - EPS else n

    def sell(self, s: str, d: dt.date, want: float) -> bool:
        """Sell towards ``want`` shares; returns whether the volume cap cut the order."""
        held = self.shares[s]
        n = self.sell_size(s, min(want, self.volume_cap(s, d)))
        capped = n < self.sell_size(s, want) - EPS
        if n <= 0:
            return capped
        price = self.bar[(s, d)][self.cfg.deal_price] * (1 - self.cfg.costs.slippage_bps / 1e4)
        value = n * price
        fee = self.fee(value, True, d, s) + self.impact(s, d, n)
        if value - fee < 0:
            return capped
        self.cash += value - fee
        self.shares[s] = held - n
        if self.shares[s] <= EPS * 1e-3 or n == held:
            del self.shares[s]
        self.fills.append(dict(date=d, symbol=s, side="sell", shares=n, fee=fee))
        return capped

    def buy(self, s: str, d: dt.date, want: float) -> bool:
        """Buy towards ``want`` shares within the cash; returns whether the volume cap cut the order."""
        min_lot, inc = self.lots(s)

        def lots(x: float) -> float:
            n = math.floor(x / inc + EPS) * inc
            return n if n >= min_lot else 0.0

        price = self.bar[(s, d)][self.cfg.deal_price] * (1 + self.cfg.costs.slippage_bps / 1e4)
        n = lots(min(want, self.volume_cap(s, d)))
        capped = n < lots(want) - EPS
        cap = math.floor(self.cash / price / inc) * inc  # not even fees: step down below
        n = min(n, cap)

        def cost(n: float) -> float:
            return n * price + self.fee(n * price, False, d, s) + self.impact(s, d, n)

        while n >= min_lot and cost(n) > self.cash:
            n -= inc
        if n < min_lot:
            return capped
        fee = self.fee(n * price, False, d, s) + self.impact(s, d, n)
        self.cash -= n * price + fee
        self.shares[s] = self.shares.get(s, 0.0) + n
        self.fills.append(dict(date=d, symbol=s, side="buy", shares=n, fee=fee))
        return capped


def reference_nav(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig,
                  weights: pl.DataFrame | None = None) -> list[float]:
    """NAV per trading day in [config.start, config.end] from the reference simulator."""
    return Reference(store, scores, config, weights).run()
