"""The risk model end to end on the small sim market: shapes and identities, fit and bias
statistics, incremental updates equal a full build, storage keyed by config, carried caps and
a style known for part of the universe."""
from __future__ import annotations

import dataclasses
import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from flyer.data.store import MarketStore
from flyer.risk import storage, validation
from flyer.risk.config import RiskConfig
from flyer.risk.model import build, exposure_rows
from flyer.risk.panel import load_panel

FIELDS = ("f", "resid", "cov", "specific", "x", "r2", "cap", "ret")


def _copy_home(frames: dict[str, pl.DataFrame], path: Path, **changes: pl.DataFrame) -> Path:
    with MarketStore.open(path) as store:
        store.write("sim", {**frames, **changes})
    return path


def test_model_shapes_identity_and_fit(risk_model) -> None:
    m = risk_model
    t, n = len(m.dates), len(m.symbols)
    assert m.x.shape == (t, n, len(m.styles)) and m.cov.shape == (t, len(m.factors), len(m.factors))
    assert m.factors[0] == "country" and m.factors[-len(m.styles):] == m.styles
    assert np.isfinite(m.f[:, 0]).all() and (m.nobs > 50).all()
    i = t // 2
    x = exposure_rows(m.ind[i - 1], m.x[i - 1], np.arange(n), m.n_ind)
    ok = np.isfinite(m.ret[i])
    np.testing.assert_allclose((x @ np.nan_to_num(m.f[i]))[ok] + m.resid[i][ok], m.ret[i][ok], atol=1e-14)
    r2 = validation.r2_by_year(m)
    assert r2["r2"].min() > 0.2 and r2["r2"].max() < 0.9     # industries + styles on the sim's factor structure
    vols = np.sqrt(np.einsum("tkk->tk", m.cov) * m.periods_per_year)
    assert (vols[:, 0] > 0.05).all() and (vols[:, 0] < 0.6).all()   # country ~ the market's volatility
    assert np.all(np.linalg.eigvalsh(m.cov[-1]) > 0)
    assert 240 <= m.periods_per_year <= 246


def test_bias_statistics_of_random_and_benchmark_portfolios(risk_model) -> None:
    """Predicted vs realised risk: std of z = r / sigma near 1 after the covariance warm-up."""
    m = risk_model
    z, sig = validation.portfolio_bias(m, validation.random_portfolios(m, size=20, n=20), 20)
    warm = m.config.factor_min_obs + 21
    bias = np.nanstd(z[warm:], axis=0, ddof=1)
    assert 0.75 < np.median(bias) < 1.3
    table = validation.bias_table(z, list(m.dates), "random")
    assert set(table.columns) == {"portfolios", "year", "days", "bias_mean", "bias_median", "in_band"}
    assert table.filter(pl.col("year") == "all")["days"].item() > 150


def test_incremental_update_equals_a_full_build(risk_home: Path, tmp_path: Path) -> None:
    cfg = RiskConfig(start=dt.date(2020, 3, 2))
    with MarketStore.open(risk_home, read_only=True) as store:
        first = storage.update(store, tmp_path, cfg, end=dt.date(2020, 8, 31))
        second = storage.update(store, tmp_path, cfg)
        again = storage.update(store, tmp_path, cfg)
        full = build(store, cfg)
    assert (first.mode, second.mode, again.mode) == ("built", "appended", "current")
    inc = storage.load(tmp_path, cfg)
    assert inc.dates == full.dates and inc.symbols == full.symbols
    for name in FIELDS:
        np.testing.assert_allclose(getattr(inc, name), getattr(full, name), rtol=1e-9, atol=1e-13, equal_nan=True)
    assert (inc.ind == full.ind).all() and (inc.estu == full.estu).all()
    part = storage.load(tmp_path, cfg, dt.date(2020, 6, 1), dt.date(2020, 6, 30))
    assert part.dates[0] >= dt.date(2020, 6, 1) and part.dates[-1] <= dt.date(2020, 6, 30)


def test_storage_is_keyed_by_content_and_rebuilds_on_changed_history(sim_frames, tmp_path: Path) -> None:
    home = _copy_home(sim_frames, tmp_path / "h")
    a, b = RiskConfig(), RiskConfig(shrinkage=0.3)
    with MarketStore.open(home, read_only=True) as store:
        ra, rb = storage.update(store, home, a), storage.update(store, home, b)
    assert ra.key != rb.key and ra.path != rb.path and ra.path.exists() and rb.path.exists()
    bars = sim_frames["bars"]
    day = bars["date"].unique().sort()[600]
    changed = bars.filter(pl.col("date") == day).with_columns(pl.col("close") * 1.01)
    with MarketStore.open(home) as store:
        store.write("fix", {"bars": changed})
        assert storage.update(store, home, a).mode == "rebuilt"


