"""The immutable backtest result, built from vectorbt order records.

Everything derived (NAV, cash, positions, trades with each fee, turnover) is computed from the
records and the market arrays, on demand. Money in CNY, shares are raw (exchange) shares.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numba import njit

from flyer.backtest.config import BacktestConfig
from flyer.backtest.diagnostics import ResultContext, ResultDiagnostics, result_diagnostics
from flyer.backtest.market import Market


@njit(cache=True)
def book_nb(col: np.ndarray, idx: np.ndarray, size: np.ndarray, price: np.ndarray, fees: np.ndarray,
            side: np.ndarray, close_val: np.ndarray, capital: float
            ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Replay one portfolio's records (sorted by idx) -> (nav, cash, traded value, holdings count), each (T,).

    ``size`` adjusted shares, ``price`` adjusted fill price; side 0 buy, 1 sell (vectorbt).
    """
    t, n = close_val.shape
    pos = np.zeros(n)
    nav, cash_out, traded, count = np.zeros(t), np.zeros(t), np.zeros(t), np.zeros(t)
    cash = capital
    r = 0
    for i in range(t):
        while r < col.shape[0] and idx[r] == i:
            value = size[r] * price[r]
            if side[r] == 0:
                cash -= value + fees[r]
                pos[col[r]] += size[r]
            else:
                cash += value - fees[r]
                pos[col[r]] -= size[r]
                if abs(pos[col[r]]) < 1e-12:
                    pos[col[r]] = 0.0
            traded[i] += value
            r += 1
        total = cash
        held = 0
        for j in range(n):
            if pos[j] != 0.0:
                total += pos[j] * close_val[i, j]
                held += 1
        nav[i], cash_out[i], count[i] = total, cash, held
    return nav, cash_out, traded, count


