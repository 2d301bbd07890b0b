"""The ``enhance`` strategy: CSI 500 enhanced-index weights from scores, a risk model and limits.

``plan(store, scores, config)`` for a ``BacktestConfig`` with ``strategy="enhance"``:
  1. ``risk_model``: the ``flyer.risk`` model of ``config.enhance.risk``, built or appended
     under the store's home (``$FLYER_HOME/risk/<key>/``) and loaded for the run's dates;
  2. ``flyer.risk.benchmark.benchmark_weights``: the benchmark's (``config.universe``)
     start-of-day weights on every trading day;
  3. ``flyer.backtest.market.load_market``: which names cannot be bought or sold on each
     trade day (suspended, at the limit at the deal price) - what the engine will enforce;
  4. for every rebalance signal date t (every ``rebalance_every``-th date with scores, as the
     engine counts them) and its trade day D: candidates = D's members, t's scored names and
     the names held; ``problem_for`` sets up alpha (``alpha_scale`` x the score's z-score over
     the candidates, clipped at +-3; unscored names 0), the drifted current weights w0, the
     bounds (can't trade: held at w0; can't buy: <= w0; can't sell: >= w0), exposures and
     covariances at t, and costs; ``flyer.backtest.optimizer.Optimizer`` solves it;
  5. the weights, dated t (the engine trades them on D through the A-share execution rules:
     lots, T+1, limits, fees, the participation cap, market impact), plus one diagnostics row
     per rebalance.
Costs in the objective, per rebalance and amortised by ``periods_per_year / alpha_horizon``
(alpha is annual; a trade pays once for an alpha that lasts about ``alpha_horizon`` days):
  * linear: commission + slippage + half the stamp duty per unit of weight traded
    (``cost_rate``), plus ``impact_bps`` only when the engine charges no impact;
  * market impact, the engine's own model (``costs.impact="sqrt"``): ``impact_k * sigma_i *
    sqrt(NAV / ADV_i) * |z_i|^(3/2)`` of NAV for a trade z_i, with sigma and ADV the market
    arrays the engine prices fills on (``MarketArrays.sigma`` / ``adv`` of the trade day: the
    20 traded bars before it, known at the signal close) and the engine's prefactor
    (``BacktestConfig.charged_impact_k``) - ``optimizer.expected_impact`` is what a fill pays;
  * each trade is bounded by ``participation x ADV_i / NAV`` (the engine's volume cap, on the
    trailing ADV since the day's volume is not known at the signal); a name without ADV is not
    traded. A book the bounds cannot fully invest (built from cash at a large size) keeps cash.
NAV is the *paper* NAV: ``capital`` grown by the planned book's returns (``model.ret``) net of
the costs the optimiser expected - not the engine's NAV, which the plan cannot see (it is made
before execution); the two differ by what execution adds (fills capped below the target, lot
rounding, fees beyond the expected ones).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import polars as pl

from flyer.backtest.enhance_config import EnhanceConfig
from flyer.backtest.optimizer import Limits, Optimizer, Problem, Solution, fit, trade_bounds
from flyer.data import rules
from flyer.core.errors import FlyerError
from flyer.core.values import as_date

if TYPE_CHECKING:
    from flyer.backtest.config import BacktestConfig
    from flyer.backtest.market import Market
    from flyer.data.store import MarketStore
    from flyer.risk.config import RiskConfig
    from flyer.risk.model import RiskModel

SLOT = 50  # problems are padded to a multiple of this many names, so compiled problems are reused


@dataclass(frozen=True)
class EnhancePlan:
    """``weights`` [date, symbol, weight] by signal date; ``diagnostics`` one row per rebalance
    [date, trade_date, status, relaxed, predicted_te, turnover, member_share, n_names, n_fixed,
    seconds, nav, invested, expected_cost, expected_impact, capped] (``plan.StrategyPlan``);
    ``notes`` (risk model, benchmark estimate, relaxations); ``problems`` (only with
    ``keep_problems``) the (symbols, Problem, Solution, final weights after the dust step) of
    every rebalance, for checks."""

    weights: pl.DataFrame
    diagnostics: pl.DataFrame
    notes: tuple[str, ...]
    problems: tuple[tuple[tuple[str, ...], Problem, Solution, np.ndarray], ...] = ()


def limits(ec: EnhanceConfig) -> Limits:
    """The optimiser's view of the strategy settings."""
    return Limits(te=ec.te, stock_limit=ec.stock_limit, industry_limit=ec.industry_limit,
                  style_limit=ec.style_limit, turnover=ec.turnover, member_floor=ec.member_floor,
                  risk_aversion=ec.risk_aversion)


