"""Factor evaluation tables out: files (``flyer factors eval --out``), long frames, alphalens' layout.

* ``long_tables(evals)``: every table of every ``FactorEvaluation`` stacked with a ``factor``
  column: ``summary``, ``ic`` (daily IC / RankIC per horizon), ``ic_decay``, ``quantiles``
  (mean return per quantile), ``quantile_daily``, ``top_excess``, ``turnover``, ``autocorr``.
* ``export_tables(evals, out, fmt)``: those as ``<name>.csv`` / ``<name>.parquet``.
* ``alphalens_frame(table)``: the canonical factor table (``evaluation.factor_table``) as the
  pandas frame alphalens' tear sheets take (``get_clean_factor_and_forward_returns`` output):
  a ``(date, asset)`` MultiIndex, forward-return columns ``1D, 5D, ...``, ``factor`` and
  ``factor_quantile`` (1 = lowest).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import polars as pl
from flyer.factors.evaluation import FactorEvaluation, ic_decay, summary_table

TABLES = ("summary", "ic", "ic_decay", "quantiles", "quantile_daily", "top_excess", "turnover", "autocorr")


def long_tables(evals: dict[str, FactorEvaluation]) -> dict[str, pl.DataFrame]:
    """The tables of every factor, stacked, each with a leading ``factor`` column."""
    def stack(attr: str) -> pl.DataFrame:
        parts = [getattr(e, attr).select(pl.lit(n).alias("factor"), pl.all()) for n, e in evals.items()]
        return pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame()
    out = {"summary": summary_table(evals), "ic": stack("ic"), "ic_decay": ic_decay(evals) if evals else pl.DataFrame()}
    for name in ("quantiles", "quantile_daily", "top_excess", "turnover", "autocorr"):
        out[name] = stack(name)
    return out


def export_tables(evals: dict[str, FactorEvaluation], out: str | os.PathLike, fmt: str = "csv") -> Path:
    """Write ``long_tables(evals)`` into the folder ``out``; returns it."""
    from flyer.core.atomic import write_tables

    return write_tables(long_tables(evals), out, fmt)


def alphalens_frame(table: pl.DataFrame) -> Any:
    """``pandas.DataFrame`` in alphalens' factor_data layout from a canonical factor table
    ``[date, symbol, value, ret_1, ret_5, ..., quantile]`` (see the module docstring)."""
    rets = {c: f"{c[4:]}D" for c in table.columns if c.startswith("ret_")}
    df = table.select(pl.col("date").cast(pl.Datetime("ns")), pl.col("symbol").alias("asset"),
                      *[pl.col(c).alias(n) for c, n in rets.items()], pl.col("value").alias("factor"),
                      pl.col("quantile").cast(pl.Int64).alias("factor_quantile")).sort("date", "asset")
    return df.to_pandas().set_index(["date", "asset"])