@dataclass(frozen=True, eq=False)
class BacktestResult:
    """One portfolio's run. ``records``: vectorbt order records of this portfolio (columns 0..N-1).

    ``benchmark``: [date, close] of the benchmark series named ``benchmark_name`` (may be empty),
    plus ``tr`` when a total-return series (``diagnostics.run.benchmark_tr_name``) accompanies it.
    ``blocked``: (T, 2) counts of orders not sent per day [buys, sells] (limits / suspension).
    ``capped``: (T, 2) counts of orders the participation limit cut [buys, sells]; ``demand``:
    (T,) value in CNY of the day's open orders (sent or blocked) at the day's mark.
    ``context``: what the diagnostics are computed from (``flyer.backtest.diagnostics``): the
    run's shared diagnostics (the calendar's trading days per year: the annualisation), the
    strategy's plan, the signal. Immutable: ``with_notes`` derives a new result.
    """

    config: BacktestConfig
    market: Market
    records: np.ndarray
    blocked: np.ndarray
    benchmark: pl.DataFrame
    benchmark_name: str
    context: ResultContext
    capped: np.ndarray
    demand: np.ndarray

    @functools.cached_property
    def diagnostics(self) -> ResultDiagnostics:
        """What the run could not see or had to decide (``flyer.backtest.diagnostics``)."""
        return result_diagnostics(self.context, self.market, self.records, self.blocked, self.capped, self.nav)

    @property
    def year_days(self) -> dict[int, int]:
        """Trading days per calendar year of the store's calendar (the annualisation)."""
        return self.context.run.days_per_year

    def with_notes(self, *notes: str) -> BacktestResult:
        """The same result with ``notes`` printed first (a new object; nothing is mutated)."""
        ctx = dataclasses.replace(self.context, extra_notes=(*notes, *self.context.extra_notes))
        return dataclasses.replace(self, context=ctx)

    @functools.cached_property
    def _book(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        r = self.records
        return book_nb(r["col"].astype(np.int64), r["idx"].astype(np.int64), r["size"], r["price"],
                       r["fees"], r["side"].astype(np.int64), self.market.arrays.close_val, self.config.capital)

    @property
    def dates(self) -> list[dt.date]:
        return list(self.market.dates)

    @property
    def nav(self) -> np.ndarray:
        """(T,) NAV in CNY at each day's close."""
        return self._book[0]

    @property
    def cash(self) -> np.ndarray:
        """(T,) cash in CNY at each day's close."""
        return self._book[1]

    def daily(self) -> pl.DataFrame:
        """[date, nav, cash, positions_value, n_holdings, traded_value, turnover, costs, benchmark]
        (+ fees, nav_after_fees with management / custody fees: ``metrics.accrue_fees``).

        nav: the engine's NAV (before fund fees); turnover = traded value / 2 / previous NAV
        (two-sided average, fraction); costs = commission + stamp duty + transfer fee + slippage
        + impact of the day (CNY); fees = the fund fees accrued that day (CNY).
        Built on first use and kept (the result is immutable).
        """
        return self._daily

    @functools.cached_property
    def _daily(self) -> pl.DataFrame:
        nav, cash, traded, count = self._book
        prev = np.concatenate([[self.config.capital], nav[:-1]])
        trades = self.trades()
        per_day = trades.group_by("date").agg(pl.col("total_cost").sum()) if trades.height else None
        df = pl.DataFrame({
            "date": self.dates, "nav": nav, "cash": cash, "positions_value": nav - cash,
            "n_holdings": count.astype(np.int64), "traded_value": traded,
            "turnover": traded / 2 / prev,
        }, schema_overrides={"date": pl.Date})
        if per_day is not None:
            df = df.join(per_day.rename({"total_cost": "costs"}), on="date", how="left")
        else:
            df = df.with_columns(pl.lit(0.0).alias("costs"))
        df = df.with_columns(pl.col("costs").fill_null(0.0))
        if self.config.costs.fund_fee > 0:
            from flyer.backtest.metrics import accrue_fees

            fees, after = accrue_fees(self.dates, nav, self.config.costs.fund_fee, self.year_days)
            df = df.with_columns(pl.Series("fees", fees), pl.Series("nav_after_fees", after))
        if self.benchmark.height:
            tr = [pl.col("tr").alias("benchmark_tr")] if "tr" in self.benchmark.columns else []
            df = df.join(self.benchmark.select("date", pl.col("close").alias("benchmark"), *tr), on="date", how="left")
        else:
            df = df.with_columns(pl.lit(None, pl.Float64).alias("benchmark"))
        return df

    def trades(self) -> pl.DataFrame:
        """Fills: [date, symbol, side, shares, price, value, commission, stamp_duty, transfer_fee,
        slippage, impact, total_cost, reason, participation] with raw shares and the raw fill
        price (slippage included; impact is charged as a fee, ``rules_nb.impact_cost_nb``).

        reason: ``trade`` or ``delisted`` (forced sale at the last close); participation: the
        fill's shares over the day's volume (NaN for a delisting). Built on first use and kept.
        """
        return self._trades

    @functools.cached_property
    def _trades(self) -> pl.DataFrame:
        from flyer.backtest.params import Params

        m, r, c = self.market, self.records, Params.from_configs([self.config])  # the rates the engine charged
        a = m.arrays
        if r.shape[0] == 0:
            return _empty_trades()
        col, idx = r["col"].astype(np.int64), r["idx"].astype(np.int64)
        adj = a.adj[idx, col]
        shares = _snap(r["size"] * adj)
        value = r["size"] * r["price"]
        sell = r["side"] == 1
        delisted = a.delist_row[col] == idx
        comm = np.maximum(value * c.commission[0], c.min_commission[0])
        duty = np.where(sell, value * a.stamp[idx], 0.0) * c.stamp_duty[0]
        transfer = value * a.transfer[idx, a.exch[col]] * c.transfer_fee[0]
        base = np.where(delisted, value / shares, a.deal[idx, col])
        slip = np.abs(r["price"] / adj - base) * shares
        slip = np.where(delisted, 0.0, slip)
        impact = _impact(shares, a.deal[idx, col], a.adv[idx, col], a.sigma[idx, col], float(c.impact_k[0]))
        impact = np.where(delisted, 0.0, impact)
        with np.errstate(divide="ignore", invalid="ignore"):
            part = np.where(delisted, np.nan, shares / a.volume[idx, col])
        return pl.DataFrame({
            "date": np.array(m.dates, dtype="datetime64[D]")[idx],
            "symbol": np.array(m.symbols, dtype=object)[col].astype(str),
            "side": np.where(sell, "sell", "buy"), "shares": shares, "price": r["price"] / adj,
            "value": value, "commission": comm, "stamp_duty": duty, "transfer_fee": transfer,
            "slippage": slip, "impact": impact, "total_cost": comm + duty + transfer + slip + impact,
            "reason": np.where(delisted, "delisted", "trade"), "participation": part,
        }).with_columns(pl.col("date").cast(pl.Date)).sort("date", "side", "symbol")

    def execution(self) -> pl.DataFrame:
        """Per day: [date, demand, filled, fill_rate, capped_buys, capped_sells, blocked_buys,
        blocked_sells, impact]. demand: value (CNY) of the open orders at the day's mark (sent
        or blocked, a carried rest counted again each day it is open); filled: value of the
        day's fills at the deal price (delistings excluded); fill_rate = filled / demand (NaN
        without demand; below 1 by lot rounding alone); impact: market impact charged (CNY)."""
        trades = self.trades().filter(pl.col("reason") == "trade")
        per_day = trades.group_by("date").agg(
            (pl.col("value") - pl.when(pl.col("side") == "buy").then(pl.col("slippage"))
             .otherwise(-pl.col("slippage"))).sum().alias("filled"),
            pl.col("impact").sum())
        capped, demand = self.capped, self.demand
        df = pl.DataFrame({"date": self.dates, "demand": demand, "capped_buys": capped[:, 0],
                           "capped_sells": capped[:, 1], "blocked_buys": self.blocked[:, 0],
                           "blocked_sells": self.blocked[:, 1]}, schema_overrides={"date": pl.Date})
        df = df.join(per_day, on="date", how="left").with_columns(pl.col("filled", "impact").fill_null(0.0))
        return df.select("date", "demand", "filled",
                         pl.when(pl.col("demand") > 0).then(pl.col("filled") / pl.col("demand")).alias("fill_rate"),
                         "capped_buys", "capped_sells", "blocked_buys", "blocked_sells", "impact")

    def positions(self) -> pl.DataFrame:
        """Holdings at each day's close: [date, symbol, shares (raw), value (CNY)], non-zero only."""
        m, r = self.market, self.records
        if r.shape[0] == 0:
            return pl.DataFrame(schema={"date": pl.Date, "symbol": pl.Utf8, "shares": pl.Float64, "value": pl.Float64})
        signed = np.where(r["side"] == 0, r["size"], -r["size"])
        df = pl.DataFrame({"col": r["col"].astype(np.int64), "idx": r["idx"].astype(np.int64), "q": signed})
        df = df.group_by("col", "idx").agg(pl.col("q").sum()).sort("col", "idx")
        df = df.with_columns(pl.col("q").cum_sum().over("col"),
                             pl.col("idx").shift(-1).over("col").fill_null(len(m.dates)).alias("until"))
        df = df.filter(pl.col("q").abs() > 1e-12)
        df = df.with_columns(pl.int_ranges("idx", "until").alias("day")).explode("day")
        day, col = df["day"].to_numpy(), df["col"].to_numpy()
        q = df["q"].to_numpy()
        return pl.DataFrame({
            "date": np.array(m.dates, dtype="datetime64[D]")[day],
            "symbol": np.array(m.symbols, dtype=object)[col].astype(str),
            "shares": _snap(q * m.arrays.adj[day, col]), "value": q * m.arrays.close_val[day, col],
        }).with_columns(pl.col("date").cast(pl.Date)).sort("date", "symbol")

    def metrics(self) -> dict[str, float | str]:
        """Headline metrics (see ``flyer.backtest.metrics.summary``)."""
        return dict(self._metrics)

    @functools.cached_property
    def _metrics(self) -> dict[str, float | str]:
        from flyer.backtest.metrics import summary

        out = summary(self.daily(), self.benchmark_name, self.year_days)
        if self.context.run.benchmark_tr_name:
            out["benchmark_tr"] = self.context.run.benchmark_tr_name
        return out

    def yearly(self) -> pl.DataFrame:
        """Per-year table (see ``flyer.backtest.metrics.yearly``)."""
        from flyer.backtest.metrics import yearly

        return yearly(self.daily())

    def returns(self, benchmark: bool = False) -> Any:
        """Daily simple returns of the NAV (or of the benchmark) as a ``pandas.Series`` on a
        ``DatetimeIndex``, the first day's return from the starting capital: the input of
        quantstats / empyrical / pyfolio (``qs.reports.html(result.returns(), result.returns(True))``)."""
        import pandas as pd

        daily = self.daily()
        if benchmark:
            level = daily["benchmark"].fill_null(strategy="forward").fill_null(strategy="backward").to_numpy()
            values = np.concatenate([[np.nan], level[1:] / level[:-1] - 1]) if level.size else level
            name = self.benchmark_name or "benchmark"
        else:
            nav = daily["nav"].to_numpy()
            values = nav / np.concatenate([[self.config.capital], nav[:-1]]) - 1
            name = "returns"
        index = pd.DatetimeIndex(pd.to_datetime(daily["date"].to_list()), name="date")
        return pd.Series(values, index=index, name=name, dtype="float64")


def _impact(shares: np.ndarray, deal: np.ndarray, adv: np.ndarray, sigma: np.ndarray, impact_k: float) -> np.ndarray:
    """Square-root impact (CNY) of each fill, as the engine charged it (``rules_nb.impact_rate_nb``);
    ``impact_k``: the prefactor the engine used (``Params.impact_k``: 0 = no impact)."""
    if impact_k <= 0:
        return np.zeros(shares.shape[0])
    value = shares * deal
    ok = (adv > 0) & (sigma >= 0) & (shares > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(ok, impact_k * sigma * np.sqrt(value / np.where(ok, adv, 1.0)), 0.0)
    return rate * value


def _snap(shares: np.ndarray) -> np.ndarray:
    """Share counts within 1e-6 of an integer are that integer (undo float noise of q x adj)."""
    whole = np.round(shares)
    return np.where(np.abs(shares - whole) < 1e-6, whole, shares)


def _empty_trades() -> pl.DataFrame:
    schema = {"date": pl.Date, "symbol": pl.Utf8, "side": pl.Utf8, "shares": pl.Float64, "price": pl.Float64,
              "value": pl.Float64, "commission": pl.Float64, "stamp_duty": pl.Float64,
              "transfer_fee": pl.Float64, "slippage": pl.Float64, "impact": pl.Float64, "total_cost": pl.Float64,
              "reason": pl.Utf8, "participation": pl.Float64}
    return pl.DataFrame(schema=schema)