def risk_model(store: MarketStore, config: RiskConfig, start: dt.date, end: dt.date,
               home: str | Path | None = None) -> tuple[RiskModel, tuple[str, ...]]:
    """The stored model of ``config`` (built or appended first) for [start, end], and notes."""
    from flyer.risk import storage

    home = Path(home) if home is not None else Path(store.path).parent
    res = storage.update(store, home, config, end)
    model = storage.load(home, config, start - dt.timedelta(days=30), end)
    note = f"risk model {res.key}: {res.mode} ({res.dates_added} dates, {res.seconds:.1f}s)"
    return model, (note, *model.notes)


def signal_dates(scores: pl.DataFrame, every: int) -> list[dt.date]:
    """Rebalance signal dates: every ``every``-th date with scores (the engine's count)."""
    days = scores["date"].unique().sort().to_list()
    return days[::every]


def plan(store: MarketStore, scores: pl.DataFrame, config: BacktestConfig, home: str | Path | None = None,
         keep_problems: bool = False, market: Market | None = None) -> EnhancePlan:
    """Steps 1-5 of the module docstring over the dates of ``scores`` ([date, symbol, score]);
    ``market``: the run's market over the members and the scored names (a backtest passes the
    one it built from its loaded data; read from the store when None)."""
    from flyer.backtest.market import load_market
    from flyer.risk.benchmark import benchmark_weights

    ec: EnhanceConfig = config.enhance
    if scores.height == 0:
        raise FlyerError("the enhance strategy needs scores")
    start = as_date(scores["date"].min(), "first score date")
    end = config.end or as_date(scores["date"].max(), "last score date")
    model, notes = risk_model(store, ec.risk, start, end, home)
    bench = benchmark_weights(store, config.universe, start, end)
    names = sorted(set(bench.weights["symbol"].unique().to_list()) | set(scores["symbol"].unique().to_list()))
    if market is None:
        market = load_market(store, names, start, end, config.deal_price)
    ctx = _Context(config, ec, model, bench.weights, market, scores)
    rows, parts, kept = [], [], []
    opt = Optimizer(limits(ec))
    w_prev: dict[str, float] = {}
    last_trade: dt.date | None = None
    nav = config.capital  # the paper NAV (module docstring)
    for t in signal_dates(scores, config.rebalance_every):
        d = ctx.next_day(t)
        if d is None:
            break
        w0, growth = ctx.drift(w_prev, last_trade, t)
        nav *= growth
        syms, prob = ctx.problem_for(t, d, w0, nav, first=last_trade is None)
        sol = opt.solve(prob)
        w = _dust(sol.weights, prob, ec.min_weight)
        w_prev = {s: float(x) for s, x in zip(syms, w) if x > 0}
        last_trade = d
        parts.append(pl.DataFrame({"date": [t] * len(w_prev), "symbol": list(w_prev), "weight": list(w_prev.values())},
                                  schema={"date": pl.Date, "symbol": pl.Utf8, "weight": pl.Float64}))
        rows.append(_diag_row(t, d, sol, prob, len(w_prev), nav))
        nav *= 1.0 - sol.expected_cost - sol.expected_impact
        if keep_problems:
            kept.append((tuple(syms), prob, sol, w))
    diag = pl.DataFrame(rows) if rows else pl.DataFrame()
    return EnhancePlan(pl.concat(parts) if parts else pl.DataFrame(schema={"date": pl.Date, "symbol": pl.Utf8,
                                                                         "weight": pl.Float64}),
                       diag, tuple(notes) + bench.notes + _relax_notes(diag), tuple(kept))


