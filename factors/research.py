"""Factor research by name: ``values``, ``evaluate`` and ``alphalens`` take what a researcher
has at hand instead of frames built by hand.

``what`` may be a library set or file name (``"alpha158"``, ``"my.toml"``), a ``FactorSet``,
one formula (``"-1 * ($close / Ref($close, 5) - 1)"``, named ``f1``), a dict of named formulas,
or a polars frame of values ``[date, symbol, <factor columns>]`` the user computed. ``universe``
is a name (``all``, ``csi500``, ``csi300``) or an index code, applied point in time; forward
returns are ``flyer.data.returns`` (``close[t+1+h] / close[t+1] - 1``). The store is only read
(open it read-only: ``flyer.data.open_store()``).
"""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import polars as pl
from flyer.data.store import MarketStore, flyer_home
from flyer.factors.evaluation import HORIZONS, FactorEvaluation
from flyer.factors.factorset import FactorSet

from flyer.core.errors import FlyerError

FactorInput = str | FactorSet | dict | pl.DataFrame


def as_set(what: str | FactorSet | dict) -> FactorSet:
    """A ``FactorSet`` from a set name or file, a formula, a dict of formulas or a set."""
    from flyer.factors.library import load, names

    if isinstance(what, FactorSet):
        return what
    if isinstance(what, dict):
        return FactorSet.from_formulas("formulas", {str(k): str(v) for k, v in what.items()})
    if not isinstance(what, str):
        raise FlyerError(f"expected a set name, a formula, a dict of formulas or a frame, not {type(what).__name__}")
    if what in names() or what.endswith((".toml", ".yaml", ".yml")) or Path(what).is_file():
        return load(what)
    return FactorSet.from_formulas("formula", {"f1": what})


def _universe(store: MarketStore, universe: str, start: dt.date | None, end: dt.date | None) -> pl.DataFrame | None:
    from flyer.data.universe import members

    return members(store, universe, start, end)


def values(store: MarketStore, what: FactorInput, *, start: dt.date | None = None, end: dt.date | None = None,
           universe: str = "all", home: str | os.PathLike | None = None) -> pl.DataFrame:
    """``[date, symbol, <factors>]`` over [start, end] for the universe's members that day:
    stored values when the set is stored under its content key, else computed from the store."""
    from flyer.factors.pipeline import factor_values

    univ = _universe(store, universe, start, end)
    if isinstance(what, pl.DataFrame):
        df = what.filter(pl.col("date").is_between(start or dt.date.min, end or dt.date.max))
        return df.join(univ, on=["date", "symbol"], how="semi") if univ is not None else df
    return factor_values(store, flyer_home(home), as_set(what), start, end, universe=univ)


def _forward(store: MarketStore, vals: pl.DataFrame, horizons: tuple[int, ...]) -> pl.DataFrame:
    from flyer.factors.evaluation import forward_returns
    from flyer.factors.pipeline import as_day

    last = as_day(vals["date"].max())
    after = store.calendar(start=last)
    end = as_day(after[min(max(horizons) + 1, after.len() - 1)]) if after.len() else last
    return forward_returns(store.bars(as_day(vals["date"].min()), end).select("symbol", "date", "close"), horizons)


def evaluate(store: MarketStore, what: FactorInput, *, universe: str = "all", horizon: int = 5,
             start: dt.date | None = None, end: dt.date | None = None, quantiles: int = 5,
             home: str | os.PathLike | None = None) -> dict[str, FactorEvaluation]:
    """IC / RankIC / quantile / turnover evaluation of every factor of ``what`` at ``horizon``
    trading days over ``universe`` (``flyer.factors.evaluation``; the same as ``flyer factors eval``)."""
    from flyer.factors.evaluation import evaluate_set
    from flyer.factors.pipeline import evaluate as evaluate_stored

    if horizon < 1 or quantiles < 2:
        raise FlyerError("horizon must be >= 1 and quantiles >= 2")
    if not isinstance(what, pl.DataFrame):
        return evaluate_stored(store, flyer_home(home), as_set(what), start=start, end=end, universe=universe,
                               horizon=horizon, quantiles=quantiles)[0]
    vals = values(store, what, start=start, end=end, universe=universe)
    horizons = tuple(sorted({*HORIZONS, horizon}))
    return evaluate_set(vals, _forward(store, vals, horizons), horizon=horizon, quantiles=quantiles,
                        universe=_universe(store, universe, start, end), horizons=horizons)


def alphalens(store: MarketStore, what: FactorInput, factor: str | None = None, *, universe: str = "all",
              horizons: tuple[int, ...] = (1, 5, 10), quantiles: int = 5, start: dt.date | None = None,
              end: dt.date | None = None, home: str | os.PathLike | None = None) -> Any:
    """One factor in alphalens' ``factor_data`` layout (``flyer.factors.tables.alphalens_frame``):
    ``alphalens.tears.create_full_tear_sheet(flyer.factors.alphalens(store, "alpha158", "KMID"))``."""
    from flyer.factors.evaluation import factor_table
    from flyer.factors.tables import alphalens_frame

    vals = values(store, what, start=start, end=end, universe=universe, home=home)
    names = [c for c in vals.columns if c not in ("date", "symbol")]
    factor = factor or names[0]
    if factor not in names:
        raise FlyerError(f"no factor {factor!r} in {', '.join(names[:10])}")
    table, _ = factor_table(vals, factor, _forward(store, vals, horizons), quantiles=quantiles, horizons=horizons)
    return alphalens_frame(table)
