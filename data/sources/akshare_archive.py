"""The akshare source's snapshot archive (step 5 of ``flyer.data.sources.akshare_source``).

Vendors give some data only as *today's* state. Each run stores it dated by the day it
describes, and says so in ``coverage`` rows (mode ``pit`` when read within ``PIT_DAYS`` of that
day, else ``backfill``), so a store fed nightly accumulates a point-in-time history:
  - ``index_stock_cons_csindex(symbol="000905")`` (日期, 成分券代码, 交易所, ...: today's
    members) joined with ``index_stock_cons_weight_csindex`` (the same + 权重 %, as of the
    latest month-end): one ``index_members`` snapshot at the constituents' date (weights where
    the month-end file has the stock) and one at the weights' date;
  - ``stock_zh_a_st_em()`` (代码, 名称, ...: the ST board today) and ST/*ST name prefixes in the
    stock list: ``is_st`` of the bars on the observation day (the last trading day <= today);
    the window's other days are ``unknown`` in ``coverage`` (stored False);
  - ``stock_industry_clf_hist_sw()`` (symbol, start_date, industry_code, update_time): Shenwan's
    whole change history (a back-fill as Shenwan publishes it today) -> ``industries``.
A failed snapshot call is a note, not a failed ingest: the bars are what a night must deliver.
"""
from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import polars as pl
from flyer.data import panel
from flyer.data.coverage import CoverageRow, coverage_frame, span
from flyer.data.sources import files, shenwan
from flyer.data.sources.akshare_vendors import vendor_dates
from flyer.data.sources.online import Cache
from flyer.data.symbols import normalize_symbols
from flyer.core.values import opt_date

from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

PIT_DAYS = 35  # a month-end weights file read before the next month-end is still the latest
EXCHANGES = {"上海证券交易所": "SH", "深圳证券交易所": "SZ", "北京证券交易所": "BJ"}


class _Settings(Protocol):
    @property
    def weights(self) -> tuple[str, ...]: ...


class SnapshotRun(Protocol):
    """What the archive needs of a run of the akshare source (``akshare_source._Run``)."""

    @property
    def src(self) -> _Settings: ...

    store: MarketStore
    cache: Cache
    lo: dt.date
    hi: dt.date
    today: dt.date
    notes: list[str]

    def call(self, vendor: str, name: str, **kwargs: Any) -> Any: ...


def archive(run: SnapshotRun, out: dict[str, pl.DataFrame], names: pl.DataFrame, days: pl.Series) -> None:
    """Add today's snapshots and their coverage rows to ``out`` (see the module docstring)."""
    calendar = run.cache.get("_calendar")
    known = calendar["date"] if calendar is not None else days
    past = known.filter(known <= run.today)
    obs = opt_date(past.max()) if past.len() else None
    cover: list[CoverageRow] = []
    out["index_members"] = members(run, obs, cover)
    st_flags(run, out, names, obs, cover, days)
    industries(run, out, names, obs, cover)
    out["coverage"] = coverage_frame(cover)


def _snapshot(run: SnapshotRun, name: str, what: str, fetch: Callable[[], pl.DataFrame]) -> pl.DataFrame | None:
    """A cached snapshot call; None (and a note) when it fails."""
    try:
        return run.cache.through(name, fetch)
    except FlyerError as exc:
        run.notes.append(f"akshare: {what} not archived this run ({str(exc).splitlines()[0][:200]})")
        return None


def _codes(df: pl.DataFrame) -> pl.Series:
    code = df["成分券代码"].cast(pl.Utf8).str.zfill(6)
    ex = df["交易所"].cast(pl.Utf8).replace_strict(EXCHANGES, default=None)
    return pl.Series(code + "." + ex).fill_null(normalize_symbols(code))


def fetch_weights(run: SnapshotRun, index_code: str) -> pl.DataFrame:
    """The month-end CSIndex weights (% -> fraction) as one dated snapshot."""
    df = pl.from_pandas(run.call("csindex", "index_stock_cons_weight_csindex", symbol=index_code.split(".")[0]))
    if df.height == 0:
        return _members_frame([], [], [], [])
    day = vendor_dates(df["日期"]).max()
    return _members_frame([index_code] * df.height, [day] * df.height, _codes(df).to_list(),
                          (files.parse_floats(df["权重"], "akshare index_stock_cons_weight_csindex") / 100.0).to_list())


def fetch_cons(run: SnapshotRun, index_code: str) -> pl.DataFrame:
    """Today's CSIndex constituents (no weights) as one dated snapshot."""
    df = pl.from_pandas(run.call("csindex", "index_stock_cons_csindex", symbol=index_code.split(".")[0]))
    if df.height == 0:
        return _members_frame([], [], [], [])
    day = vendor_dates(df["日期"]).max()
    return _members_frame([index_code] * df.height, [day] * df.height, _codes(df).to_list(), [None] * df.height)


def _members_frame(codes: list, days: list, symbols: list, weights: list) -> pl.DataFrame:
    return pl.DataFrame({"index_code": codes, "date": days, "symbol": symbols, "weight": weights},
                        schema={"index_code": pl.Utf8, "date": pl.Date, "symbol": pl.Utf8, "weight": pl.Float64})