def test_caps_are_carried_where_the_store_has_none(sim_frames, tmp_path: Path) -> None:
    cut = dt.date(2020, 6, 30)
    bars = sim_frames["bars"].with_columns(
        *(pl.when(pl.col("date") > cut).then(None).otherwise(pl.col(c)).alias(c) for c in ("total_cap", "float_cap")))
    home = _copy_home(sim_frames, tmp_path / "h", bars=bars)
    with MarketStore.open(home, read_only=True) as store:
        panel = load_panel(store, RiskConfig())
        model = build(store, RiskConfig())
    i = panel.dates.index(dt.date(2020, 9, 30))
    true = sim_frames["bars"].filter(pl.col("date") == panel.dates[i]).select("symbol", "total_cap")
    est = dict(zip(panel.symbols, panel.cap[i]))
    ratio = np.array([est[s] / c for s, c in true.iter_rows() if s in est])
    assert panel.carried[i].any() and not panel.carried[panel.dates.index(cut)].any()
    assert np.median(ratio) == pytest.approx(1.0, abs=1e-9)   # share counts unchanged in the sim but for splits
    assert any("carried share counts" in n for n in model.notes)


def test_a_style_known_for_part_of_the_universe(sim_frames, tmp_path: Path) -> None:
    fund = sim_frames["fundamentals"]
    half = fund["symbol"].unique().sort()[::2]
    part = fund.with_columns(pl.when(pl.col("symbol").is_in(half.implode())).then(None)
                             .otherwise(pl.col("pb_mrq")).alias("pb_mrq"))
    home = _copy_home(sim_frames, tmp_path / "h", fundamentals=part)
    with MarketStore.open(home, read_only=True) as store:
        m = build(store, RiskConfig())
    v = m.styles.index("value")
    assert 0.3 < np.mean(m.coverage[:, v]) < 0.7
    has_cap = np.isfinite(m.cap) & (m.cap > 0)
    assert np.isfinite(m.x[:, :, v][has_cap]).mean() > 0.999   # filled from industry and size
    assert np.isfinite(m.f[:, 1 + m.n_ind + v]).all()
    none = fund.with_columns(pl.lit(None, pl.Float64).alias("pb_mrq"))
    home2 = _copy_home(sim_frames, tmp_path / "h2", fundamentals=none)
    with MarketStore.open(home2, read_only=True) as store:
        m2 = build(store, RiskConfig())
    assert np.isnan(m2.f[:, 1 + m2.n_ind + v]).all()            # no PB at all: the style stays out
    assert dataclasses.asdict(m2.config) == dataclasses.asdict(RiskConfig())


def test_config_errors_are_one_line() -> None:
    from flyer.core.errors import FlyerError

    with pytest.raises(FlyerError, match="risk.styles: unknown style"):
        RiskConfig(styles=("size", "quality"))
    with pytest.raises(FlyerError, match="unknown setting.*risk: halflife"):
        RiskConfig.from_dict({"halflife": 3})
    assert RiskConfig.from_dict(RiskConfig(start=dt.date(2020, 1, 2)).to_dict()) == RiskConfig(start=dt.date(2020, 1, 2))


def test_eigenfactor_adjustment_lowers_the_bias_of_optimised_portfolios(risk_model, risk_home: Path) -> None:
    """Optimised portfolios (minimum variance for random alphas) load on the smallest
    eigenvalues, which sampling error makes too small: their realised / predicted risk is
    above 1. The default model (eigenfactor-adjusted) brings it down, in factor space clearly
    and for the optimised stock portfolios too; random portfolios barely move."""
    assert risk_model.config.eigen_sims > 0
    with MarketStore.open(risk_home, read_only=True) as store:
        plain = build(store, dataclasses.replace(risk_model.config, eigen_sims=0))
    warm = risk_model.config.factor_min_obs + 21

    def stat(z: np.ndarray) -> float:
        return float(np.mean(np.nanstd(z[warm:], axis=0, ddof=1)))

    f_adj, f_raw = stat(validation.optimised_factor_bias(risk_model)), stat(validation.optimised_factor_bias(plain))
    assert f_raw > 1.2 and f_adj < 0.95 * f_raw
    opt = [stat(validation.portfolio_bias(m, validation.optimised_portfolios(m), 20)[0]) for m in (risk_model, plain)]
    assert 1.0 < opt[0] < opt[1]
    rnd = [stat(validation.portfolio_bias(m, validation.random_portfolios(m, size=20, n=20), 20)[0])
           for m in (risk_model, plain)]
    assert abs(rnd[0] - rnd[1]) < 0.05
    table = validation.model_bias(risk_model, n=10)
    assert set(table["portfolios"].unique().to_list()) == {"random", "optimised", "optimised factors"}
    assert "all" in table["year"].to_list()
