"""Built-in store health checks (see ``flyer.data.health``): what the store holds per year."""
from __future__ import annotations

from typing import TYPE_CHECKING

from flyer.data.findings import Finding, check

if TYPE_CHECKING:
    from flyer.data.store import MarketStore


@check("store")
def store_span(store: MarketStore) -> list[Finding]:
    """Symbols, bar rows and span; an empty store is an error."""
    info = store.info()
    if not info.bar_rows:
        return [Finding("error", "store", "the store holds no bars: run `flyer ingest` first")]
    return [Finding("info", "store", f"{info.symbols:,} symbols, {info.bar_rows:,} bars, "
                                     f"{info.first_date} .. {info.last_date}")]


@check("coverage")
def bar_rows_per_year(store: MarketStore) -> list[Finding]:
    """Bar rows, symbols and suspended share per year (the table other coverage checks extend)."""
    t = store.query("""SELECT year(date) AS year, count(*) AS rows, count(DISTINCT symbol) AS symbols,
                              avg(CASE WHEN is_suspended THEN 1.0 ELSE 0.0 END) AS suspended_share
                       FROM bars GROUP BY year ORDER BY year""")
    if t.height == 0:
        return []
    return [Finding("info", "coverage", f"bars per year over {t.height} year(s)", t)]