def members(run: SnapshotRun, obs: dt.date | None, cover: list[CoverageRow]) -> pl.DataFrame:
    """Snapshots of every index in ``weights``: the month-end weights and today's constituents."""
    parts = []
    for code in run.src.weights:
        w = _snapshot(run, f"_weights_{code}", f"{code} weights", functools.partial(fetch_weights, run, code))
        c = _snapshot(run, f"_cons_{code}", f"{code} constituents", functools.partial(fetch_cons, run, code))
        for snap, what in ((w, "CSIndex month-end weights"), (c, "CSIndex constituents")):
            if snap is None or snap.height == 0:
                continue
            day = snap["date"][0]
            if day > run.hi:
                continue
            if snap["weight"].null_count() == snap.height and w is not None and w.height:
                snap = snap.drop("weight").join(w.select("symbol", "weight"), on="symbol", how="left")
            parts.append(snap.select("index_code", "date", "symbol", "weight"))
            fresh = obs is not None and (run.today - day).days <= PIT_DAYS
            if any(c["key"] == code and c["first"] == day for c in cover):
                continue
            cover.append(span("index_members", code, "pit" if fresh else "backfill", day, day,
                              f"{what} read on {run.today}"))
    if not parts:
        return _members_frame([], [], [], [])
    return pl.concat(parts).unique(["index_code", "date", "symbol"], keep="last").sort("index_code", "date", "symbol")


def fetch_st(run: SnapshotRun) -> pl.DataFrame:
    df = pl.from_pandas(run.call("eastmoney", "stock_zh_a_st_em"))
    if "代码" not in df.columns:
        raise FlyerError(f"stock_zh_a_st_em: columns changed (no 代码; got {', '.join(df.columns[:8])})")
    return pl.DataFrame({"symbol": normalize_symbols(df["代码"].cast(pl.Utf8).str.zfill(6))})


def st_flags(run: SnapshotRun, out: dict[str, pl.DataFrame], names: pl.DataFrame, obs: dt.date | None,
             cover: list[CoverageRow], days: pl.Series) -> None:
    """``is_st`` on the observation day from the ST board and ST-prefixed names; coverage."""
    if "bars" not in out or obs is None or not run.lo <= obs <= run.hi:
        if "bars" in out:
            keep_stored_st(run, out)
            cover.append(span("st", "*", "unknown", run.lo, run.hi, "no ST snapshot for these days (stored False)"))
        return
    board = _snapshot(run, "_st_board", "the ST board", lambda: fetch_st(run))
    if board is None:
        cover.append(span("st", "*", "unknown", run.lo, run.hi, "the ST board could not be read (stored False)"))
        return
    keep_stored_st(run, out)
    named = names.filter(panel.st_from_name(pl.col("name")).fill_null(False)).select("symbol")
    st = pl.concat([board, named]).unique()["symbol"].implode()
    on_obs = pl.col("date") == obs
    before = pl.col("is_st") if "is_st" in out["bars"].columns else pl.lit(False)
    out["bars"] = out["bars"].with_columns(pl.when(on_obs).then(pl.col("symbol").is_in(st)).otherwise(before)
                                           .alias("is_st"))
    cover.append(span("st", "*", "pit", obs, obs, f"ST board read on {run.today}"))
    earlier = days.filter(days < obs)
    if earlier.len():
        cover.append(span("st", "*", "unknown", earlier.min(), earlier.max(),
                          "days without an ST snapshot (stored False)"))


def keep_stored_st(run: SnapshotRun, out: dict[str, pl.DataFrame]) -> None:
    """ST flags archived on earlier nights survive a re-read of their days (the vendors cannot
    tell them again)."""
    stored = run.store.query("SELECT symbol, date FROM bars WHERE is_st AND date BETWEEN ? AND ?", [run.lo, run.hi])
    if stored.height == 0:
        return
    flagged = stored.with_columns(pl.lit(True).alias("_st"))
    bars = out["bars"].join(flagged, on=["symbol", "date"], how="left", maintain_order="left")
    before = pl.col("is_st").fill_null(False) if "is_st" in bars.columns else pl.lit(False)
    out["bars"] = bars.with_columns((before | pl.col("_st").fill_null(False)).alias("is_st")).drop("_st")


def fetch_sw(run: SnapshotRun) -> pl.DataFrame:
    df = pl.from_pandas(run.call("swsresearch", "stock_industry_clf_hist_sw"))
    missing = [c for c in ("symbol", "start_date", "industry_code") if c not in df.columns]
    if missing:
        raise FlyerError(f"stock_industry_clf_hist_sw: columns changed (missing {', '.join(missing)})")
    return df.select(pl.col("symbol").cast(pl.Utf8), vendor_dates(df["start_date"]).alias("start_date"),
                     pl.col("industry_code").cast(pl.Utf8))


def industries(run: SnapshotRun, out: dict[str, pl.DataFrame], names: pl.DataFrame, obs: dt.date | None,
               cover: list[CoverageRow]) -> None:
    """Shenwan's history for the run's stocks -> ``industries`` (levels 1-3) and coverage."""
    raw = _snapshot(run, "_sw_history", "the Shenwan industry history", lambda: fetch_sw(run))
    if raw is None or raw.height == 0:
        return
    iv = shenwan.sw_intervals(raw)
    iv = iv.filter(pl.col("symbol").is_in(names["symbol"].implode()))
    if iv.height == 0:
        return
    out["industries"] = iv
    first = iv["start_date"].min()
    cover.append(span("industries", "sw", "backfill", first, run.today,
                      f"Shenwan change history as published on {run.today}"))
    if obs is not None and run.lo <= obs <= run.hi:
        cover.append(span("industries", "sw", "pit", obs, obs, f"Shenwan history read on {run.today}"))
