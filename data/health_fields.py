"""Store health checks behind ``flyer check`` (registered with ``flyer.data.health.check``):

* ``fields``: null share per bar field (and valuation field) per year, and a warning for each
  field that changes regime: null on most rows from some date on after being filled before
  (``amount`` on the real data from 2022-01-14: ``$turnover`` and every factor built on it go
  empty, ``$vwap`` is null: no silent substitution), or filled only from some date on;
* ``trading``: suspended, limit-up and limit-down shares of stock-days per year;
* ``calendar``: exchange trading days missing from the store's calendar, calendar days without
  bars, the longest gap between trading days;
* ``membership``: members per snapshot per index and year (min / median / max), snapshots far
  from the nominal size, and trading days inside the span that no snapshot covers;
* ``index``: index bars per index and year against the calendar;
* ``coverage``: the ``coverage`` table (point-in-time / back-filled / unknown spans per table).

Rules of the regime check (``regime_changes``): per trading day the field's null share over
the stocks with a bar; a change at day d when the mean share over the ``window`` days before d
is below ``low`` and over the ``window`` days from d on is above ``high`` (vanishes), or the
reverse (appears). Shares are fractions; tables print them as percentages.
"""
from __future__ import annotations

import datetime as dt
import math
from typing import TYPE_CHECKING

import numpy as np
import polars as pl
from flyer.data.findings import Finding, check
from flyer.core.values import as_date, as_float

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

BAR_FIELDS = ("open", "high", "low", "close", "volume", "amount", "adj_factor", "total_cap", "float_cap")
VALUATION_FIELDS = ("pe_ttm", "pb_mrq", "turnover_rate")
#: what a vanished field takes with it (formula fields and library factors built on them)
DEPENDS = {"amount": "$turnover and the factors built on it; $vwap is null there (Alpha158 VWAP0 with it) "
                     "unless a caller configures the typical-price substitution (vwap_fill='typical', counted)",
           "volume": "$volume, $vwap and the volume factors", "float_cap": "$turnover",
           "total_cap": "$cap (size)", "pe_ttm": "$pe", "pb_mrq": "$pb"}
NOMINAL = {"000905.SH": 500, "000300.SH": 300, "000852.SH": 1000}


def pct(x: float | None) -> str:
    return "-" if x is None or math.isnan(x) else f"{x:.1%}"


def regime_changes(days: list[dt.date], share: np.ndarray, window: int = 20, low: float = 0.2,
                   high: float = 0.8) -> list[tuple[dt.date, str, float, float]]:
    """``(day, "vanishes" | "appears", share before, share after)`` for each regime change of a
    per-day null share series (module docstring); at most one change of each kind per field."""
    n = share.size
    if n < 2 * window:
        return []
    c = np.concatenate([[0.0], np.cumsum(share)])
    idx = np.arange(window, n - window + 1)
    before = (c[idx] - c[idx - window]) / window
    after = (c[idx + window] - c[idx]) / window
    out = []
    for kind, hit in (("vanishes", (before < low) & (after > high)), ("appears", (before > high) & (after < low))):
        if hit.any():
            i = int(idx[np.argmax(hit)])
            # the first day of the new regime: the change point inside the window
            j = i + int(np.argmax(share[i:i + window] > high)) if kind == "vanishes" else i + int(
                np.argmax(share[i:i + window] < low))
            out.append((days[j], kind, float(share[:j].mean()), float(share[j:].mean())))
    return out


def _null_by_day(store: MarketStore, table: str, fields: tuple[str, ...]) -> pl.DataFrame:
    cols = ", ".join(f"avg(CASE WHEN {f} IS NULL THEN 1.0 ELSE 0.0 END) AS {f}" for f in fields)
    if table == "bars":
        sql = f"SELECT date, count(*) AS n, {cols} FROM bars GROUP BY date ORDER BY date"
    else:  # valuations against traded bars: a missing row counts as null
        sel = ", ".join(f"avg(CASE WHEN f.{f} IS NULL THEN 1.0 ELSE 0.0 END) AS {f}" for f in fields)
        sql = (f"SELECT b.date, count(*) AS n, {sel} FROM bars b LEFT JOIN fundamentals f "
               "ON f.symbol = b.symbol AND f.date = b.date WHERE NOT b.is_suspended GROUP BY b.date ORDER BY b.date")
    return store.query(sql)


