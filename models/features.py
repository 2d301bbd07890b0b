"""Feature frames, labels and universes: the inputs a dataset is assembled from.

* ``compute_features(bars, name)`` -> ``[date, symbol, f1..fn]``: a built-in set (``BUILTIN``,
  plain polars, full windows only: warm-up rows are null) or a set of the factor engine
  (``flyer.factors.compute(bars, factors.library.load(name))``).
* ``compute_label(bars, horizon, price)`` -> ``[date, symbol, label]``: ``p[t+1+h]/p[t+1] - 1``
  on back-adjusted prices (qlib's ``Ref($close,-2)/Ref($close,-1)-1`` for h=1); null where a
  future price is missing.
* ``universe_mask(store, universe, start, end)`` -> ``[date, symbol]`` point-in-time members,
  or None for all stocks.
"""
from __future__ import annotations

import datetime as dt
from typing import Callable

import polars as pl

from flyer.data.returns import forward_returns
from flyer.data.universe import members
from flyer.errors import FlyerError

SEQ_FIELDS = ("open", "high", "low", "close", "vwap", "volume")


def _ret(n: int) -> pl.Expr:
    return (pl.col("close") / pl.col("close").shift(n) - 1).over("symbol")


def _basic(bars: pl.DataFrame) -> pl.DataFrame:
    """A small set for tests and sims: momentum, 20-day volatility, range, volume ratio."""
    r1 = (pl.col("close") / pl.col("close").shift(1) - 1)
    out = bars.sort("symbol", "date").with_columns(r1.over("symbol").alias("_r1")).with_columns(
        pl.col("_r1").alias("ret1"),
        _ret(5).alias("ret5"),
        _ret(20).alias("ret20"),
        pl.col("_r1").rolling_std(20).over("symbol").alias("vol20"),
        ((pl.col("high") - pl.col("low")) / pl.col("close")).alias("range1"),
        (pl.col("close") / pl.col("close").rolling_mean(20) - 1).over("symbol").alias("ma20"),
        (pl.col("volume") / pl.col("volume").rolling_mean(20).over("symbol")).log().alias("vratio20"),
    )
    return out.select("date", "symbol", "ret1", "ret5", "ret20", "vol20", "range1", "ma20", "vratio20")


BUILTIN: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {"basic": _basic}
BUILTIN_LOOKBACK = {"basic": 21}


def _factor_set(name: str):
    try:
        from flyer.factors import library
    except ImportError as exc:
        raise FlyerError(f"factor set {name!r} needs the factors package ({exc})") from exc
    try:
        return library.load(name)
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise FlyerError(f"unknown factor set {name!r}: {exc}".splitlines()[0]) from exc


def feature_lookback(name: str) -> int:
    """Trading days of history the set needs before its first full value."""
    base = name.partition(":")[0]
    if base in BUILTIN:
        return BUILTIN_LOOKBACK[base]
    return int(_factor_set(name).lookback)


def compute_features(bars: pl.DataFrame, name: str, keep: pl.DataFrame | None = None,
                     chunk_rows: int = 1_000_000) -> pl.DataFrame:
    """Feature frame ``[date, symbol, f...]`` (Float32) for factor set ``name``.

    ``bars`` as ``MarketStore.bars(adjust=True)``. Infinite values become null. A built-in set
    takes a column subset as ``name:col1,col2`` (e.g. ``basic:ret20,vol20``). ``keep``
    ``[date, symbol]``: only these rows are returned (factor sets are then computed in date
    chunks of about ``chunk_rows`` rows, each cut to ``keep`` at once, to bound memory).
    """
    base, _, subset = name.partition(":")
    if base in BUILTIN:
        df = BUILTIN[base](bars)
        if subset:
            cols = [c.strip() for c in subset.split(",") if c.strip()]
            unknown = [c for c in cols if c not in df.columns or c in ("date", "symbol")]
            if unknown:
                raise FlyerError(f"factor set {base!r} has no column(s) {', '.join(unknown)}")
            df = df.select("date", "symbol", *cols)
    else:
        from flyer import factors

        fs = _factor_set(name)
        if keep is None or bars.height <= chunk_rows:
            df = factors.compute(bars, fs)
        else:
            parts = [_clean(c).join(keep, on=["date", "symbol"], how="semi")
                     for c in factors.compute_chunks(bars, fs, chunk_rows=chunk_rows)]
            return pl.concat(parts).sort("symbol", "date")
    if keep is not None:
        df = df.join(keep, on=["date", "symbol"], how="semi")
    return _clean(df)


def _clean(df: pl.DataFrame) -> pl.DataFrame:
    """Features as Float32 with +-inf and NaN as null, columns ``date, symbol, f...``."""
    feats = [c for c in df.columns if c not in ("date", "symbol")]
    return df.with_columns(
        pl.when(pl.col(c).is_finite()).then(pl.col(c)).otherwise(None).cast(pl.Float32).alias(c) for c in feats
    ).select("date", "symbol", *feats)


def compute_label(bars: pl.DataFrame, horizon: int = 1, price: str = "close") -> pl.DataFrame:
    """``[date, symbol, label]`` with label = p[t+1+h] / p[t+1] - 1 (fraction, back-adjusted).

    Rows of suspended days count as trading days (their price is the last close); a label whose
    future rows do not exist (end of data, delisting) is null.
    """
    return forward_returns(bars, (horizon,), price, names=("label",))


def universe_mask(store, universe: str, start: dt.date, end: dt.date) -> pl.DataFrame | None:
    """Point-in-time ``[date, symbol]`` members of the universe's index, or None for ``all``."""
    return members(store, universe, start, end)


def sequence_columns(bars: pl.DataFrame) -> pl.DataFrame:
    """Per-row log prices and log volume ``[date, symbol, open..volume]`` (Float32) for
    Alpha360-style windows: a window minus its last row's log close / log volume is the log of
    qlib's ``$x/$close`` and ``$volume/$volume_t`` ratios. Non-positive values become null."""
    cols = []
    for c in SEQ_FIELDS:
        x = pl.col(c) + (1.0 if c == "volume" else 0.0)
        cols.append(pl.when(x > 0).then(x.log()).otherwise(None).cast(pl.Float32).alias(c))
    return bars.select("date", "symbol", *cols)
