"""Validation of incoming frames before they are written (pure, no I/O).

``check`` tags the offending rows with a rule name and separates them from the good rows, so
the store writes only the latter and logs the former. Rules: finite numbers only (``non_finite``:
inf or NaN where a number must be), plausible magnitudes (``implausible``: ``LIMITS``), no
dates after the clock (``future_date``) or off the trading calendar, canonical symbols, price
consistency; duplicate keys keep ONE row when the copies are identical (the others are logged
``duplicate_copy``) and reject every copy when they conflict (``duplicate_key``).

Sources that derive rows (filled suspended days, instruments, the calendar span) call ``check``
on their raw rows first (``flyer.data.sources.files.assemble``), so a rejected row leaves
nothing behind but its reject record.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import polars as pl
from flyer.data.schema import KEYS, Schema
from flyer.data.symbols import is_canonical_expr

REJECT_SCHEMA: Schema = {"tbl": pl.Utf8, "symbol": pl.Utf8, "date": pl.Date, "rule": pl.Utf8, "detail": pl.Utf8}

#: largest plausible value per column (raw CNY prices: the dearest A-share ever traded near
#: 2,600 CNY; index levels: tens of thousands; a whole market trades ~1e12 CNY a day)
LIMITS: dict[str, float] = {
    "open": 1e6, "high": 1e6, "low": 1e6, "close": 1e6,
    "volume": 1e12, "amount": 1e13, "total_cap": 1e15, "float_cap": 1e15, "adj_factor": 1e7,
    "weight": 1.0 + 1e-6, "total_shares": 1e13, "float_shares": 1e13,
}
#: numeric columns that must be finite when present (null is "unknown", allowed where nullable)
FINITE = ("open", "high", "low", "close", "volume", "amount", "adj_factor", "total_cap", "float_cap",
          "weight", "pe_ttm", "pb_mrq", "ps_ttm", "turnover_rate", "total_shares", "float_shares")
#: tables whose dates may lie ahead of the clock (the exchange announces its calendar ahead)
UNDATED_CHECK = ("exchange_calendar",)


@dataclass(frozen=True)
class Checked:
    """Rows that passed validation and the rejected ones (``tbl, symbol, date, rule, detail``)."""

    good: pl.DataFrame
    rejects: pl.DataFrame

    def messages(self, limit: int = 10) -> list[str]:
        """One readable line per rejected row (at most ``limit``)."""
        rows = self.rejects.head(limit).iter_rows(named=True)
        return [f"{r['tbl']}: {r['symbol']} {r['date']}: {r['rule']} ({r['detail']})" for r in rows]


def _price_rules(df: pl.DataFrame) -> list[tuple[str, pl.Expr, pl.Expr]]:
    """(rule, condition for a bad row, detail) for OHLC/volume frames."""
    o, h, l, c = (pl.col(x) for x in ("open", "high", "low", "close"))
    rules = [
        ("missing_price", pl.any_horizontal(o.is_null(), h.is_null(), l.is_null(), c.is_null())
         | pl.any_horizontal(o.is_nan(), h.is_nan(), l.is_nan(), c.is_nan()), pl.lit("an OHLC value is missing")),
        ("non_positive_price", pl.any_horizontal(o <= 0, h <= 0, l <= 0, c <= 0),
         pl.format("o={} h={} l={} c={}", o, h, l, c)),
        ("high_below_low", h < l, pl.format("high={} < low={}", h, l)),
        ("open_outside_range", (o < l) | (o > h), pl.format("open={} not in [{}, {}]", o, l, h)),
        ("close_outside_range", (c < l) | (c > h), pl.format("close={} not in [{}, {}]", c, l, h)),
    ]
    if "volume" in df.columns:
        rules.append(("negative_volume", pl.col("volume") < 0, pl.format("volume={}", pl.col("volume"))))
    return rules


def _number_rules(df: pl.DataFrame) -> list[tuple[str, pl.Expr, pl.Expr]]:
    """(rule, condition, detail): non-finite numbers, implausible magnitudes."""
    rules = []
    for col in FINITE:
        if col in df.columns and df.schema[col].is_float():
            rules.append(("non_finite", pl.col(col).is_infinite() | pl.col(col).is_nan(),
                          pl.format("{}={}", pl.lit(col), pl.col(col))))
        if col in LIMITS and col in df.columns and df.schema[col].is_numeric():
            rules.append(("implausible", (pl.col(col).abs() > LIMITS[col]) & pl.col(col).is_finite(),
                          pl.format("{}={} is beyond {}", pl.lit(col), pl.col(col), pl.lit(LIMITS[col]))))
    return rules


def _interval_rules(df: pl.DataFrame) -> list[tuple[str, pl.Expr, pl.Expr]]:
    """(rule, condition, detail) for validity intervals ``[start_date, end_date)`` per
    (symbol, standard, level): a start, an end after it, no overlap with the next interval."""
    s, e = pl.col("start_date"), pl.col("end_date")
    group = ["symbol", "standard", "level"]
    prev_end = e.shift(1).over(group, order_by="start_date")
    prev_start = s.shift(1).over(group, order_by="start_date")
    return [
        ("missing_start", s.is_null(), pl.lit("start_date is missing")),
        ("bad_interval", e.is_not_null() & (e <= s), pl.format("end_date {} is not after start_date {}", e, s)),
        ("missing_code", pl.col("code").is_null(), pl.lit("industry code is missing")),
        ("overlapping_interval", prev_start.is_not_null() & (prev_end.is_null() | (prev_end > s)),
         pl.format("starts {} before the previous interval ends", s)),
    ] if df.height else []


def _duplicated(df: pl.DataFrame, keys: list[str]) -> pl.Expr:
    """Rows whose key occurs more than once. On key-sorted frames (what sources produce) a
    comparison with the neighbouring rows is enough and far cheaper than hashing the keys."""
    prev = pl.all_horizontal([pl.col(k) == pl.col(k).shift(1) for k in keys])
    nxt = pl.all_horizontal([pl.col(k) == pl.col(k).shift(-1) for k in keys])
    if len(keys) >= 1 and df.height > 1:
        ordered = [pl.col(k) for k in keys]
        later = pl.lit(False)
        for i in range(len(keys) - 1, -1, -1):  # lexicographic "row > previous row"
            gt = ordered[i] > ordered[i].shift(1)
            eq_before = pl.all_horizontal([ordered[j] == ordered[j].shift(1) for j in range(i)]) if i else pl.lit(True)
            later = later | (eq_before & gt)
        in_order = df.select((later | prev).slice(1).all()).item()
        if in_order:
            return (prev | nxt).fill_null(False)
    return pl.struct(keys).is_duplicated()


def check(table: str, df: pl.DataFrame, calendar: pl.Series | None, today: dt.date | None = None) -> Checked:
    """Validate a frame for ``table`` against the trading ``calendar`` (None: skip) and the
    clock ``today`` (None: skip; dates after it are ``future_date``).

    Rules: duplicate_key / duplicate_copy, bad_symbol, missing_date, future_date, off_calendar,
    non_finite, implausible, missing/non-positive prices, high_below_low, open/close outside
    [low, high], negative_volume, industry intervals. A row failing several rules is reported
    once per rule and dropped once. ``df`` may carry extra columns (kept in ``good``).
    """
    keys = list(KEYS[table])
    sym = "symbol" if "symbol" in df.columns else ("index_code" if "index_code" in df.columns else None)
    df = df.with_row_index("_row")
    bad: list[pl.DataFrame] = []

    def tag(rule: str, cond: pl.Expr | pl.Series, detail: pl.Expr) -> None:
        hit = df.filter(cond.fill_null(False))
        if hit.height:
            bad.append(hit.select(
                "_row",
                pl.lit(table).alias("tbl"),
                (pl.col(sym) if sym else pl.lit(None, pl.Utf8)).cast(pl.Utf8).alias("symbol"),
                (pl.col("date") if "date" in df.columns else pl.lit(None, pl.Date)).alias("date"),
                pl.lit(rule).alias("rule"),
                detail.cast(pl.Utf8).alias("detail"),
            ))

    copies, conflicts = _duplicates(df, keys)
    tag("duplicate_key", conflicts, pl.lit("conflicting copies of the same key in the batch: all rejected"))
    tag("duplicate_copy", copies, pl.lit("identical copy of a row in the batch: one kept"))
    for col in ("symbol", "index_code"):
        if col in df.columns:
            uniq = df.select(pl.col(col).unique())
            bad_values = uniq.filter(~is_canonical_expr(pl.col(col)).fill_null(True))[col]
            tag("bad_symbol", pl.col(col).is_in(bad_values.implode()) | pl.col(col).is_null(),
                pl.format("{} is not NNNNNN.SH/SZ/BJ", pl.col(col)))
    if "date" in df.columns:
        tag("missing_date", pl.col("date").is_null(), pl.lit("date is missing"))
        if today is not None and table not in UNDATED_CHECK:
            tag("future_date", pl.col("date") > today, pl.format("after today ({})", pl.lit(str(today))))
        if calendar is not None and table not in ("calendar", "index_members", *UNDATED_CHECK):
            tag("off_calendar", ~pl.col("date").is_in(calendar.implode()), pl.lit("date is not a trading day"))
    for rule, cond, detail in _number_rules(df):
        tag(rule, cond, detail)
    if {"open", "high", "low", "close"} <= set(df.columns):
        for rule, cond, detail in _price_rules(df):
            tag(rule, cond, detail)
    if table == "industries":
        for rule, cond, detail in _interval_rules(df):
            tag(rule, cond, detail)

    if not bad:
        return Checked(df.drop("_row"), pl.DataFrame(schema=REJECT_SCHEMA))
    rejects = pl.concat(bad)
    good = df.join(rejects.select("_row").unique(), on="_row", how="anti").drop("_row")
    return Checked(good, rejects.sort("_row").drop("_row"))


def _duplicates(df: pl.DataFrame, keys: list[str]) -> tuple[pl.Series, pl.Series]:
    """(identical copies after the first, every row of a key whose copies conflict) as masks."""
    none = pl.Series([False] * df.height, dtype=pl.Boolean)
    dup = df.select(_duplicated(df, keys).alias("d"))["d"]
    if not dup.any():
        return none, none
    rest = [c for c in df.columns if c not in keys and c != "_row"]
    part = df.filter(dup)
    content = pl.struct(rest) if rest else pl.lit(0)
    groups = part.group_by(keys).agg(content.n_unique().alias("_variants"))
    part = part.join(groups, on=keys, how="left", nulls_equal=True)
    conflict_rows = part.filter(pl.col("_variants") > 1)["_row"]
    copy_rows = part.filter((pl.col("_variants") == 1) & ~pl.struct(keys).is_first_distinct())["_row"]
    rows = df["_row"]
    return rows.is_in(copy_rows.implode()), rows.is_in(conflict_rows.implode())
