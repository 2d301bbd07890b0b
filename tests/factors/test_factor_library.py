"""Factor libraries: Alpha158 names/formulas and values as qlib defines them, Alpha360, files."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest

from flyer.factors import FormulaError, compute, parse
from flyer.factors.library import load, names

from factor_reference import series_by_symbol

REFERENCE = Path("/work/shared/reference/alpha158.md")


def test_builtin_sets_parse_and_round_trip():
    assert {"alpha158", "alpha360", "wq101"} <= set(names())
    for name in ("alpha158", "alpha360", "wq101"):
        fs = load(name)
        for fname, expr in fs:
            assert parse(str(expr)) == expr, fname
    assert len(load("alpha158")) == 158 and load("alpha158").lookback == 60
    a360 = load("alpha360")
    assert len(a360) == 360 and a360.names[:2] == ("CLOSE59", "CLOSE58") and a360.names[-1] == "VOLUME0"
    assert str(dict(a360.factors)["VOLUME3"]) == "Ref($volume, 3) / ($volume + 1e-12)"


@pytest.mark.skipif(not REFERENCE.exists(), reason="alpha158 reference table absent")
def test_alpha158_matches_published_table():
    rows = re.findall(r"^\| (\w+) \| `(.+)` \|$", REFERENCE.read_text(), re.M)
    fs = load("alpha158")
    assert [n for n, _ in rows] == list(fs.names)
    table = dict(fs.factors)
    for name, formula in rows:
        assert parse(formula) == table[name], name


def _qlib_like(bars: pl.DataFrame) -> dict[str, dict[str, pd.Series]]:
    """A handful of Alpha158 factors computed the way qlib does: pandas rolling(min_periods=1)
    per instrument on float32 fields, float32 results."""
    f = {c: series_by_symbol(bars, c, f32=True) for c in ("open", "high", "low", "close", "volume")}
    out: dict[str, dict[str, pd.Series]] = {}
    for sym in f["close"]:
        o, h, l, c, v = (f[k][sym] for k in ("open", "high", "low", "close", "volume"))
        r = lambda s, n: s.rolling(n, min_periods=1)  # noqa: E731
        prev = c.shift(1)
        gt = (c > prev).astype(float)
        diff = c - prev
        vals = {
            "KMID": (c - o) / o,
            "KUP2": (h - np.maximum(o, c)) / (h - l + 1e-12),
            "ROC5": c.shift(5) / c,
            "MA10": r(c, 10).mean() / c,
            "STD20": r(c, 20).std() / c,
            "QTLU10": r(c, 10).quantile(0.8) / c,
            "RANK5": r(c, 5).rank(pct=True),
            "RSV5": (c - r(l, 5).min()) / (r(h, 5).max() - r(l, 5).min() + 1e-12),
            "IMAX5": r(h, 5).apply(lambda x: np.argmax(x) + 1, raw=True) / 5,
            "CORR10": r(c, 10).corr(np.log(v + 1)).mask(
                np.isclose(r(c, 10).std(), 0, atol=2e-5) | np.isclose(r(np.log(v + 1), 10).std(), 0, atol=2e-5)),
            "CNTP10": r(gt, 10).mean(),
            "SUMP5": r(diff.clip(lower=0).where(diff.notna()), 5).sum() / (r(diff.abs(), 5).sum() + 1e-12),
            "VMA5": r(v, 5).mean() / (v + 1e-12),
            "WVMA5": r((c / prev - 1).abs() * v, 5).std() / (r((c / prev - 1).abs() * v, 5).mean() + 1e-12),
        }
        for name, s in vals.items():
            out.setdefault(name, {})[sym] = s.astype(np.float32).astype(np.float64)
    return out


def test_alpha158_values_equal_qlib_definitions(bars):
    expected = _qlib_like(bars)
    fs = load("alpha158").select(list(expected))
    out = compute(bars, fs, qlib_compat=True)
    for name, per_sym in expected.items():
        for (sym,), g in out.group_by("symbol", maintain_order=True):
            act = g[name].fill_null(np.nan).to_numpy()
            np.testing.assert_allclose(act, per_sym[sym].to_numpy(), rtol=3e-5, atol=3e-6,
                                       equal_nan=True, err_msg=f"{name} {sym}")


def test_alpha158_full_mode_nulls_warmup_only(clean_bars):
    fs = load("alpha158")
    out = compute(clean_bars, fs)
    first = out.filter(pl.col("symbol") == "S00")
    assert first["MA60"].head(59).null_count() == 59 and first["MA60"][59] is not None
    assert first["KMID"].null_count() == 0
    ages = first.with_row_index("age")
    for name, expr in fs:
        col = ages.filter(pl.col("age") >= expr.lookback)[name]
        assert col.null_count() == 0 or name.startswith(("RSQR", "CORR", "CORD")), name


def test_user_factor_files(tmp_path):
    toml = tmp_path / "mine.toml"
    toml.write_text('MOM5 = "Delta($close, 5) / Ref($close, 5)"\nVOLR = "Mean($volume, 5) / Mean($volume, 20)"\n')
    fs = load(toml)
    assert fs.name == "mine" and fs.names == ("MOM5", "VOLR") and fs.lookback == 19
    yml = tmp_path / "mine.yaml"
    yml.write_text("factors:\n  A: CSRank($close)\n  B: Mean($close, 3)\n")
    assert load(yml).names == ("A", "B")
    bad = tmp_path / "bad.toml"
    bad.write_text('X = "Meen($close, 5)"\n')
    with pytest.raises(FormulaError, match=r"bad formula 'Meen\(\$close, 5\)' \(X\): unknown operator 'Meen' at column 1"):
        load(bad)
    with pytest.raises(Exception, match="unknown factor set"):
        load("no_such_set")


def test_wq101_samples_match_hand_computation(clean_bars):
    fs = load("wq101")
    assert len(fs) == 101 and fs.names[0] == "ALPHA001" and fs.names[-1] == "ALPHA101"
    out = compute(clean_bars, fs.select(["ALPHA101", "ALPHA012", "ALPHA041", "ALPHA006"]))
    d = clean_bars.sort("symbol", "date").to_pandas()
    g = d.groupby("symbol")
    exp = {
        "ALPHA101": (d.close - d.open) / (d.high - d.low + 0.001),
        "ALPHA012": np.sign(g.volume.diff()) * -g.close.diff(),
        "ALPHA041": np.sqrt(d.high * d.low) - d.vwap,
        "ALPHA006": -g.apply(lambda s: s.open.rolling(10).corr(s.volume), include_groups=False).reset_index(drop=True),
    }
    for name, e in exp.items():
        np.testing.assert_allclose(out[name].fill_null(np.nan).to_numpy(), e.to_numpy(dtype=float),
                                   rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=name)
