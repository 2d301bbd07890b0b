from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from flyer.models import processors as P
from flyer.models.dataset import apply_state


def _frame(n_dates: int = 5, n: int = 40, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    dates = pl.Series([dt.date(2020, 1, 1) + dt.timedelta(days=i // n) for i in range(n_dates * n)], dtype=pl.Date)
    a = rng.standard_t(3, n_dates * n)
    a[::17] = np.nan
    return pl.DataFrame({"date": dates, "a": a, "b": rng.normal(5, 2, n_dates * n), "label": rng.normal(0, 0.02, n_dates * n)})


def test_robust_pooled_matches_qlib_formula_and_clips() -> None:
    df = _frame()
    st = P.fit_features(df, ["a", "b"], "robust_pooled", clip=3.0, fillna=0.0)
    x = df["a"].to_numpy()
    med = np.nanmedian(x)
    mad = np.nanmedian(np.abs(x - med))
    assert st["median"][0] == pytest.approx(med) and st["scale"][0] == pytest.approx(mad * 1.4826 + 1e-12)
    out = P.apply_features(df, st)
    want = np.clip((x - med) / (mad * 1.4826), -3, 3)
    got = out["a"].to_numpy()
    assert np.allclose(got[~np.isnan(x)], want[~np.isnan(x)], atol=1e-5)
    assert (got[np.isnan(x)] == 0).all() and np.abs(got).max() <= 3
    # the fast matrix path agrees with the polars path
    mat = apply_state(df.select("a", "b").to_numpy().astype(np.float32), df["date"].to_numpy(), st)
    assert np.allclose(mat[:, 0], got, atol=1e-5)


def test_fit_uses_only_the_rows_given() -> None:
    df = _frame()
    train = df.filter(pl.col("date") < dt.date(2020, 1, 3))
    st1 = P.fit_features(train, ["a"], "robust_pooled")
    shocked = pl.concat([train, df.filter(pl.col("date") >= dt.date(2020, 1, 3)).with_columns(pl.col("a") * 100)])
    st2 = P.fit_features(shocked.filter(pl.col("date") < dt.date(2020, 1, 3)), ["a"], "robust_pooled")
    assert st1 == st2


def test_robust_date_per_cross_section() -> None:
    df = _frame()
    out = P.apply_features(df, P.fit_features(df, ["b"], "robust_date", clip=0, fillna=None))
    raw = df.filter(pl.col("date") == dt.date(2020, 1, 2))["b"].to_numpy()
    med, mad = np.median(raw), np.median(np.abs(raw - np.median(raw)))
    got = out.filter(pl.col("date") == dt.date(2020, 1, 2))["b"].to_numpy()
    assert np.allclose(got, (raw - med) / (mad * 1.4826), atol=1e-4)


def test_label_csrank_and_drop_missing() -> None:
    df = _frame().with_columns(pl.when(pl.int_range(pl.len()) % 11 == 0).then(None).otherwise(pl.col("label")).alias("label"))
    kept = P.drop_missing_label(df)
    assert kept["label"].null_count() == 0 and kept.height < df.height
    t = kept.with_columns(P.label_expr("csrank"))
    g = t.filter(pl.col("date") == dt.date(2020, 1, 1))
    n = g.height
    pct = g["label"].rank("average").to_numpy() / n
    assert np.allclose(g["target"].to_numpy(), (pct - 0.5) * 3.46, atol=1e-6)
    z = kept.with_columns(P.label_expr("cszscore")).group_by("date").agg(pl.col("target").mean().alias("m"),
                                                                          pl.col("target").std().alias("s"))
    assert np.allclose(z["m"].to_numpy(), 0, atol=1e-5) and np.allclose(z["s"].to_numpy(), 1, atol=1e-4)


def test_apply_state_per_date_uses_sample_rows_only() -> None:
    """Per-date stats come from the sample rows (``ok``); other rows are scaled by them."""
    df = _frame()
    x = df.select("b").to_numpy().astype(np.float32)
    dates = df["date"].to_numpy()
    ok = np.arange(df.height) % 3 != 0
    st = P.fit_features(df, ["b"], "robust_date", clip=0, fillna=0.0)
    out = apply_state(x, dates, st, ok)[:, 0]
    day = (df["date"] == dt.date(2020, 1, 3)).to_numpy()
    raw = x[day & ok, 0]
    med = np.median(raw)
    mad = np.median(np.abs(raw - med))
    assert np.allclose(out[day], (x[day, 0] - med) / (mad * 1.4826), atol=1e-4)
