"""Null shares of a factor set per year (``flyer check --factors SET``).

``null_shares`` computes the set over the store (or reads its stored values) one date chunk at a
time and counts, per factor and calendar year, the rows whose value is null or not finite over
the rows of that year (so memory is bounded by a chunk, not the panel). ``findings`` turns that
into ``flyer.data.health`` findings: the table of factors with a null share above ``show`` in
some year, and one warning per year in which factors go empty (null on more than ``high`` of
rows after being below ``low`` in an earlier year), e.g. every factor on ``$vwap`` once
``amount`` vanishes.
"""
from __future__ import annotations

import datetime as dt
import os

import polars as pl
from flyer.data.health import Finding
from flyer.data.store import MarketStore
from flyer.factors.engine import FactorSpec, as_factor_set


def _chunks(store: MarketStore, home: str | os.PathLike, fs, start: dt.date | None, end: dt.date | None):
    """Value chunks ``[date, symbol, f...]``: stored values when every day is stored, else computed."""
    from flyer.factors import storage
    from flyer.factors.pipeline import compute_range

    root = storage.set_root(home, fs)
    days = store.calendar(start, end)
    have = set(storage.stored_dates(root)) if root.exists() else set()
    if days.len() and all(d in have for d in days):
        for year in sorted({d.year for d in days}):
            lo, hi = max(days[0], dt.date(year, 1, 1)), min(days[-1], dt.date(year, 12, 31))
            yield storage.scan(root, lo, hi, factors=list(fs.names)).collect()
    else:
        yield from compute_range(store, fs, start, end)


def null_shares(store: MarketStore, home: str | os.PathLike, factor_set: FactorSpec, start: dt.date | None = None,
                end: dt.date | None = None, universe: pl.DataFrame | None = None) -> pl.DataFrame:
    """``[factor, year, rows, null_share]``: per factor and year, the share of rows (stock-days,
    kept to ``universe`` ``[date, symbol]`` when given) whose value is null or not finite."""
    fs = as_factor_set(factor_set)
    parts = []
    for chunk in _chunks(store, home, fs, start, end):
        if universe is not None:
            chunk = chunk.join(universe, on=["date", "symbol"], how="semi")
        if chunk.height == 0:
            continue
        nulls = [(~pl.col(n).cast(pl.Float64).is_finite()).fill_null(True).sum().alias(n) for n in fs.names]
        parts.append(chunk.group_by(pl.col("date").dt.year().alias("year")).agg(pl.len().alias("rows"), *nulls))
    if not parts:
        return pl.DataFrame(schema={"factor": pl.Utf8, "year": pl.Int32, "rows": pl.Int64, "null_share": pl.Float64})
    per_year = pl.concat(parts).group_by("year").sum().sort("year")
    long = per_year.unpivot(index=["year", "rows"], on=list(fs.names), variable_name="factor", value_name="nulls")
    return long.select("factor", "year", "rows", (pl.col("nulls") / pl.col("rows")).alias("null_share")).sort(
        "factor", "year")


def findings(shares: pl.DataFrame, label: str, show: float = 0.2, low: float = 0.2,
             high: float = 0.8) -> list[Finding]:
    """Findings of a ``null_shares`` table (see the module docstring)."""
    if shares.height == 0:
        return [Finding("warning", "factors", f"{label}: no values in the span")]
    wide = shares.pivot(on="year", index="factor", values="null_share", sort_columns=True)
    years = [c for c in wide.columns if c != "factor"]
    worst = wide.with_columns(pl.max_horizontal(years).alias("_max")).filter(pl.col("_max") > show)
    overall = float(shares.select((pl.col("null_share") * pl.col("rows")).sum() / pl.col("rows").sum()).item())
    out = [Finding("info", "factors", f"{label}: {shares['factor'].n_unique()} factors, {overall:.1%} of values null "
                                      f"overall; {worst.height} factor(s) null on more than {show:.0%} of rows in some year")]
    if worst.height:
        table = worst.sort("_max", descending=True).drop("_max").head(40).select(
            "factor", *[pl.col(y).map_elements(lambda v: "-" if v is None else f"{v:.1%}", pl.Utf8) for y in years])
        out[0] = Finding("info", "factors", out[0].message + " (the worst 40 below)", table)
    for i, y in enumerate(years[1:], 1):
        earlier = pl.min_horizontal(years[:i])
        gone = wide.filter((pl.col(y) > high) & (earlier < low))["factor"].to_list()
        if gone:
            out.append(Finding("warning", "factors", f"{label}: {len(gone)} factor(s) go empty in {y} (null on more "
                                                     f"than {high:.0%} of rows, under {low:.0%} before): "
                                                     + ", ".join(gone[:12]) + (" ..." if len(gone) > 12 else "")))
            wide = wide.filter(~pl.col("factor").is_in(gone))
    return out
