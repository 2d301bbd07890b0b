"""Factor evaluation on one canonical long table (alphalens style): tables in, tables out.

Forward returns (``forward_returns``): the signal at date t is known after t's close; a
position is opened at t+1's close and held h trading days, so
``ret_h[t] = close[t+1+h] / close[t+1] - 1`` on the back-adjusted close, counted in rows of the
instrument's own series (the store is dense inside a listed span, so rows are market days; a
suspended day carries the last close). Missing when the stock has no row at t+1+h.

The canonical table (``factor_table``): ``[date, symbol, value, ret_1, ret_5, ..., quantile]``
for one factor over a universe; rows with a null/non-finite factor value or a missing forward
return (at the longest horizon kept) are dropped and COUNTED in a ``Cleaning`` record; losing
more than ``max_loss`` of the rows raises.

Statistics per date: IC (Pearson) and RankIC (Spearman) of value vs ret_h (``ic_table``);
summaries: mean, std, ICIR = mean/std and a Newey-West t-stat with ``h`` lags (the daily IC
series of overlapping ``h``-day returns is autocorrelated: ``ICIR * sqrt(days)`` would overstate
t by about ``sqrt(h)``; ``flyer.core.stats.newey_west_t``) (``ic_summary``); quantile
portfolios (equal weight per date, 1 = lowest value) with mean returns, the top quantile's
excess over the universe mean, top-quantile turnover and the factor's rank autocorrelation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import cast

import numpy as np
import polars as pl
from flyer.data import returns
from flyer.factors import eval_kernels as ek

from flyer.core import progress
from flyer.core.errors import FlyerError
from flyer.core.stats import newey_west_t

HORIZONS: tuple[int, ...] = (1, 5, 10, 20)


def ret_col(h: int) -> str:
    return f"ret_{h}"


def forward_returns(bars: pl.DataFrame, horizons: tuple[int, ...] = HORIZONS) -> pl.DataFrame:
    """``[date, symbol, ret_h...]`` from ``bars[symbol, date, close]`` (``flyer.data.returns``)."""
    return returns.forward_returns(bars, horizons, names=tuple(ret_col(h) for h in horizons))


@dataclass(frozen=True)
class Cleaning:
    """Rows of the factor table before and after cleaning (what was dropped and why)."""

    factor: str
    rows_in: int
    outside_universe: int
    missing_factor: int
    missing_return: int
    rows_kept: int

    @property
    def loss(self) -> float:
        """Fraction of in-universe rows dropped."""
        base = self.rows_in - self.outside_universe
        return 1.0 - self.rows_kept / base if base else 0.0

    def line(self) -> str:
        return (f"{self.factor}: {self.rows_in:,} rows, {self.outside_universe:,} outside universe, "
                f"{self.missing_factor:,} missing factor, {self.missing_return:,} missing return, "
                f"{self.rows_kept:,} kept ({self.loss:.1%} dropped)")


def join_inputs(values: pl.DataFrame, fwd: pl.DataFrame, universe: pl.DataFrame | None,
                horizons: tuple[int, ...]) -> tuple[pl.DataFrame, int]:
    """``values`` kept to ``universe`` rows with the forward returns joined (left), and the row
    count before the universe filter: the shared input of ``factor_table`` (joined once per set)."""
    n_in = values.height
    if universe is not None:
        values = values.join(universe.select("date", "symbol").unique(), on=["date", "symbol"], how="semi")
    rets = [ret_col(h) for h in horizons]
    return values.join(fwd.select("date", "symbol", *rets), on=["date", "symbol"], how="left"), n_in


def factor_table(values: pl.DataFrame, factor: str, fwd: pl.DataFrame | None, *,
                 universe: pl.DataFrame | None = None, quantiles: int = 5,
                 horizons: tuple[int, ...] = HORIZONS, max_loss: float = 0.6,
                 rows_in: int | None = None) -> tuple[pl.DataFrame, Cleaning]:
    """The canonical table for one factor column of ``values[date, symbol, ...]``.

    ``fwd``: ``forward_returns`` output, or None when ``values`` already went through
    ``join_inputs`` (then ``rows_in`` is its count before the universe filter). ``universe``:
    ``[date, symbol]`` rows to keep (e.g. CSI 500 point-in-time members), or None for all.
    ``quantiles``: groups per date by value (1 = lowest). Returns the table and its
    ``Cleaning`` record; raises ``FlyerError`` when more than ``max_loss`` of rows are dropped.
    """
    rets = [ret_col(h) for h in horizons]
    df = values.select("date", "symbol", pl.col(factor).cast(pl.Float64).alias("value"),
                       *(rets if fwd is None else []))
    if fwd is not None:
        df, rows_in = join_inputs(df, fwd, universe, horizons)
    n_in = df.height if rows_in is None else rows_in
    n_univ = df.height
    df = df.filter(pl.col("value").is_finite())
    n_val = df.height
    df = df.filter(pl.all_horizontal(pl.col(r).is_not_null() & pl.col(r).is_finite() for r in rets))
    clean = Cleaning(factor, n_in, n_in - n_univ, n_univ - n_val, n_val - df.height, df.height)
    if n_univ and clean.loss > max_loss:
        raise FlyerError(f"{clean.line()}: more than max_loss={max_loss:.0%} of rows dropped")
    pct = (pl.col("value").rank("average") / pl.len()).over("date")
    q = (pl.col("rank") * quantiles).ceil().clip(1, quantiles).cast(pl.Int32).alias("quantile")
    return df.with_columns(pct.alias("rank")).with_columns(q), clean


def ic_table(table: pl.DataFrame, horizons: tuple[int, ...] | None = None) -> pl.DataFrame:
    """Daily IC and RankIC per horizon: ``[date, horizon, ic, rank_ic, n]`` (dates with n >= 3)."""
    horizons = horizons or tuple(int(c[4:]) for c in table.columns if c.startswith("ret_"))
    ranked = table.with_columns(pl.col(ret_col(h)).rank("average").over("date").alias(f"_rr{h}") for h in horizons)
    aggs = [pl.len().alias("n")]
    for h in horizons:
        aggs += [pl.corr("value", ret_col(h)).alias(f"ic{h}"), pl.corr("rank", f"_rr{h}").alias(f"rank_ic{h}")]
    daily = ranked.group_by("date").agg(aggs).filter(pl.col("n") >= 3)
    out = pl.concat([daily.select("date", pl.lit(h, pl.Int32).alias("horizon"), pl.col(f"ic{h}").alias("ic"),
                                  pl.col(f"rank_ic{h}").alias("rank_ic"), "n") for h in horizons])
    return out.sort("horizon", "date").with_columns(pl.col("ic", "rank_ic").fill_nan(None))


def ic_summary(ic: pl.DataFrame) -> pl.DataFrame:
    """Per horizon: mean, std, ICIR, Newey-West t-stat (``horizon`` lags) of IC and RankIC,
    and days: the IC decay table. Dates in ``ic`` must be sorted within each horizon."""
    def stats(c: str, p: str) -> list[pl.Expr]:
        m, s = pl.col(c).mean(), pl.col(c).std()
        return [m.alias(f"{p}_mean"), s.alias(f"{p}_std"), (m / s).alias(f"{p}ir")]
    out = ic.group_by("horizon").agg(*stats("ic", "ic"), *stats("rank_ic", "rank_ic"),
                                     pl.col("rank_ic").count().alias("days")).sort("horizon")
    t: dict[str, list[float]] = {c: [] for c in ("ic_t", "rank_ic_t")}
    for h in out["horizon"].to_list():
        part = ic.filter(pl.col("horizon") == h).sort("date")
        for c in ("ic", "rank_ic"):
            t[f"{c}_t"].append(newey_west_t(part[c].drop_nulls().to_numpy(), int(h)))
    cols = out.columns
    out = out.with_columns(pl.Series("ic_t", t["ic_t"], pl.Float64), pl.Series("rank_ic_t", t["rank_ic_t"], pl.Float64))
    order = [*cols[:4], "ic_t", *cols[4:7], "rank_ic_t", *cols[7:]]
    return out.select(order)


def quantile_daily(table: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Equal-weight mean forward return per (date, quantile): ``[date, quantile, ret, n]``."""
    return table.group_by("date", "quantile").agg(pl.col(ret_col(horizon)).mean().alias("ret"),
                                                  pl.len().alias("n")).sort("date", "quantile")


