"""Small hand-made bars panels in the bars contract (helpers for the factor tests)."""
from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl


def make_bars(n_symbols: int = 4, n_days: int = 40, seed: int = 0, nan_frac: float = 0.08,
              ragged: bool = True) -> pl.DataFrame:
    """Bars contract panel sorted by (symbol, date): random walks, some suspended days and
    some missing closes/volumes; with ``ragged`` later symbols list later (shorter series)."""
    rng = np.random.default_rng(seed)
    cal = [dt.date(2021, 1, 4) + dt.timedelta(days=i) for i in range(n_days)]
    frames = []
    for s in range(n_symbols):
        first = (s * 3) % 11 if ragged else 0
        n = n_days - first
        close = 10 * np.exp(np.cumsum(rng.normal(0, 0.03, n)))
        close[rng.random(n) < 0.1] = close[0]  # some ties
        open_ = close * (1 + rng.normal(0, 0.01, n))
        high = np.maximum(open_, close) * (1 + rng.random(n) * 0.02)
        low = np.minimum(open_, close) * (1 - rng.random(n) * 0.02)
        volume = rng.integers(1_000, 50_000, n).astype(float)
        close_na = np.where(rng.random(n) < nan_frac, np.nan, close)
        vol_na = np.where(rng.random(n) < nan_frac, np.nan, volume)
        frames.append(pl.DataFrame({
            "symbol": f"S{s:02d}", "date": cal[first:], "open": open_, "high": high, "low": low,
            "close": close_na, "volume": vol_na, "amount": close * volume,
            "vwap": (high + low + close) / 3, "turnover": volume / 1e6,
            "cap": 1e9 * (1 + s) * close / close[0], "is_suspended": rng.random(n) < 0.04,
            "industry": f"IND{s % 3}",
        }).with_columns(pl.col("close", "volume").fill_nan(None)))
    return pl.concat(frames).sort("symbol", "date")
