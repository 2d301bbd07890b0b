"""The risk model: exposures, factor returns, residuals and risk forecasts on every date.

``build(store, config, end)`` runs, over the whole panel at once:
  1. ``flyer.risk.panel.load_panel``: dense returns, caps, turnover, industries, PB, members;
  2. ``estimation_masks``: which stocks standardise the exposures (at each close) and which
     returns enter each day's regression;
  3. ``style_exposures``: raw descriptors (``flyer.risk.descriptors``) -> standardised,
     orthogonalised, filled style exposures (``flyer.risk.exposures``);
  4. ``flyer.risk.regression.factor_returns_nb``: daily constrained WLS -> factor returns,
     residuals, R^2;
  5. ``forecasts``: factor covariance (EWMA + Newey-West, eigenfactor-adjusted) and shrunk
     specific variances (``flyer.risk.covariance``), volatility-regime adjusted, from the
     model's own dates only (so an incremental update reproduces a full build).
Rows before ``config.start`` are lookback history and are dropped from the result.
Units: returns are daily fractions; ``cov`` and ``specific`` are daily variances (the
accessors annualise with ``periods_per_year``, the calendar's trading days per year).
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Sequence

import numpy as np
import polars as pl

from flyer.core.errors import FlyerError
from flyer.risk import covariance as cv
from flyer.risk import descriptors as ds
from flyer.risk import exposures as ex
from flyer.risk.config import RiskConfig
from flyer.risk.panel import RiskPanel, load_panel
from flyer.risk.regression import factor_returns_nb

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

RESVOL_MIX = (0.74, 0.16, 0.10)      # DASTD, CMRA, HSIGMA (CNE5)
LIQUIDITY_MIX = (0.35, 0.35, 0.30)   # STOM, STOQ, STOA (CNE5)
EIGEN_SEED = 20110601                # the eigenfactor simulation's seed (fixed: a model is reproducible)


@dataclass(frozen=True, eq=False)
class RiskModel:
    """A built (or loaded) model; arrays are (T, N) over ``dates`` x ``symbols``.

    ``factors``: ``country``, ``ind_<code>`` per industry, then the styles; ``ind`` (T, N)
    industry index (-1 unknown), ``x`` (T, N, S) style exposures (NaN: no cap that day),
    ``f`` (T, K) factor returns of each day (regressed on the previous close's exposures),
    ``resid`` (T, N), ``cov`` (T, K, K) and ``specific`` (T, N) daily-variance forecasts for
    the next day, ``estu`` (T, N) returns in that day's regression, ``coverage`` (T, S).
    """

    config: RiskConfig
    dates: tuple[dt.date, ...]
    symbols: tuple[str, ...]
    industries: tuple[str, ...]
    industry_names: tuple[str, ...]
    ind: np.ndarray
    x: np.ndarray
    cap: np.ndarray
    ret: np.ndarray
    estu: np.ndarray
    f: np.ndarray
    resid: np.ndarray
    r2: np.ndarray
    r2c: np.ndarray
    nobs: np.ndarray
    coverage: np.ndarray
    carried: np.ndarray
    cov: np.ndarray
    specific: np.ndarray
    periods_per_year: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def styles(self) -> tuple[str, ...]:
        return self.config.styles

    @property
    def factors(self) -> tuple[str, ...]:
        return ("country", *(f"ind_{c}" for c in self.industries), *self.styles)

    @property
    def n_ind(self) -> int:
        return len(self.industries)

    def row(self, date: dt.date) -> int:
        """Index of the last model date on or before ``date`` (FlyerError before the first)."""
        i = int(np.searchsorted(np.array(self.dates, dtype="datetime64[D]"), np.datetime64(date, "D"),
                                side="right")) - 1
        if i < 0:
            raise FlyerError(f"the risk model starts on {self.dates[0]}, after {date}")
        return i

    def columns(self, symbols: Sequence[str]) -> np.ndarray:
        """Column of each symbol (-1 where the model does not know it)."""
        col = {s: j for j, s in enumerate(self.symbols)}
        return np.array([col.get(s, -1) for s in symbols], dtype=np.int64)

    def exposure_matrix(self, date: dt.date, symbols: Sequence[str]) -> np.ndarray:
        """(n, K) exposures at the close of ``date``: country 1, industry dummies, styles
        (0 where unknown, so an unknown stock carries only country and specific risk)."""
        i, cols = self.row(date), self.columns(symbols)
        return exposure_rows(self.ind[i], self.x[i], cols, self.n_ind)

    def factor_cov(self, date: dt.date, annual: bool = True) -> np.ndarray:
        """(K, K) factor covariance forecast made at the close of ``date``."""
        c = self.cov[self.row(date)]
        return c * self.periods_per_year if annual else c.copy()

    def specific_var(self, date: dt.date, symbols: Sequence[str], annual: bool = True) -> np.ndarray:
        """(n,) specific variances; a stock the model lacks gets the day's median."""
        i, cols = self.row(date), self.columns(symbols)
        row = self.specific[i]
        med = float(np.nanmedian(row)) if np.isfinite(row).any() else 0.0
        out = np.where(cols >= 0, row[np.maximum(cols, 0)], np.nan)
        out = np.where(np.isfinite(out), out, med)
        return out * self.periods_per_year if annual else out

    def predicted_vol(self, date: dt.date, symbols: Sequence[str], weights: np.ndarray, annual: bool = True
                      ) -> float:
        """Predicted volatility of a portfolio (or active portfolio) ``weights`` over ``symbols``."""
        x = self.exposure_matrix(date, symbols)
        y = x.T @ weights
        var = y @ self.factor_cov(date, annual) @ y + np.sum(weights ** 2 * self.specific_var(date, symbols, annual))
        return float(np.sqrt(max(var, 0.0)))

    def factor_returns(self) -> pl.DataFrame:
        """[date, <factor>..., r2, r2_centred, n_stocks] daily factor returns (fractions)."""
        cols = {name: self.f[:, k] for k, name in enumerate(self.factors)}
        return pl.DataFrame({"date": list(self.dates), **cols, "r2": self.r2, "r2_centred": self.r2c,
                             "n_stocks": self.nobs}, schema_overrides={"date": pl.Date})


def exposure_rows(ind_row: np.ndarray, x_row: np.ndarray, cols: np.ndarray, n_ind: int) -> np.ndarray:
    """(n, 1 + n_ind + S) dense exposures of the stocks at ``cols`` (-1 = unknown) of one date."""
    s = x_row.shape[1]
    out = np.zeros((cols.shape[0], 1 + n_ind + s))
    out[:, 0] = 1.0
    known = cols >= 0
    c = cols[known]
    k = ind_row[c]
    rows = np.flatnonzero(known)
    has_ind = k >= 0
    out[rows[has_ind], 1 + k[has_ind]] = 1.0
    out[rows, 1 + n_ind:] = np.nan_to_num(x_row[c])
    return out


def estimation_masks(p: RiskPanel, config: RiskConfig) -> tuple[np.ndarray, np.ndarray]:
    """(estu_x, estu_r), (T, N) bool: ``estu_x[i]`` standardises the exposures at close i
    (member, listed ``min_listed_days``, cap known, not ST, traded); ``estu_r[i]`` is in day i's
    regression (``estu_x[i-1]``, traded on day i, return within ``max_abs_return``)."""
    estu_x = p.member & (p.age >= config.min_listed_days) & (np.nan_to_num(p.cap) > 0) & ~p.is_st & p.traded
    estu_r = np.zeros_like(estu_x)
    ok = p.traded[1:] & np.isfinite(p.ret[1:]) & (np.abs(np.nan_to_num(p.ret[1:])) <= config.max_abs_return)
    estu_r[1:] = estu_x[:-1] & ok
    return estu_x, estu_r


def _min_obs(config: RiskConfig, window: int) -> int:
    return max(2, int(config.min_obs_fraction * window))


def style_exposures(p: RiskPanel, config: RiskConfig, estu: np.ndarray, estu_r: np.ndarray
                    ) -> tuple[np.ndarray, np.ndarray]:
    """(x (T, N, S), coverage (T, S)): the configured styles' exposures and the share of the
    estimation universe that had each style's raw descriptor (before filling)."""
    capw = np.nan_to_num(p.cap)
    regw = np.sqrt(capw)
    n_ind = max(len(p.industries), 1)
    z = lambda a: ex.standardize_nb(a, capw, estu, config.winsor_sd)  # noqa: E731
    with np.errstate(divide="ignore", invalid="ignore"):
        size = z(np.where(capw > 0, np.log(np.where(capw > 0, capw, 1.0)), np.nan))
    raw = _raw_styles(p, config, size, estu, estu_r, z, regw)
    x = np.full((*p.shape, len(config.styles)), np.nan)
    coverage = np.zeros((p.shape[0], len(config.styles)))
    for s, name in enumerate(config.styles):
        coverage[:, s] = ex.coverage_nb(raw[name], estu)
        x[:, :, s] = raw[name] if name in ("size", "nonlinear_size") else \
            ex.fill_missing_nb(raw[name], p.ind, n_ind, size, regw, estu)
    return x, coverage


def _raw_styles(p: RiskPanel, config: RiskConfig, size: np.ndarray, estu: np.ndarray, estu_r: np.ndarray,
                z, regw: np.ndarray) -> dict[str, np.ndarray]:  # noqa: ANN001 - z: standardiser
    """Standardised (not yet filled) exposures of every configured style."""
    want = set(config.styles)
    valid = p.traded & np.isfinite(p.ret)
    with np.errstate(invalid="ignore"):
        logret = np.log1p(p.ret)
    out: dict[str, np.ndarray] = {"size": size}
    beta: np.ndarray | None = None
    hsig: np.ndarray | None = None
    if want & {"beta", "residual_vol"}:
        mkt = ds.market_return_nb(p.ret, np.nan_to_num(p.cap), estu_r)
        beta, hsig = ds.beta_hsigma_nb(p.ret, mkt, valid, config.beta_window, ds.decay(config.beta_halflife),
                                       _min_obs(config, config.beta_window))
        beta = z(beta)
        out["beta"] = beta
    if "nonlinear_size" in want:
        out["nonlinear_size"] = z(ex.orthogonalize_nb(size ** 3, size[None], regw, estu))
    if "momentum" in want:
        out["momentum"] = z(ds.ew_mean_nb(logret, valid, config.momentum_window, ds.decay(config.momentum_halflife),
                                          config.momentum_lag, _min_obs(config, config.momentum_window)))
    if "residual_vol" in want:
        dastd = ds.ew_std_nb(p.ret, valid, config.dastd_window, ds.decay(config.dastd_halflife),
                             _min_obs(config, config.dastd_window))
        cmra = ds.cmra_nb(logret, valid, config.cmra_months, _min_obs(config, 21 * config.cmra_months))
        assert hsig is not None and beta is not None  # computed above for residual_vol
        mix = z(ex.combine_nb(np.stack([z(dastd), z(cmra), z(hsig)]), np.array(RESVOL_MIX)))
        filled_beta = ex.fill_missing_nb(beta, p.ind, max(len(p.industries), 1), size, regw, estu)
        out["residual_vol"] = z(ex.orthogonalize_nb(mix, np.stack([filled_beta, size]), regw, estu))
    if "liquidity" in want:
        has = np.isfinite(p.turnover)
        parts = []
        for w, months in zip(config.liquidity_windows, (1, 3, 12)):
            total = ds.rolling_sum_nb(p.turnover, has, w, w)
            with np.errstate(divide="ignore", invalid="ignore"):
                parts.append(z(np.where(total > 0, np.log(total / months), np.nan)))
        mix = z(ex.combine_nb(np.stack(parts), np.array(LIQUIDITY_MIX)))
        out["liquidity"] = z(ex.orthogonalize_nb(mix, size[None], regw, estu))
    if "value" in want:
        out["value"] = z(p.bp)
    return out


def forecasts(f: np.ndarray, resid: np.ndarray, cap: np.ndarray, estu: np.ndarray, n_ind: int,
              config: RiskConfig) -> tuple[np.ndarray, np.ndarray]:
    """(cov (T, K, K), specific (T, N)) daily forecasts from the model's own rows, with the
    eigenfactor adjustment of the factor covariance when ``config.eigen_sims`` > 0, then the
    volatility-regime adjustment when ``config.vra_halflife`` > 0."""
    group = np.array([0] + [1] * n_ind + [2] * (f.shape[1] - 1 - n_ind), dtype=np.int64)
    cov = cv.factor_cov_nb(f, ds.decay(config.vol_halflife), ds.decay(config.corr_halflife), config.nw_lags,
                           config.factor_min_obs, group, config.corr_min_obs)
    if config.eigen_sims > 0:
        cov, _ = cv.eigen_adjust_nb(cov, config.eigen_every, 4 * config.eigen_halflife, ds.decay(config.eigen_halflife),
                                    config.eigen_sims, config.eigen_scale, EIGEN_SEED)
    var, nobs = cv.specific_var_nb(resid, ds.decay(config.specific_halflife), config.specific_nw_lags)
    spec = cv.shrink_specific_nb(var, nobs, np.nan_to_num(cap), config.shrinkage, config.specific_min_obs)
    if config.vra_halflife > 0:
        lam = ds.decay(config.vra_halflife)
        warm = config.factor_min_obs
        cov = cov * cv.vra_factor_nb(f, cov, lam, warm)[:, None, None]
        spec = spec * cv.vra_specific_nb(resid, spec, np.nan_to_num(cap), estu, lam, warm)[:, None]
    return cov, spec


def periods_per_year(store: MarketStore) -> float:
    """Trading days per calendar year, averaged over the store's complete years (243 on the
    real data); 243 when the store holds no complete year."""
    cal = store.calendar()
    if cal.len() == 0:
        return 243.0
    counts = cal.dt.year().value_counts().sort(cal.dt.year().name)
    years = counts[counts.columns[0]].to_list()
    full = [c for y, c in zip(years, counts["count"].to_list()) if years[0] < y < years[-1]]
    return float(np.mean(full)) if full else 243.0


def build(store: MarketStore, config: RiskConfig = RiskConfig(), end: dt.date | None = None,
          start: dt.date | None = None) -> RiskModel:
    """Steps 1-5 of the module docstring for the dates ``start`` (default ``config.start``) to
    ``end``; forecasts start at ``start`` (see ``flyer.risk.storage.update`` for appending)."""
    core = compute_core(store, config, end, start)
    cov, spec = forecasts(core["f"], core["resid"], core["cap"], core["estu"], len(core["industries"]), config)
    return RiskModel(config=config, cov=cov, specific=spec, periods_per_year=periods_per_year(store), **core)


def compute_core(store: MarketStore, config: RiskConfig, end: dt.date | None = None,
                 start: dt.date | None = None) -> dict:
    """Steps 1-4: the per-date parts of a model (everything but the forecasts) as a dict of
    ``RiskModel`` fields, lookback rows dropped."""
    p = load_panel(store, config, end, start)
    if not p.industries:
        raise FlyerError("the store has no industry classification: the risk model needs one "
                         "(the sim writes `sim`; real data needs an industries table)")
    estu, estu_r = estimation_masks(p, config)
    x, coverage = style_exposures(p, config, estu, estu_r)
    style_on = np.zeros_like(coverage, dtype=np.bool_)
    style_on[1:] = coverage[:-1] >= config.min_style_coverage
    x[~(np.nan_to_num(p.cap) > 0)] = np.nan  # exposures only where the stock has a cap that day
    ind = np.where(np.isfinite(p.cap) | np.isfinite(p.ret), p.ind, -1)
    f, resid, r2, r2c, nobs = factor_returns_nb(p.ret, ind, x, p.cap, estu_r, style_on, len(p.industries))
    a = p.first_row
    notes = []
    k = 1 + len(p.industries) + x.shape[2]
    b = max(a, 1)  # row 0 has no previous close: never regressed
    short = nobs[b:] <= k  # days whose regression did not run: no more estimation stocks than factors
    if short.size and short.all():
        raise FlyerError(f"the estimation universe never holds more stocks than the model's {k} factors "
                         f"(at most {int(nobs[b:].max(initial=0)):,} stocks a day): no factor return can be "
                         "estimated; use a wider estimation universe or more stocks")
    if short.any():
        notes.append(f"{int(short.sum()):,} of {short.size:,} days had no more estimation stocks than the {k} "
                     f"factors (first {p.dates[b + int(np.argmax(short))]}): no factor returns, no R^2 those days")
    carried = int(p.carried[a:].sum())
    if carried:
        first = p.dates[a + int(np.argmax(p.carried[a:].any(axis=1)))]
        notes.append(f"caps of {carried:,} stock-days from {first} on are carried share counts x raw close "
                     "(the store has no caps there)")
    keep = np.flatnonzero((np.isfinite(p.cap[a:]) | np.isfinite(p.ret[a:])).any(axis=0))
    cut = lambda arr: arr[a:, keep]  # noqa: E731 - model rows, stocks seen in them
    return dict(dates=p.dates[a:], symbols=tuple(p.symbols[j] for j in keep), industries=p.industries,
                industry_names=p.industry_names, ind=cut(ind), x=cut(x), cap=cut(p.cap), ret=cut(p.ret),
                estu=cut(estu_r), f=f[a:], resid=cut(resid), r2=r2[a:], r2c=r2c[a:], nobs=nobs[a:],
                coverage=coverage[a:], carried=cut(p.carried), notes=tuple(notes))