def quantile_returns(table: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Mean over dates of each quantile's return, per trading day of holding: ``[quantile, mean_ret, mean_ret_per_day]``."""
    return _quantile_means(quantile_daily(table, horizon), horizon)


def _quantile_means(daily: pl.DataFrame, horizon: int) -> pl.DataFrame:
    return daily.group_by("quantile").agg(pl.col("ret").mean().alias("mean_ret")).with_columns(
        (pl.col("mean_ret") / horizon).alias("mean_ret_per_day")).sort("quantile")


def top_excess(table: pl.DataFrame, horizon: int) -> pl.DataFrame:
    """Per date, the top quantile's mean return minus the universe mean: ``[date, top, universe, excess]``."""
    top_q = table["quantile"].max()
    r = pl.col(ret_col(horizon))
    return table.group_by("date").agg(r.filter(pl.col("quantile") == top_q).mean().alias("top"),
                                      r.mean().alias("universe")).with_columns(
        (pl.col("top") - pl.col("universe")).alias("excess")).sort("date")


def turnover(table: pl.DataFrame, quantile: int | None = None) -> pl.DataFrame:
    """Share of a quantile's names (default: the top) not in it the previous date: ``[date, turnover]``."""
    q = quantile or int(table.select(pl.col("quantile").max()).item())
    members = table.filter(pl.col("quantile") == q).select("date", "symbol")
    dates = members["date"].unique().sort()
    prev = pl.DataFrame({"date": dates.slice(1), "prev": dates.slice(0, dates.len() - 1)})
    held = members.join(prev, on="date").join(
        members.rename({"date": "prev"}).with_columns(pl.lit(True).alias("was")), on=["prev", "symbol"], how="left")
    return held.group_by("date").agg((1 - pl.col("was").fill_null(False).mean()).alias("turnover")).sort("date")


def rank_autocorr(table: pl.DataFrame, lag: int = 1) -> pl.DataFrame:
    """Pearson correlation of the per-date percentile ranks at t and t-lag over the symbols
    present on both dates (alphalens' factor rank autocorrelation): ``[date, autocorr]``."""
    dates = table["date"].unique().sort()
    shift = pl.DataFrame({"date": dates.slice(lag), "prev": dates.slice(0, dates.len() - lag)})
    ranked = table.select("date", "symbol", pl.col("rank").alias("r"))
    pairs = ranked.join(shift, on="date").join(ranked.rename({"date": "prev", "r": "r_prev"}), on=["prev", "symbol"])
    return pairs.group_by("date").agg(pl.corr("r", "r_prev").alias("autocorr")).sort("date")


@dataclass(frozen=True)
class FactorEvaluation:
    """All tables for one factor at one chosen horizon (plus the IC decay over all horizons)."""

    factor: str
    horizon: int
    cleaning: Cleaning
    ic: pl.DataFrame
    summary: pl.DataFrame
    quantiles: pl.DataFrame
    quantile_daily: pl.DataFrame
    top_excess: pl.DataFrame
    turnover: pl.DataFrame
    autocorr: pl.DataFrame

    def row(self) -> dict[str, float | int | str]:
        """One summary row: the chosen horizon's IC stats, quantile spread, turnover, cleaning."""
        s = self.summary.filter(pl.col("horizon") == self.horizon).row(0, named=True)
        q = self.quantiles["mean_ret"].to_list()
        return {"factor": self.factor, "horizon": self.horizon, "ic_mean": s["ic_mean"], "icir": s["icir"],
                "ic_t": s["ic_t"], "rank_ic_mean": s["rank_ic_mean"], "rank_icir": s["rank_icir"],
                "rank_ic_t": s["rank_ic_t"], "days": s["days"],
                "top_minus_bottom": (q[-1] - q[0]) if q else float("nan"),
                "top_excess": _mean(self.top_excess["excess"]), "turnover": _mean(self.turnover["turnover"]),
                "rank_autocorr": _mean(self.autocorr["autocorr"]), "rows_kept": self.cleaning.rows_kept,
                "dropped": self.cleaning.loss}


def _mean(s: pl.Series) -> float:
    v = s.drop_nulls().drop_nans().mean() if s.len() else None
    return float(v) if v is not None else float("nan")  # type: ignore[arg-type]


def evaluate_factor(values: pl.DataFrame, factor: str, fwd: pl.DataFrame | None, *, horizon: int = 5,
                    universe: pl.DataFrame | None = None, quantiles: int = 5,
                    horizons: tuple[int, ...] = HORIZONS, max_loss: float = 0.6,
                    rows_in: int | None = None) -> FactorEvaluation:
    """Every table for ``factor`` (a column of ``values``) against ``fwd`` (``forward_returns``;
    None when ``values`` went through ``join_inputs``, see ``factor_table``)."""
    if horizon not in horizons:
        horizons = tuple(sorted({*horizons, horizon}))
    table, clean = factor_table(values, factor, fwd, universe=universe, quantiles=quantiles,
                                horizons=horizons, max_loss=max_loss, rows_in=rows_in)
    if table.height == 0:
        raise FlyerError(f"{clean.line()}: nothing left to evaluate")
    ic = ic_table(table, horizons)
    return FactorEvaluation(factor, horizon, clean, ic, ic_summary(ic), quantile_returns(table, horizon),
                            quantile_daily(table, horizon), top_excess(table, horizon), turnover(table),
                            rank_autocorr(table))


def evaluate_set(values: pl.DataFrame, fwd: pl.DataFrame, *, horizon: int = 5,
                 universe: pl.DataFrame | None = None, quantiles: int = 5,
                 horizons: tuple[int, ...] = HORIZONS, max_loss: float = 0.6,
                 group: int = 8) -> dict[str, FactorEvaluation]:
    """``evaluate_factor`` for every factor column of ``values``, streamed: the inputs are joined
    once (row keys only), then ``group`` factors at a time walk the dates once each in a numba
    kernel (``flyer.factors.eval_kernels``), so no per-factor table is ever built. Same tables as
    ``evaluate_factor`` (up to summation order)."""
    names = [c for c in values.columns if c not in ("date", "symbol")]
    horizons = tuple(sorted({*horizons, horizon}))
    ins = _stream_inputs(values, fwd, universe, horizons)
    out: dict[str, FactorEvaluation] = {}
    chunks = [names[i:i + group] for i in range(0, len(names), group)]
    mat = np.empty((min(group, len(names)), ins.rows.size))
    for chunk in progress.tracked(chunks, "evaluating factors", "groups", info=lambda c: c[0]):
        for k, n in enumerate(chunk):  # the column as stored (float32 or float64; NaN for null), gathered in order
            ek.gather_nb(values[n].to_numpy(), ins.rows, mat[k])
        res = ek.evaluate_nb(mat[:len(chunk)], ins.rets, ins.ok, ins.order, ins.n_ok, ins.seg, ins.sym, ins.n_sym,
                             horizons.index(horizon), quantiles)
        for k, name in enumerate(chunk):
            out[name] = _evaluation(name, k, res, ins, horizon, horizons, max_loss)
    return out


@dataclass(frozen=True)
class _Inputs:
    """The row keys of a streamed evaluation: ``rows`` into ``values`` of the universe's rows
    sorted by (date, symbol), their returns ``(H, M)``, ``ok`` (every return finite), each
    date's rows sorted by return (``eval_kernels.date_ret_order``), date segments, symbol codes,
    the dates and the row counts."""

    rows: np.ndarray
    rets: np.ndarray
    ok: np.ndarray
    order: np.ndarray
    n_ok: np.ndarray
    seg: np.ndarray
    sym: np.ndarray
    n_sym: int
    dates: pl.Series
    rows_in: int


def _stream_inputs(values: pl.DataFrame, fwd: pl.DataFrame, universe: pl.DataFrame | None,
                   horizons: tuple[int, ...]) -> _Inputs:
    rets = [ret_col(h) for h in horizons]
    keys = values.select("date", "symbol").with_row_index("_row")
    if universe is not None:
        keys = keys.join(universe.select("date", "symbol").unique(), on=["date", "symbol"], how="semi")
    keys = keys.join(fwd.select("date", "symbol", *rets), on=["date", "symbol"], how="left").sort("date", "symbol")
    ret = np.ascontiguousarray(keys.select(pl.col(r).cast(pl.Float64) for r in rets).to_numpy().T) if keys.height \
        else np.empty((len(rets), 0))
    ok = np.asarray(np.isfinite(ret).all(axis=0))
    _, first = np.unique(keys["date"].to_physical().to_numpy(), return_index=True)
    seg = np.append(first, keys.height).astype(np.int64)
    symbols = keys["symbol"].unique().sort()
    sym = symbols.search_sorted(keys["symbol"]).to_numpy().astype(np.int64) if keys.height else np.empty(0, np.int64)
    order, n_ok = ek.date_ret_order(ret, ok, seg)
    return _Inputs(keys["_row"].to_numpy().astype(np.int64), ret, ok, order, n_ok, seg, sym,
                   max(symbols.len(), 1), keys["date"].unique().sort(), values.height)


def _evaluation(name: str, k: int, res: tuple[np.ndarray, ...], ins: _Inputs, horizon: int,
                horizons: tuple[int, ...], max_loss: float) -> FactorEvaluation:
    """One factor's ``FactorEvaluation`` from row ``k`` of ``evaluate_nb``'s arrays."""
    n_kept, ic, ric, qsum, qcnt, turn, auto, has_auto, counts = (a[k] for a in res)
    n_univ = ins.rows.size
    clean = Cleaning(name, ins.rows_in, ins.rows_in - n_univ, int(counts[0]), int(counts[1]), int(n_kept.sum()))
    if n_univ and clean.loss > max_loss:
        raise FlyerError(f"{clean.line()}: more than max_loss={max_loss:.0%} of rows dropped")
    if clean.rows_kept == 0:
        raise FlyerError(f"{clean.line()}: nothing left to evaluate")
    days = ins.dates
    three = n_kept >= 3
    ic_frame = pl.concat([pl.DataFrame({
        "date": days.filter(three), "horizon": pl.Series([h] * int(three.sum()), dtype=pl.Int32),
        "ic": pl.Series(ic[j][three], nan_to_null=True), "rank_ic": pl.Series(ric[j][three], nan_to_null=True),
        "n": pl.Series(n_kept[three], dtype=pl.UInt32)}) for j, h in enumerate(horizons)])
    d_idx, q_idx = np.nonzero(qcnt > 0)
    daily = pl.DataFrame({"date": days.gather(d_idx), "quantile": pl.Series(q_idx + 1, dtype=pl.Int32),
                          "ret": qsum[d_idx, q_idx] / qcnt[d_idx, q_idx],
                          "n": pl.Series(qcnt[d_idx, q_idx], dtype=pl.UInt32)})
    top = int(q_idx.max()) if q_idx.size else 0
    on = n_kept > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        top_ret = np.where(qcnt[:, top] > 0, qsum[:, top] / qcnt[:, top], np.nan)[on]
        univ = qsum.sum(axis=1)[on] / n_kept[on]
    excess = pl.DataFrame({"date": days.filter(on), "top": pl.Series(top_ret, nan_to_null=True), "universe": univ})
    excess = excess.with_columns((pl.col("top") - pl.col("universe")).alias("excess"))
    t_on = ~np.isnan(turn[top])
    return FactorEvaluation(
        name, horizon, clean, ic_frame, ic_summary(ic_frame), _quantile_means(daily, horizon), daily, excess,
        pl.DataFrame({"date": days.filter(t_on), "turnover": turn[top][t_on]}),
        pl.DataFrame({"date": days.filter(has_auto), "autocorr": auto[has_auto]}))


def summary_table(evals: dict[str, FactorEvaluation], by: str = "rank_icir") -> pl.DataFrame:
    """One row per factor (``FactorEvaluation.row``), ranked by ``|by|`` descending."""
    if not evals:
        return pl.DataFrame()
    df = pl.DataFrame([e.row() for e in evals.values()])
    return df.sort(pl.col(by).abs(), descending=True, nulls_last=True)


def ic_decay(evals: dict[str, FactorEvaluation]) -> pl.DataFrame:
    """RankIC mean per (factor, horizon): ``[factor, horizon, ic_mean, rank_ic_mean, rank_icir]``."""
    return pl.concat([e.summary.select(pl.lit(n).alias("factor"), "horizon", "ic_mean", "rank_ic_mean", "rank_icir")
                      for n, e in evals.items()])


def rank_ic_wide(values: pl.DataFrame, fwd: pl.DataFrame, horizon: int = 5, *,
                 universe: pl.DataFrame | None = None) -> pl.DataFrame:
    """Daily RankIC of every factor column at once (fast screening): ``[date, <factor>...]``.

    Same numbers as ``ic_table(...)["rank_ic"]`` per factor: for each factor, ranks of the value
    and of ``ret_h`` among the date's rows where both exist. Dates with < 3 such rows are null.
    """
    names = [c for c in values.columns if c not in ("date", "symbol")]
    base, _ = join_inputs(values, fwd, universe, (horizon,))
    r = pl.col(ret_col(horizon))
    r = pl.when(r.is_finite()).then(r)
    cols = []
    for n in names:
        v = pl.col(n).cast(pl.Float64)
        ok = v.is_finite() & r.is_not_null()
        cols += [pl.when(ok).then(v).rank("average").over("date").alias(f"_v{n}"),
                 pl.when(ok).then(r).rank("average").over("date").alias(f"_r{n}")]
    ranked = base.select("date", *cols)
    aggs = [pl.when(pl.col(f"_v{n}").count() >= 3).then(pl.corr(f"_v{n}", f"_r{n}")).alias(n) for n in names]
    return ranked.group_by("date").agg(aggs).sort("date").with_columns(pl.col(names).fill_nan(None))


def wide_summary(wide: pl.DataFrame, horizon: int = 5) -> pl.DataFrame:
    """Mean, ICIR and Newey-West t-stat (``horizon`` lags) per factor of a ``rank_ic_wide``
    frame (sorted by date), ranked by |ICIR|."""
    names = [c for c in wide.columns if c != "date"]
    wide = wide.sort("date")
    rows = []
    for n in names:
        s = wide[n].drop_nulls().cast(pl.Float64)
        m, sd = (_num(s.mean()), _num(s.std())) if s.len() > 1 else (None, None)
        ir = m / sd if m is not None and sd else float("nan")
        rows.append({"factor": n, "rank_ic_mean": m, "rank_icir": ir,
                     "rank_ic_t": newey_west_t(s.to_numpy(), horizon), "days": s.len()})
    return pl.DataFrame(rows).sort(pl.col("rank_icir").abs(), descending=True, nulls_last=True)


def _num(value: object) -> float | None:
    """A polars float aggregate as a float (None stays None)."""
    return None if value is None else float(cast(float, value))


def correlation_matrix(values: pl.DataFrame, factors: list[str] | None = None) -> pl.DataFrame:
    """Pooled Spearman correlation of factors: per-date ranks, centred per date, missing ranks
    set to the date's centre (0). Returns ``[factor, <one column per factor>]``."""
    names = factors or [c for c in values.columns if c not in ("date", "symbol")]
    ranked = values.select([
        ((pl.col(n).rank("average") / pl.col(n).count()).over("date")
         - (pl.col(n).rank("average") / pl.col(n).count()).mean().over("date")).fill_null(0.0).fill_nan(0.0).alias(n)
        for n in names])
    x = ranked.to_numpy()
    norms = np.sqrt((x * x).sum(axis=0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = (x.T @ x) / np.outer(norms, norms)
    return pl.DataFrame({"factor": names, **{n: corr[:, i] for i, n in enumerate(names)}})


def t_to_p(t: float) -> float:
    """Two-sided normal p-value of a t statistic (large-sample)."""
    return math.erfc(abs(t) / math.sqrt(2)) if math.isfinite(t) else float("nan")