def _diag_row(t: dt.date, d: dt.date, sol: Solution, prob: Problem, n_names: int, nav: float) -> dict:
    fixed = int(((prob.lb >= prob.ub - 1e-15) & (prob.w0 > 0)).sum())
    capped = 0
    if prob.trade_cap is not None:
        free = prob.lb < prob.ub - 1e-15
        capped = int((free & (prob.trade_cap > 0) & (np.abs(sol.weights - prob.w0) >= prob.trade_cap * (1 - 1e-6))).sum())
    return {"date": t, "trade_date": d, "status": sol.status, "relaxed": ",".join(sol.relaxed),
            "predicted_te": sol.predicted_te, "turnover": sol.turnover, "member_share": sol.member_share,
            "n_names": n_names, "n_fixed": fixed, "seconds": sol.seconds, "nav": nav, "invested": sol.invested,
            "expected_cost": sol.expected_cost, "expected_impact": sol.expected_impact, "capped": capped}


def _relax_notes(diag: pl.DataFrame) -> tuple[str, ...]:
    if diag.height == 0:
        return ("enhance: no rebalance date had a next trading day",)
    inaccurate = int((diag["status"] == "optimal_inaccurate").sum())
    rough = ((f"enhance: {inaccurate} of {diag.height} rebalances solved to the solver's reduced accuracy "
              "(status optimal_inaccurate: the weights are used, the plan's rebalance table marks them)",)
             if inaccurate else ())
    relaxed = diag.filter(pl.col("relaxed") != "")
    if relaxed.height == 0:
        return (f"enhance: all {diag.height} rebalances solved with every constraint", *rough)
    counts = relaxed.group_by("relaxed").len().sort("len", descending=True)
    text = ", ".join(f"{r['relaxed']} x{r['len']}" for r in counts.iter_rows(named=True))
    return (f"enhance: {relaxed.height} of {diag.height} rebalances relaxed constraints ({text})", *rough)


def _dust(w: np.ndarray, prob: Problem, floor: float) -> np.ndarray:
    """Weights below ``floor`` set to 0 where the trade bounds allow selling them out, the
    weight freed spread pro rata over the other free names within their trade bounds
    (``optimizer.fit``), so the book keeps the solution's total (1, or less when participation
    left cash)."""
    lb, ub = trade_bounds(prob)
    fixed = lb >= ub - 1e-15
    out = np.where(~fixed & (w < floor) & (lb <= 0), 0.0, w)
    return fit(out, lb, ub, float(w.sum()), ~fixed & (out > 0))


class _Context:
    """The per-run inputs of ``plan`` and the per-date problem assembly."""

    def __init__(self, config: BacktestConfig, ec: EnhanceConfig, model: RiskModel, bench: pl.DataFrame,
                 market: Market, scores: pl.DataFrame) -> None:
        self.config, self.ec, self.model, self.market = config, ec, model, market
        self.bench = {d: dict(zip(g["symbol"].to_list(), g["weight"].to_list()))
                      for (d,), g in bench.group_by("date")}
        self.scores = {d: dict(zip(g["symbol"].to_list(), g["score"].to_list()))
                       for (d,), g in scores.group_by("date")}
        self.days = list(market.dates)
        self.row = {d: i for i, d in enumerate(self.days)}
        self.mcol = {s: j for j, s in enumerate(market.symbols)}

    def next_day(self, t: dt.date) -> dt.date | None:
        i = self.row.get(t)
        return self.days[i + 1] if i is not None and i + 1 < len(self.days) else None

    def drift(self, w: dict[str, float], since: dt.date | None, until: dt.date) -> tuple[dict[str, float], float]:
        """(weights ``w`` set on trade day ``since`` grown with each stock's total returns through
        ``until``'s close, as fractions of the grown book (cash, 1 - sum(w), earns nothing);
        the book's growth factor)."""
        if not w or since is None:
            return {}, 1.0
        m = self.model
        lo, hi = m.row(since), m.row(until)
        cols = m.columns(list(w))
        growth = np.ones(len(w))
        ok = cols >= 0
        if hi >= lo and ok.any():
            r = np.nan_to_num(m.ret[lo:hi + 1][:, cols[ok]])
            growth[ok] = np.prod(1.0 + r, axis=0)
        v = np.array(list(w.values())) * growth
        book = v.sum() + max(1.0 - sum(w.values()), 0.0)
        return dict(zip(w, v / book)), float(book)

    def problem_for(self, t: dt.date, d: dt.date, w0: dict[str, float], nav: float, first: bool
                    ) -> tuple[list[str], Problem]:
        """(symbols, padded Problem) of the rebalance at signal date t, trading on day d at a
        (paper) NAV of ``nav`` CNY."""
        return build_problem(self.model, self.config, t, d, self.bench.get(d, {}), self.scores.get(t, {}), w0,
                             Trading(lambda syms: self._blocks(syms, d), lambda syms: self._liquidity(syms, d), nav),
                             first)

    def _liquidity(self, syms: list[str], d: dt.date) -> tuple[np.ndarray, np.ndarray]:
        """(sigma, ADV CNY) of ``syms`` on trade day d: the engine's ``MarketArrays`` (NaN unknown)."""
        return market_liquidity(self.market, self.row[d], syms)

    def _blocks(self, syms: list[str], d: dt.date) -> tuple[np.ndarray, np.ndarray]:
        """(no buy, no sell) on day d as the engine will see it (no bar counts as both)."""
        i = self.row[d]
        cols = np.array([self.mcol.get(s, -1) for s in syms])
        known = cols >= 0
        no_buy = np.where(known, self.market.arrays.buy_block[i, np.maximum(cols, 0)], True)
        no_sell = np.where(known, self.market.arrays.sell_block[i, np.maximum(cols, 0)], True)
        return no_buy, no_sell