def _by_year(daily: pl.DataFrame, fields: tuple[str, ...]) -> pl.DataFrame:
    """``[field, <year>...]`` row-weighted null shares (text)."""
    years = daily.with_columns(pl.col("date").dt.year().alias("year")).group_by("year").agg(
        [((pl.col(f) * pl.col("n")).sum() / pl.col("n").sum()).alias(f) for f in fields]).sort("year")
    data: dict[str, list[str]] = {"null share": list(fields)}
    for r in years.iter_rows(named=True):
        data[str(r["year"])] = [pct(r[f]) for f in fields]
    return pl.DataFrame(data)


def _field_findings(store: MarketStore, table: str, fields: tuple[str, ...], label: str) -> list[Finding]:
    daily = _null_by_day(store, table, fields)
    if daily.height == 0:
        return []
    out = [Finding("info", "fields", f"{label}: null share per field per year", _by_year(daily, fields))]
    days = daily["date"].to_list()
    for f in fields:
        for day, kind, before, after in regime_changes(days, daily[f].fill_null(1.0).to_numpy()):
            if kind == "vanishes":
                hit = f"; empty with it: {DEPENDS[f]}" if f in DEPENDS else ""
                out.append(Finding("warning", "fields", f"{f} vanishes from {day}: null on {after:.1%} of {label} "
                                                        f"from then on ({before:.1%} before){hit}"))
            else:
                out.append(Finding("info", "fields", f"{f} appears from {day}: null on {before:.1%} of {label} "
                                                     f"before, {after:.1%} from then on"))
    return out


@check("fields")
def field_nulls(store: MarketStore) -> list[Finding]:
    """Null shares per field and year, and regime changes (module docstring)."""
    out = _field_findings(store, "bars", BAR_FIELDS, "stock-days")
    if store.has_table("fundamentals") and store.one("SELECT count(*) FROM fundamentals")[0]:
        out += _field_findings(store, "fundamentals", VALUATION_FIELDS, "traded stock-days (valuations)")
    return out


@check("trading")
def trading_days_shares(store: MarketStore) -> list[Finding]:
    """Suspended, limit-up and limit-down shares of stock-days per year."""
    from flyer.data import rules
    from flyer.data.symbols import board_expr

    bars = store.query("SELECT symbol, date, close, adj_factor, is_st, is_suspended FROM bars ORDER BY symbol, date")
    if bars.height == 0:
        return []
    c = pl.col
    prev = (c("close").shift(1) * c("adj_factor").shift(1) / c("adj_factor")).over("symbol")
    df = bars.with_columns(prev.alias("prev"), (pl.int_range(pl.len()).over("symbol") + 1).alias("dol"),
                           board_expr(c("symbol")).alias("board"))
    up, down = rules.limit_prices_expr(c("prev"), c("board"), c("is_st"), c("date"), c("dol"))
    traded = ~c("is_suspended")
    df = df.with_columns((traded & (c("close") >= up - 1e-6)).fill_null(False).alias("up"),
                         (traded & (c("close") <= down + 1e-6)).fill_null(False).alias("down"))
    t = df.group_by(c("date").dt.year().alias("year")).agg(
        pl.len().alias("stock_days"), c("is_suspended").mean().alias("suspended"), c("up").mean().alias("limit_up"),
        c("down").mean().alias("limit_down"), c("is_st").mean().alias("st")).sort("year")
    table = t.select(pl.col("year").cast(pl.Utf8), pl.col("stock_days").map_elements(lambda v: f"{v:,}", pl.Utf8),
                     *[pl.col(k).map_elements(pct, pl.Utf8) for k in ("suspended", "limit_up", "limit_down", "st")])
    return [Finding("info", "trading", "suspended, limit-up, limit-down and ST shares of stock-days per year", table)]


@check("calendar")
def calendar_gaps(store: MarketStore) -> list[Finding]:
    """The store's calendar against the exchange calendar, and days without bars."""
    from flyer.data.calendar import sse_calendar

    cal = store.calendar().to_list()
    if not cal:
        return [Finding("error", "calendar", "the store has no calendar")]
    exchange = set(sse_calendar(cal[0], cal[-1]))
    have = set(cal)
    missing, extra = sorted(exchange - have), sorted(have - exchange) if exchange else []
    empty = store.query("SELECT c.date FROM calendar c LEFT JOIN (SELECT DISTINCT date FROM bars) b USING (date) "
                        "WHERE b.date IS NULL ORDER BY c.date")["date"].to_list()
    gaps = np.diff(np.array(cal, dtype="datetime64[D]")).astype(int) if len(cal) > 1 else np.array([0])
    worst = int(np.argmax(gaps)) if gaps.size else 0
    out = [Finding("info", "calendar", f"{len(cal):,} trading days {cal[0]} .. {cal[-1]}; longest gap "
                                       f"{int(gaps.max())} calendar days ({cal[worst]} .. {cal[min(worst + 1, len(cal) - 1)]})")]
    if missing:
        out.append(Finding("warning", "calendar", f"{len(missing)} exchange trading day(s) missing from the store's "
                                                  f"calendar: {', '.join(map(str, missing[:8]))}"
                                                  + (" ..." if len(missing) > 8 else "")))
    if extra:
        out.append(Finding("warning", "calendar", f"{len(extra)} calendar day(s) that are not exchange trading days: "
                                                  f"{', '.join(map(str, extra[:8]))}"))
    if empty:
        out.append(Finding("warning", "calendar", f"{len(empty)} calendar day(s) without any bar: "
                                                  f"{', '.join(map(str, empty[:8]))}" + (" ..." if len(empty) > 8 else "")))
    return out


