"""Feature frames, labels and universes: the inputs a dataset is assembled from.

* ``resolve(name)`` -> ``FeatureSpec``: what a feature set name stands for, with its content
  ``key`` (the factor set's ``FactorSet.key()``, or a hash of the built-in's name and version).
  A run saves its spec (``to_json``) and scores later days from it, not from the name.
* ``compute_features(bars, name_or_spec)`` -> ``[date, symbol, f1..fn]``: a built-in set
  (``BUILTIN``, plain polars, full windows only: warm-up rows are null) or a set of the factor
  engine (``flyer.factors.compute(bars, spec.factor_set)``).
* ``compute_label(bars, horizon, price)`` -> ``[date, symbol, label]``: ``p[t+1+h]/p[t+1] - 1``
  on back-adjusted prices (qlib's ``Ref($close,-2)/Ref($close,-1)-1`` for h=1); null where a
  future price is missing.
* ``universe_mask(store, universe, start, end)`` -> ``[date, symbol]`` point-in-time members,
  or None for all stocks.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import polars as pl

from flyer.core import progress
from flyer.core.config import content_key
from flyer.data.returns import forward_returns
from flyer.data.universe import members
from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore
    from flyer.factors.factorset import FactorSet

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
BUILTIN_COLUMNS = {"basic": ("ret1", "ret5", "ret20", "vol20", "range1", "ma20", "vratio20")}
#: bump when a built-in set's values change (it is part of the built-ins' content key)
BUILTIN_VERSION = 1


@dataclass(frozen=True)
class FeatureSpec:
    """What a run's feature columns are computed from: a factor-engine set (``factor_set``) or
    a built-in polars set (``factor_set`` None; ``name`` like ``basic`` or ``basic:ret20,vol20``)."""

    name: str
    factor_set: FactorSet | None = None

    @property
    def key(self) -> str:
        """Content key (12 hex): ``FactorSet.key()`` (default mode), or for a built-in the hash
        of its canonical name and ``BUILTIN_VERSION``."""
        if self.factor_set is not None:
            return self.factor_set.key()
        return content_key({"builtin": self.name, "version": BUILTIN_VERSION})

    @property
    def lookback(self) -> int:
        """Trading days of history the set needs before its first full value."""
        if self.factor_set is None:
            return BUILTIN_LOOKBACK[self.name.partition(":")[0]]
        return int(self.factor_set.lookback)

    def to_json(self) -> dict[str, Any]:
        """``{name, key, builtin, formulas}`` (what a run folder's ``factors.json`` holds);
        ``formulas`` as ordered ``[name, formula]`` pairs (the order is part of the key)."""
        formulas = [[n, str(e)] for n, e in self.factor_set] if self.factor_set is not None else None
        return {"name": self.name, "key": self.key, "builtin": self.factor_set is None, "formulas": formulas}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> FeatureSpec:
        """Inverse of ``to_json``; raises ``FlyerError`` when the content no longer hashes to
        its ``key`` (edited by hand, or saved by another engine version)."""
        if d.get("builtin"):
            spec = resolve(d["name"])
        else:
            from flyer.factors.factorset import FactorSet

            spec = cls(d["name"], FactorSet.from_formulas(d["name"], dict(d.get("formulas") or [])))
        if spec.key != d.get("key"):
            raise FlyerError(f"feature set {d.get('name')!r}: its formulas hash to {spec.key}, not the saved "
                             f"key {d.get('key')} (edited, or saved by another factor engine version)")
        return spec


def resolve(name: str) -> FeatureSpec:
    """The ``FeatureSpec`` a feature set name stands for: a built-in (``basic[:cols]``), a
    library set (``alpha158``, ...) or a TOML/YAML formula file (read now)."""
    base, _, subset = name.partition(":")
    if base == "frame":
        raise FlyerError(f"features {name!r} came from a frame passed to flyer.models.train_frame: flyer cannot "
                         "recompute them for another day (score with the run's predictions(), or train on formulas)")
    if base in BUILTIN:
        cols = [c.strip() for c in subset.split(",") if c.strip()]
        unknown = [c for c in cols if c not in BUILTIN_COLUMNS[base]]
        if unknown:
            raise FlyerError(f"factor set {base!r} has no column(s) {', '.join(unknown)}")
        return FeatureSpec(f"{base}:{','.join(cols)}" if cols else base)
    from flyer.factors import library

    try:
        return FeatureSpec(name, library.load(name))
    except (FileNotFoundError, KeyError, ValueError) as exc:
        raise FlyerError(f"unknown factor set {name!r}: {exc}".splitlines()[0]) from exc


def feature_lookback(name: str) -> int:
    """Trading days of history the set ``name`` needs before its first full value."""
    return resolve(name).lookback


def compute_features(bars: pl.DataFrame, spec: str | FeatureSpec, keep: pl.DataFrame | None = None,
                     chunk_rows: int = 500_000) -> pl.DataFrame:
    """Feature frame ``[date, symbol, f...]`` (Float32) for a feature set (name or spec).

    ``bars`` as ``MarketStore.bars(adjust=True)``. Infinite values become null. A built-in set
    takes a column subset as ``name:col1,col2`` (e.g. ``basic:ret20,vol20``). ``keep``
    ``[date, symbol]``: only these rows are returned (factor sets are then computed in date
    chunks of about ``chunk_rows`` rows, each cut to ``keep`` at once, to bound memory).
    """
    spec = resolve(spec) if isinstance(spec, str) else spec
    if spec.factor_set is None:
        base, _, subset = spec.name.partition(":")
        df = BUILTIN[base](bars)
        if subset:
            df = df.select("date", "symbol", *subset.split(","))
    else:
        from flyer import factors

        fs = spec.factor_set
        if keep is None or bars.height <= chunk_rows:
            with progress.task(f"features {spec.name}", total=1, unit="chunks") as bar:
                df = factors.compute(bars, fs, dtype=pl.Float32)
                bar.advance()
        else:
            from flyer.factors.engine import n_chunks

            chunks = progress.tracked(factors.compute_chunks(bars, fs, chunk_rows=chunk_rows, dtype=pl.Float32),
                                      f"features {spec.name}", "chunks", total=n_chunks(bars, fs, chunk_rows))
            parts = [clean(c).join(keep, on=["date", "symbol"], how="semi") for c in chunks]
            return pl.concat(parts).sort("symbol", "date")
    if keep is not None:
        df = df.join(keep, on=["date", "symbol"], how="semi")
    return clean(df)


def clean(df: pl.DataFrame) -> pl.DataFrame:
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


def universe_mask(store: MarketStore, universe: str, start: dt.date, end: dt.date) -> pl.DataFrame | None:
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
