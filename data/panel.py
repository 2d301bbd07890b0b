"""Panel helpers shared by the file-based sources (pure polars, no I/O).

- :func:`fill_suspended`: make a bar panel dense inside each stock's span (flat suspended rows).
- :func:`adj_factor_from_prev_close`: hfq factor from the exchange's previous close.
- :func:`intervals_to_snapshots`: membership intervals -> dated index snapshots.
- :func:`st_from_name`: point-in-time ST flag from a dated stock name.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

ST_PATTERN = r"^S?\*?ST"  # ST, *ST, SST, S*ST (S: share reform not yet done)


def _calendar_frame(calendar: pl.Series | pl.DataFrame | list[dt.date]) -> pl.DataFrame:
    """Trading days as a sorted, unique ``date`` frame with a row index ``_i``."""
    if isinstance(calendar, pl.DataFrame):
        days = calendar["date"]
    else:
        days = pl.Series("date", calendar, dtype=pl.Date)
    return pl.DataFrame({"date": days.cast(pl.Date)}).drop_nulls().unique().sort("date").with_row_index("_i")


def fill_suspended(bars: pl.DataFrame, calendar: pl.Series | pl.DataFrame | list[dt.date],
                   until: dt.date | None = None) -> pl.DataFrame:
    """Add a flat suspended row for every trading day with no row between a stock's first and last bar.

    ``bars``: one row per (symbol, date) in the ``flyer.data.schema.BARS`` columns (others are forward
    filled). Filled rows: open = high = low = close = the last close, volume 0, amount 0,
    ``is_suspended`` True; ``adj_factor``, ``is_st``, caps and any other column carry the last value.
    Rows whose date is not in ``calendar`` are kept unchanged (the store rejects them).
    ``until``: also fill every symbol through the last trading day <= ``until`` (still listed).
    Returns the frame sorted by (symbol, date).
    """
    if "is_suspended" not in bars.columns:
        bars = bars.with_columns(pl.lit(None, pl.Boolean).alias("is_suspended"))
    cal = _calendar_frame(calendar)
    tagged = bars.join(cal, on="date", how="left").with_columns(pl.lit(True).alias("_have"))
    off = tagged.filter(pl.col("_i").is_null()).drop("_i", "_have")
    on = tagged.filter(pl.col("_i").is_not_null())
    spans = on.group_by("symbol").agg(pl.col("_i").min().alias("_lo"), pl.col("_i").max().alias("_hi"))
    if until is not None and cal.filter(pl.col("date") <= until).height:
        last = cal.filter(pl.col("date") <= until)["_i"].max()
        spans = spans.with_columns(pl.max_horizontal("_hi", pl.lit(last, pl.UInt32)).alias("_hi"))
    if int((spans["_hi"] - spans["_lo"] + 1).sum() or 0) == on.height:
        return bars.sort("symbol", "date")  # already dense
    grid = spans.select("symbol", pl.int_ranges("_lo", pl.col("_hi") + 1, dtype=pl.UInt32).alias("_i")).explode("_i")
    full = (grid.join(on.drop("date"), on=["symbol", "_i"], how="left")
            .join(cal, on="_i", how="left").sort("symbol", "_i"))
    gap = pl.col("_have").is_null()
    last_close = pl.col("close").forward_fill().over("symbol")
    fixed = {"open", "high", "low", "close", "volume", "amount", "is_suspended", "symbol", "date", "_i", "_have"}
    carried = [pl.when(gap).then(pl.col(c).forward_fill().over("symbol")).otherwise(pl.col(c)).alias(c)
               for c in bars.columns if c not in fixed]
    filled = full.with_columns(
        *(pl.when(gap).then(last_close).otherwise(pl.col(c)).alias(c) for c in ("open", "high", "low", "close")),
        *(pl.when(gap).then(pl.lit(0.0)).otherwise(pl.col(c)).alias(c) for c in ("volume", "amount") if c in bars.columns),
        pl.when(gap).then(True).otherwise(pl.col("is_suspended")).alias("is_suspended"),
        *carried,
    ).select(bars.columns)
    if off.height:
        filled = pl.concat([filled, off.select(bars.columns)]).sort("symbol", "date")
    return filled


def adj_factor_from_prev_close(bars: pl.DataFrame, prev_close: str = "pre_close") -> pl.Series:
    """Back-adjustment (hfq) factor from the exchange's ex-rights previous close.

    Per symbol in date order: ratio[t] = close[t-1] / prev_close[t] (1 on the first row or when
    ``prev_close`` is missing or <= 0); factor = cumulative product, so 1.0 on the first row.
    ``bars`` must be sorted by (symbol, date). Returns a Float64 Series aligned with ``bars``.
    """
    ratio = pl.col("close").shift(1).over("symbol") / pl.col(prev_close)
    ratio = pl.when(pl.col(prev_close) > 0).then(ratio).otherwise(None)
    ratio = pl.when(ratio.is_finite() & (ratio > 0)).then(ratio).otherwise(1.0)
    return bars.select(ratio.cum_prod().over("symbol").alias("adj_factor"))["adj_factor"]


def st_from_name(name: pl.Expr) -> pl.Expr:
    """True where the dated stock name carries an ST marker (``ST``, ``*ST``, ``SST``, ``S*ST``)."""
    return name.str.strip_chars().str.contains(ST_PATTERN)


def intervals_to_snapshots(intervals: pl.DataFrame, calendar: pl.Series | pl.DataFrame | list[dt.date],
                           data_end: dt.date | None = None) -> pl.DataFrame:
    """Membership intervals -> one snapshot at each change date holding the members on that date.

    ``intervals``: ``index_code, symbol, start, end`` (inclusive dates, qlib's instruments files).
    A change date is an interval's start or the trading day after its end; ends on or after
    ``data_end`` (default: the latest end per index) mean "still a member" and close nothing.
    Returns ``index_code, date, symbol, weight`` (weight null), sorted.
    """
    cal = _calendar_frame(calendar).select("date")
    iv = intervals.select("index_code", "symbol", pl.col("start").cast(pl.Date), pl.col("end").cast(pl.Date))
    last = iv.group_by("index_code").agg(pl.col("end").max().alias("_last"))
    if data_end is not None:
        last = last.with_columns(pl.lit(data_end, pl.Date).alias("_last"))
    ends = (iv.join(last, on="index_code").filter(pl.col("end") < pl.col("_last"))
            .select("index_code", (pl.col("end") + pl.duration(days=1)).alias("date")).unique().sort("date"))
    removals = ends.join_asof(cal.rename({"date": "_next"}).with_columns(pl.col("_next").alias("date")),
                              on="date", strategy="forward").select("index_code", pl.col("_next").alias("date"))
    changes = pl.concat([iv.select("index_code", pl.col("start").alias("date")),
                         removals.drop_nulls()]).unique()
    snaps = (changes.join(iv, on="index_code")
             .filter((pl.col("start") <= pl.col("date")) & (pl.col("date") <= pl.col("end")))
             .select("index_code", "date", "symbol").unique())
    return snaps.with_columns(pl.lit(None, pl.Float64).alias("weight")).sort("index_code", "date", "symbol")


def clip_snapshots(snaps: pl.DataFrame, start: dt.date | None, end: dt.date | None) -> pl.DataFrame:
    """Keep snapshots dated in [start, end]; the one in force at ``start`` is re-dated to ``start``."""
    if start is not None:
        before = snaps.filter(pl.col("date") <= start)
        if before.height:
            in_force = (before.join(before.group_by("index_code").agg(pl.col("date").max().alias("_d")),
                                    on="index_code").filter(pl.col("date") == pl.col("_d")).drop("_d")
                        .with_columns(pl.lit(start, pl.Date).alias("date")))
            snaps = pl.concat([in_force, snaps.filter(pl.col("date") > start)])
    if end is not None:
        snaps = snaps.filter(pl.col("date") <= end)
    return snaps.sort("index_code", "date", "symbol")


def snapshot_difference(a: pl.DataFrame, b: pl.DataFrame, index_code: str) -> pl.DataFrame:
    """Snapshots of "members of ``a`` that are not members of ``b``" at every change date of either
    (e.g. CSI 300 = CSI 800 - CSI 500). Both inputs: ``date, symbol`` snapshot frames."""
    dates = pl.concat([a.select("date"), b.select("date")]).unique().sort("date")

    def asof(snaps: pl.DataFrame) -> pl.DataFrame:
        snap_dates = snaps.select(pl.col("date").alias("_snap")).unique().sort("_snap")
        keyed = dates.join_asof(snap_dates, left_on="date", right_on="_snap", strategy="backward")
        return keyed.join(snaps.select(pl.col("date").alias("_snap"), "symbol"), on="_snap").drop("_snap")

    diff = asof(a).join(asof(b), on=["date", "symbol"], how="anti")
    return diff.select(pl.lit(index_code).alias("index_code"), "date", "symbol",
                       pl.lit(None, pl.Float64).alias("weight")).sort("date", "symbol")


def stitch_snapshots(parts: list[pl.DataFrame], cuts: list[dt.date]) -> pl.DataFrame:
    """Snapshots from ``parts[0]`` through ``cuts[0]``, ``parts[1]`` after it through ``cuts[1]``, ...

    A later part contributes only its own change dates after the cut, so the earlier source's
    last snapshot stays in force until the later source's first change (no stale re-dating).
    """
    bounds = [None, *cuts, None]
    kept = []
    for part, lo, hi in zip(parts, bounds[:-1], bounds[1:]):
        keep = pl.lit(True)
        if lo is not None:
            keep = keep & (pl.col("date") > lo)
        if hi is not None:
            keep = keep & (pl.col("date") <= hi)
        kept.append(part.filter(keep))
    return pl.concat(kept).sort("index_code", "date", "symbol")