@check("membership")
def membership_counts(store: MarketStore) -> list[Finding]:
    """Members per snapshot per index and year; odd snapshot sizes; uncovered trading days."""
    snaps = store.query("SELECT index_code, date, count(*) AS n FROM index_members GROUP BY index_code, date "
                        "ORDER BY index_code, date")
    if snaps.height == 0:
        return [Finding("info", "membership", "no index membership in the store (universes other than `all` "
                                              "are unavailable)")]
    t = snaps.group_by("index_code", pl.col("date").dt.year().alias("year")).agg(
        pl.len().alias("snapshots"), pl.col("n").min().alias("min"), pl.col("n").median().cast(pl.Int64).alias("median"),
        pl.col("n").max().alias("max")).sort("index_code", "year")
    out = [Finding("info", "membership", "members per snapshot, per index and year",
                   t.with_columns(pl.col("year").cast(pl.Utf8)))]
    for (code,), part in snaps.group_by(["index_code"], maintain_order=True):
        median = as_float(part["n"].median(), default=0.0)
        odd = part.filter((pl.col("n") - median).abs() > 0.1 * median)
        if odd.height:
            out.append(Finding("warning", "membership", f"{code}: {odd.height} of {part.height} snapshot(s) hold "
                                                        f"{as_float(odd['n'].min(), default=0.0):.0f}-{as_float(odd['n'].max(), default=0.0):.0f} members against a median of "
                                                        f"{median:.0f} (first {odd['date'][0]})"))
        nominal = NOMINAL.get(code)
        if nominal and abs(median - nominal) > 0.05 * nominal:
            out.append(Finding("info", "membership", f"{code}: a median of {median:.0f} members, not the nominal "
                                                     f"{nominal} (a scaled-down sim market, or partial membership data)"))
        first = as_date(part["date"].min())
        before = store.one("SELECT count(*) FROM calendar WHERE date < ?", [first])[0]
        if before:
            out.append(Finding("info", "membership", f"{code}: no membership before {first} ({before:,} earlier "
                                                     "trading days): a universe there is empty"))
    return out


@check("index")
def index_coverage(store: MarketStore) -> list[Finding]:
    """Index bars per index and year against the store's calendar."""
    t = store.query("""SELECT i.index_code, year(c.date) AS year, count(c.date) AS days, count(i.date) AS bars
                       FROM calendar c CROSS JOIN (SELECT DISTINCT index_code FROM index_bars) x
                       LEFT JOIN index_bars i ON i.index_code = x.index_code AND i.date = c.date
                       GROUP BY 1, 2 ORDER BY 1, 2""")
    t = t.filter(pl.col("index_code").is_not_null())
    if t.height == 0:
        return [Finding("warning", "index", "no index bars in the store: backtests have no benchmark")]
    t = t.with_columns((pl.col("bars") / pl.col("days")).alias("share"))
    out = [Finding("info", "index", "index bars per year (share of the store's trading days)",
                   t.select("index_code", pl.col("year").cast(pl.Utf8), "bars", pl.col("share").map_elements(pct, pl.Utf8)))]
    for r in t.filter((pl.col("share") < 0.99) & (pl.col("bars") > 0)).iter_rows(named=True):
        out.append(Finding("warning", "index", f"{r['index_code']} {r['year']}: bars on {r['share']:.1%} of trading days"))
    return out


@check("coverage")
def coverage_spans(store: MarketStore) -> list[Finding]:
    """The ``coverage`` table folded per (table, key): point-in-time / back-filled / unknown."""
    from flyer.data.coverage import summary

    spans = summary(store)
    if not spans:
        return [Finding("info", "coverage", "no coverage recorded by this store's sources (sim, or a store from "
                                            "before coverage): point-in-time status unknown")]
    return [Finding("warning" if sp.unknown_first is not None else "info", "coverage", sp.line()) for sp in spans]
