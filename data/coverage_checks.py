"""Coverage checks (``flyer check``): gaps in the store that must never be silent.

Fields that vanish (null share per field and year, regime changes) are ``flyer.data.health_fields``'s;
these checks add what a backtest makes of the gaps:
* ``st_flags``: the spans where ST flags are unknown (``coverage`` rows), with ST bars per year:
  limits there treat every stock as not ST (10 % instead of 5 %).
* ``ended_without_delisting``: stocks whose bars end before the store's last day with no
  delisting date (a source file ended): never force-sold, untradable after their last bar.
* ``members_without_bars``: per index and year, members with no bar on a day and their share
  of the index weight (null weights: equal): what a portfolio cannot hold.
* ``survivor_biased``: spans whose bars hold only the stocks that survived (``coverage`` rows
  of table ``bars``, key ``survivors``): results there are biased upward.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import polars as pl
from flyer.data.findings import Finding, check
from flyer.core.values import as_float

if TYPE_CHECKING:
    from flyer.data.store import MarketStore


@check("coverage")
def st_flags(store: MarketStore) -> list[Finding]:
    """Unknown-ST spans from ``coverage`` (ST stored False there)."""
    if not store.has_table("coverage"):
        return []
    spans = store.query("SELECT key, first, last, note FROM coverage WHERE tbl = 'st' AND mode = 'unknown' "
                        "ORDER BY first")
    out = []
    for r in spans.iter_rows(named=True):
        n = store.one("SELECT count(*) FROM bars WHERE is_st AND date BETWEEN ? AND ?", [r["first"], r["last"]])[0]
        out.append(Finding("warning", "coverage",
                           f"ST flags unknown {r['first']} .. {r['last']} ({r['note']}; {n:,} ST bars stored there): "
                           "price limits treat those stocks as not ST"))
    return out


@check("coverage")
def ended_without_delisting(store: MarketStore) -> list[Finding]:
    """Stocks whose bars stop before the store's end with no delisting date, per last day."""
    t = store.query("""WITH last AS (SELECT symbol, max(date) AS last FROM bars GROUP BY symbol)
                       SELECT l.last, count(*) AS stocks, min(l.symbol) AS example
                       FROM last l JOIN instruments i USING (symbol)
                       WHERE i.delist_date IS NULL AND l.last < (SELECT max(date) FROM bars)
                       GROUP BY 1 ORDER BY 2 DESC, 1""")
    if t.height == 0:
        return []
    n = int(t["stocks"].sum())
    return [Finding("warning", "coverage",
                    f"{n} stock(s) have bars that end before the store does with no delisting date (a source "
                    "ended): backtests hold them at their last close, untradable, and never force-sell them", t)]


@check("coverage")
def survivor_biased(store: MarketStore) -> list[Finding]:
    """The survivor-biased spans a source recorded (``bars`` / ``survivors`` coverage rows)."""
    if not store.has_table("coverage"):
        return []
    spans = store.query("SELECT first, last, note FROM coverage WHERE tbl = 'bars' AND key = 'survivors' ORDER BY first")
    return [Finding("warning", "coverage", f"bars survivor-biased {r['first']} .. {r['last']}: {r['note']}; "
                    "backtests there are biased upward") for r in spans.iter_rows(named=True)]


@check("coverage")
def members_without_bars(store: MarketStore) -> list[Finding]:
    """Index members without a bar on a day, per index and year (count and weight share)."""
    codes = store.query("SELECT DISTINCT index_code FROM index_members ORDER BY 1")["index_code"].to_list()
    out = []
    for code in codes:
        t = _missing_members(store, code)
        if t.height and as_float(t["missing"].max(), default=0.0) > 0:
            worst = t.sort("weight_missing", descending=True).row(0, named=True)
            out.append(Finding("warning", "coverage",
                               f"{code}: members without bars (at worst {worst['missing']:.1f} a day, "
                               f"{worst['weight_missing']:.1%} of the weight, in {worst['year']}): a portfolio "
                               "cannot hold what the index held", t))
    return out


def _missing_members(store: MarketStore, code: str) -> pl.DataFrame:
    """``[year, members, missing, weight_missing]`` of one index (daily means per year)."""
    return store.query(
        """WITH snaps AS (SELECT DISTINCT date FROM index_members WHERE index_code = ?),
                days AS (SELECT c.date, (SELECT max(s.date) FROM snaps s WHERE s.date <= c.date) AS snap
                         FROM calendar c WHERE c.date >= (SELECT min(date) FROM snaps)
                           AND c.date <= (SELECT max(date) FROM bars)),
                m AS (SELECT d.date, im.symbol, coalesce(im.weight, 1.0) AS w, b.symbol IS NULL AS gone
                      FROM days d JOIN index_members im ON im.index_code = ? AND im.date = d.snap
                      LEFT JOIN bars b ON b.symbol = im.symbol AND b.date = d.date),
                per AS (SELECT date, count(*) AS members, sum(CASE WHEN gone THEN 1 ELSE 0 END) AS missing,
                               sum(CASE WHEN gone THEN w ELSE 0 END) / sum(w) AS weight_missing
                        FROM m GROUP BY date)
           SELECT year(date) AS year, avg(members) AS members, avg(missing) AS missing,
                  avg(weight_missing) AS weight_missing FROM per GROUP BY 1 ORDER BY 1""", [code, code])
