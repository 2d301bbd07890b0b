"""Fixtures of the factor tests: small hand-made panels (no store needed)."""
from __future__ import annotations

import polars as pl
import pytest

from factor_panels import make_bars


@pytest.fixture(scope="session")
def bars() -> pl.DataFrame:
    return make_bars()


@pytest.fixture(scope="session")
def clean_bars() -> pl.DataFrame:
    return make_bars(n_symbols=5, n_days=90, seed=1, nan_frac=0.0, ragged=True).with_columns(
        pl.lit(False).alias("is_suspended"))