Blocks = Callable[[list[str]], tuple[np.ndarray, np.ndarray]]
Liquidity = Callable[[list[str]], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Trading:
    """What a rebalance can trade: ``blocks(symbols)`` -> (no buy, no sell) (n,) bool;
    ``liquidity(symbols)`` -> (sigma, ADV in CNY) (n,), NaN unknown; ``nav`` CNY."""

    blocks: Blocks
    liquidity: Liquidity
    nav: float


def market_liquidity(market: Market, row: int, syms: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(sigma (n,), ADV (n,) CNY) of ``syms`` at ``row`` of ``market``: the arrays the engine
    prices a fill's impact on (NaN for a name the market lacks)."""
    col = {s: j for j, s in enumerate(market.symbols)}
    cols = np.array([col.get(s, -1) for s in syms], dtype=np.int64)
    known = cols >= 0
    a = market.arrays
    sigma = np.where(known, a.sigma[row, np.maximum(cols, 0)], np.nan)
    adv = np.where(known, a.adv[row, np.maximum(cols, 0)], np.nan)
    return sigma, adv


def impact_coefficients(config: BacktestConfig, sigma: np.ndarray, adv: np.ndarray, nav: float) -> np.ndarray | None:
    """(n,) coefficient of |z|^(3/2) in a rebalance's impact (fraction of NAV), the engine's
    square-root charge: ``k * sigma * sqrt(nav / adv)`` (0 where sigma or ADV is unknown, as
    the engine charges nothing there); None when the engine charges no impact."""
    k = config.charged_impact_k
    if k <= 0:
        return None
    ok = (adv > 0) & (sigma >= 0)
    return np.where(ok, k * np.nan_to_num(sigma) * np.sqrt(nav / np.where(ok, adv, 1.0)), 0.0)


def trade_caps(config: BacktestConfig, adv: np.ndarray, nav: float) -> np.ndarray | None:
    """(n,) most |w - w0| a rebalance may trade: ``participation x ADV / nav`` (0 without ADV);
    None when participation is unlimited (0)."""
    if config.participation <= 0:
        return None
    return np.where(adv > 0, config.participation * np.nan_to_num(adv) / nav, 0.0)


def build_problem(model: RiskModel, config: BacktestConfig, t: dt.date, d: dt.date, bench: dict[str, float],
                  scores: dict[str, float], w0: dict[str, float], trading: Trading, first: bool
                  ) -> tuple[list[str], Problem]:
    """(symbols, padded Problem) at signal date t for trade day d: candidates are the members
    (``bench``: start-of-day weights on d), the scored names and the held ones (``w0``);
    ``trading.blocks`` says which cannot be bought / sold on d (no buy: ub = w0, no sell:
    lb = w0), ``trading.liquidity`` and ``nav`` price the impact and bound each trade (module
    docstring); ``first``: the book is built from cash, no turnover cap (cash left by the
    participation bounds is deployed outside the cap too)."""
    ec: EnhanceConfig = config.enhance
    syms = sorted(set(bench) | set(scores) | set(w0))
    b = np.array([bench.get(s, 0.0) for s in syms])
    b = b / b.sum() if b.sum() > 0 else b
    cur = np.array([w0.get(s, 0.0) for s in syms])
    no_buy, no_sell = trading.blocks(syms)
    sigma, adv = trading.liquidity(syms)
    cash = max(1.0 - float(cur.sum()), 0.0)
    prob = Problem(
        alpha=ec.alpha_scale * zscores(np.array([scores.get(s, np.nan) for s in syms], dtype=float)),
        bench=b, w0=cur, exposures=model.exposure_matrix(t, syms), factor_cov=model.factor_cov(t),
        specific=model.specific_var(t, syms), lb=np.where(no_sell, cur, 0.0), ub=np.where(no_buy, cur, 1.0),
        member=np.array([s in bench for s in syms]), n_ind=model.n_ind,
        turnover=2.0 if first else (ec.turnover + cash if cash > 1e-6 else None),
        cost=np.full(len(syms), cost_rate(config, d)), impact=impact_coefficients(config, sigma, adv, trading.nav),
        trade_cap=trade_caps(config, adv, trading.nav), amortise=model.periods_per_year / ec.alpha_horizon)
    return syms, _pad(prob, int(np.ceil(max(len(syms), 1) / SLOT) * SLOT))


def zscores(raw: np.ndarray) -> np.ndarray:
    """Cross-sectional z-scores clipped at +-3 (NaN -> 0: no view)."""
    ok = np.isfinite(raw)
    z = np.zeros(len(raw))
    if ok.sum() > 1 and np.std(raw[ok]) > 0:
        z[ok] = np.clip((raw[ok] - raw[ok].mean()) / raw[ok].std(), -3, 3)
    return z


def cost_rate(config: BacktestConfig, d: dt.date) -> float:
    """Linear cost of trading one unit of weight one way on day d: commission, slippage, half
    the seller's stamp duty, and ``enhance.impact_bps`` when the engine charges no impact (an
    assumption then; with ``costs.impact="sqrt"`` the optimiser prices the engine's impact)."""
    c = config.costs
    assumed = config.enhance.impact_bps / 1e4 if config.charged_impact_k <= 0 else 0.0
    return c.commission + c.slippage_bps / 1e4 + assumed + 0.5 * rules.stamp_duty_rate(d) * float(c.stamp_duty)


def _pad(p: Problem, slots: int) -> Problem:
    """``p`` with zero-weight slots appended up to ``slots`` names (bounds 0, no exposure)."""
    extra = slots - len(p.alpha)
    if extra <= 0:
        return p
    z = np.zeros(extra)
    cat = lambda a, fill=z: np.concatenate([a, fill])  # noqa: E731
    return dataclasses.replace(
        p, alpha=cat(p.alpha), bench=cat(p.bench), w0=cat(p.w0), specific=cat(p.specific), lb=cat(p.lb),
        ub=cat(p.ub), cost=cat(p.cost), member=cat(p.member, np.zeros(extra, dtype=bool)),
        exposures=np.vstack([p.exposures, np.zeros((extra, p.exposures.shape[1]))]),
        impact=None if p.impact is None else cat(p.impact),
        trade_cap=None if p.trade_cap is None else cat(p.trade_cap))


def day_weights(store: MarketStore, scores: pl.DataFrame, holdings: pl.DataFrame, cash: float,
                config: BacktestConfig, date: dt.date, home: str | Path | None = None
                ) -> tuple[pl.DataFrame, Solution, tuple[str, ...]]:
    """Tomorrow's enhanced-index weights from tonight (``date``'s close), for the nightly job's
    orders (``flyer.backtest.orders.orders_for_tomorrow``, whose ``targets`` turns them into
    actions as the engine does): ([symbol, weight] of the names held after it, the solution,
    notes). ``scores``: [symbol, score] of tonight; ``holdings``: [symbol, shares].

    The benchmark is tonight's closing weights (a review effective tomorrow that the store does
    not hold yet is not seen); tomorrow's limits are unknown tonight, so only names suspended
    (or without a bar) tonight are held where they are - the broker enforces the rest. Impact
    and participation bounds use the NAV of the book and tomorrow's trailing sigma and ADV
    (the 20 traded bars through tonight: what the engine would price tomorrow's fills on).
    """
    from flyer.risk.benchmark import benchmark_weights

    ec: EnhanceConfig = config.enhance
    model, notes = risk_model(store, ec.risk, date - dt.timedelta(days=60), date, home)
    bench = _closing_weights(benchmark_weights(store, config.universe, date - dt.timedelta(days=40), date).weights,
                             model, date)
    bars = store.bars(date, date, adjust=False, columns=["close", "is_suspended"])
    px = dict(zip(bars["symbol"].to_list(), bars["close"].to_list()))
    susp = set(bars.filter(pl.col("is_suspended").fill_null(False))["symbol"].to_list())
    held = {s: q * px.get(s, 0.0) for s, q in zip(holdings["symbol"].to_list(), holdings["shares"].to_list()) if q > 0}
    nav = cash + sum(held.values())
    w0 = {s: v / nav for s, v in held.items()} if nav > 0 else {}

    def blocks(syms: list[str]) -> tuple[np.ndarray, np.ndarray]:
        stuck = np.array([s in susp or s not in px for s in syms])
        return stuck, stuck

    sc = dict(zip(scores["symbol"].to_list(), scores["score"].to_list()))
    names = sorted(set(bench) | set(sc) | set(w0))
    liq = tonight_liquidity(store, names, date)
    trading = Trading(blocks, lambda syms: (np.array([liq[0].get(s, np.nan) for s in syms]),
                                            np.array([liq[1].get(s, np.nan) for s in syms])), nav or config.capital)
    syms, prob = build_problem(model, config, date, date, bench, sc, w0, trading, first=not w0)
    sol = Optimizer(limits(ec)).solve(prob)
    w = _dust(sol.weights, prob, ec.min_weight)[:len(syms)]
    out = pl.DataFrame({"symbol": syms, "weight": w}, schema={"symbol": pl.Utf8, "weight": pl.Float64})
    row = _diag_row(date, date, sol, prob, int((w > 0).sum()), trading.nav)
    return out.filter(pl.col("weight") > 0), sol, notes + _relax_notes(pl.DataFrame([row]))


def tonight_liquidity(store: MarketStore, symbols: list[str], date: dt.date
                      ) -> tuple[dict[str, float], dict[str, float]]:
    """({symbol: sigma}, {symbol: ADV CNY}) for a fill tomorrow: the engine's trailing window
    (``flyer.backtest.market_nb.trailing_liquidity_nb`` over the traded bars through ``date``)."""
    from flyer.backtest.market import LIQUIDITY_WINDOW
    from flyer.backtest.market_nb import trailing_liquidity_nb

    bars = store.bars(date - dt.timedelta(days=3 * LIQUIDITY_WINDOW + 30), date, symbols=symbols, adjust=False,
                      columns=["close", "volume", "adj_factor", "is_suspended"])
    if bars.height == 0:
        return {}, {}
    nxt = bars.group_by("symbol").agg(pl.col("date").max() + dt.timedelta(days=1)).with_columns(
        pl.lit(None, pl.Float64).alias("close"), pl.lit(0.0).alias("volume"), pl.lit(1.0).alias("adj_factor"),
        pl.lit(True).alias("is_suspended"))
    rows = pl.concat([bars.select(nxt.columns), nxt], how="vertical_relaxed").sort("symbol", "date")
    traded = ~rows["is_suspended"].fill_null(False).to_numpy() & (rows["volume"].fill_null(0.0).to_numpy() > 0)
    adv, sigma = trailing_liquidity_nb(
        rows["symbol"].rle_id().to_numpy(), (rows["volume"] * rows["close"]).fill_null(0.0).to_numpy().astype(np.float64),
        (rows["close"] * rows["adj_factor"]).fill_null(np.nan).to_numpy().astype(np.float64), traded, LIQUIDITY_WINDOW)
    last = rows.with_columns(pl.Series("adv", adv), pl.Series("sigma", sigma)).group_by("symbol").last()
    return (dict(zip(last["symbol"].to_list(), last["sigma"].to_list())),
            dict(zip(last["symbol"].to_list(), last["adv"].to_list())))


def _closing_weights(start: pl.DataFrame, model: RiskModel, date: dt.date) -> dict[str, float]:
    """The benchmark's weights at ``date``'s close: its start-of-day weights grown by the day's returns."""
    day = start.filter(pl.col("date") == start["date"].max())
    syms = day["symbol"].to_list()
    cols = model.columns(syms)
    r = np.where(cols >= 0, np.nan_to_num(model.ret[model.row(date)][np.maximum(cols, 0)]), 0.0)
    v = day["weight"].to_numpy() * (1 + r)
    return dict(zip(syms, v / v.sum()))
