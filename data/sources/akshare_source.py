"""Source ``akshare``: stock and index bars with vendor fallbacks, plus a nightly snapshot archive.

``read(store, since, until)`` runs these steps (each names its function):
  0. ``flyer.data.sources.net.require_online``: with the real akshare, a vendor host must
     resolve and accept a connection within seconds, else one line and nothing is created;
     ``flyer.data.sources.akshare_listing.listing``: the stocks to read, listed today AND
     delisted since the window's start (survivorship-free; the choice is reported);
  1. ``flyer.data.sources.vendors.Caller``: every HTTP request paced per vendor (one every
     ``delay`` seconds, +- ``jitter``) and bounded by ``timeout`` seconds, every call retried
     with exponential backoff, and behind a circuit breaker that switches a vendor off after
     ``breaker`` failures in a row for ``cooldown`` seconds; what akshare prints goes to the log;
  2. ``fetch_symbol``: one stock's bars from the first vendor of ``vendors`` that answers
     (``flyer.data.sources.akshare_vendors``: Eastmoney, Sina, Tencent; identical rows whichever
     answers), cached per symbol under ``$FLYER_HOME/cache/akshare/<range>/`` so a rerun resumes
     (``flyer.data.sources.online.Cache``: written only when a fetch completed);
     every ``verify_every``-th symbol is also read from the next vendor and days whose raw prices
     differ by a cent or more are rejected (rule ``vendor_disagreement``);
  3. ``continue_factors``: when the store already holds a symbol's bars before the window, the
     window is read from the store's previous trading day and the new factors are scaled to
     continue the stored ones (vendors differ in their factor's base);
  4. ``fetch_index``: index bars with the same fallbacks (``index_vendors``);
  5. ``archive``: what vendors only give as *today's* snapshot (CSIndex constituents and
     weights, the ST board, Shenwan's industry history) is stored dated by the day it describes,
     with ``coverage`` rows saying so; run nightly, the store becomes point-in-time from the
     first night (``flyer info`` shows from when);
  6. ``files.assemble`` makes the panel dense (listed stocks through the window's end, delisted
     ones to their last bar); ``ingest`` writes everything in ONE transaction.
The akshare module, the sleep, the clock, "today" and the online probe are parameters so tests
replay recorded frames (or talk to a fault-injecting server on 127.0.0.1).
"""
from __future__ import annotations

import datetime as dt
import functools
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl
from flyer.data.schema import TABLES
from flyer.data.sources import akshare_archive, akshare_listing, net
from flyer.data.sources import akshare_vendors as av
from flyer.data.sources.akshare_api import AkshareApi
from flyer.data.sources.akshare_vendors import stable_factor
from flyer.data.sources.base import Batch, window_dates
from flyer.data.sources.online import (
    Cache,
    args_text,
    continue_factors,
    parse_symbols,
    previous_day,
    progress_items,
)
from flyer.data.sources.vendors import Caller, Politeness, VendorError

from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

__all__ = ["AkshareError", "AkshareSource", "Cache", "continue_factors", "stable_factor"]

SOURCE = "akshare"
EXCHANGES = {"上海证券交易所": "SH", "深圳证券交易所": "SZ", "北京证券交易所": "BJ"}
DEFAULT_START = dt.date(2010, 1, 1)
CACHE_VERSION = "v2"  # rows with a vendor column, canonical factors (v1 caches are not read)
#: one host per vendor for the online probe (step 0)
HOSTS = {"eastmoney": ("push2his.eastmoney.com", 443), "sina": ("finance.sina.com.cn", 443),
         "tencent": ("proxy.finance.qq.com", 443)}


class AkshareError(FlyerError):
    """A fetch that failed on every vendor (one line naming the call and what to do; the cache
    keeps what was fetched, the store is unchanged)."""


@dataclass(frozen=True)
class AkshareSource:
    """Source ``akshare`` (needs internet). ``start`` defaults to 2010-01-01, ``end`` to today;
    ``symbols`` None = every listed A-share. Vendors are tried in order per symbol; ``delay``
    (seconds between calls to one vendor), ``jitter`` (fraction), ``tries``, ``backoff``
    (seconds, doubling), ``breaker`` (failures in a row that switch a vendor off) and
    ``cooldown`` (seconds off) set the politeness; ``timeout`` bounds every request (seconds to
    connect and per read); ``verify_every`` N > 0 cross-checks every N-th symbol against a
    second vendor; ``archive`` stores today's snapshots (constituents, ST board, Shenwan
    industries); ``delisted`` (default true) adds the stocks delisted since ``start`` to the
    list (false: listed today only, survivor-biased, and said so)."""

    kind: ClassVar[str] = "akshare"
    start: dt.date | None = None
    end: dt.date | None = None
    symbols: tuple[str, ...] | None = None
    indexes: tuple[str, ...] = ("000905.SH", "000300.SH")
    weights: tuple[str, ...] = ("000905.SH",)
    vendors: tuple[str, ...] = av.STOCK_VENDORS
    index_vendors: tuple[str, ...] = av.INDEX_VENDORS
    delay: float = 3.0
    jitter: float = 0.5
    tries: int = 3
    backoff: float = 5.0
    breaker: int = 3
    cooldown: float = 900.0
    verify_every: int = 0
    archive: bool = True
    progress: bool = True
    timeout: float = net.DEFAULT_TIMEOUT
    delisted: bool = True

    def __post_init__(self) -> None:
        for name, known, given in (("vendors", av.STOCK_READERS, self.vendors),
                                   ("index_vendors", av.INDEX_READERS, self.index_vendors)):
            bad = [v for v in given if v not in known]
            if bad or not given:
                raise ValueError(f"{name} must be some of {', '.join(known)}, got {', '.join(given) or 'none'}")
        Politeness(self.delay, self.jitter, self.tries, self.backoff, breaker=self.breaker, cooldown=self.cooldown,
                   timeout=self.timeout)

    @property
    def politeness(self) -> Politeness:
        return Politeness(self.delay, self.jitter, self.tries, self.backoff, breaker=self.breaker,
                          cooldown=self.cooldown, timeout=self.timeout)

    def read(self, store: MarketStore, since: dt.date | None = None, until: dt.date | None = None,
             ak: Any = None, sleep: Callable[[float], None] | None = None,
             clock: Callable[[], float] | None = None, today: dt.date | None = None,
             probe: Callable[[], None] | None = None) -> Batch:
        """Fetch (through the cache) everything for the window; ``ak``/``sleep``/``clock``/``today``
        are injectable for tests; ``probe`` checks the network first (default: with the real
        akshare, ``net.require_online`` on one host per vendor; none with an injected ``ak``)."""
        lo, hi = window_dates(since, until, self.start or DEFAULT_START, self.end)
        lo, hi = lo or DEFAULT_START, hi or dt.date.today()
        if lo > hi:
            return Batch({}, lo, hi, (f"akshare: nothing to fetch after {since} through {hi}",))
        if probe is None and ak is None:
            hosts = tuple(HOSTS[v] for v in dict.fromkeys((*self.vendors, *self.index_vendors)))
            probe = functools.partial(net.require_online, "akshare", hosts)
        if probe is not None:
            probe()
        if ak is None:
            ak = AkshareApi(importlib.import_module("akshare"))
        caller = Caller(self.politeness, sleep=sleep or time.sleep, clock=clock or time.monotonic)
        run = _Run(self, store, ak, caller, lo, hi, today or dt.date.today())
        return run.batch()


@dataclass
class _Run:
    """One read: the window, the caller, the cache and what was noticed."""

    src: AkshareSource
    store: MarketStore
    ak: Any
    caller: Caller
    lo: dt.date
    hi: dt.date
    today: dt.date
    rejects: list[pl.DataFrame] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.anchor = previous_day(self.store, self.lo)
        self.first = self.anchor or self.lo  # read from the store's previous day to chain factors
        key = f"{self.first:%Y%m%d}-{self.hi:%Y%m%d}"
        self.cache = Cache(Path(self.store.path).parent / "cache" / "akshare" / CACHE_VERSION / key)

    def call(self, vendor: str, name: str, **kwargs: Any) -> Any:
        """A single-vendor call (stock list, calendar, snapshots): AkshareError when it fails."""
        try:
            return self.caller.call(vendor, f"{name}({args_text(kwargs)})", getattr(self.ak, name), **kwargs)
        except VendorError as exc:
            raise AkshareError(f"akshare {exc}: check the network or retry later; what was fetched is cached "
                               "and a rerun resumes") from exc

    def batch(self) -> Batch:
        names = self.stock_list()
        wanted = names["symbol"].to_list()
        bars: list[pl.DataFrame] = []
        empty: list[str] = []
        for i, symbol in enumerate(progress_items(wanted, "akshare bars", self.src.progress)):
            got = self.cache.through(symbol, functools.partial(self.fetch_symbol, symbol))
            if self.src.verify_every and i % self.src.verify_every == 0 and got.height:
                got = self.verify(symbol, got)
            (bars.append(got) if got.height else empty.append(symbol))
        stocks = continue_factors(self.store, pl.concat(bars) if bars else av.empty_bars(), self.anchor, self.lo,
                                  self.notes)
        announced = self.cache.through("_calendar", self.fetch_calendar)["date"]
        days = announced.filter(announced.is_between(self.lo, self.hi))
        out = akshare_listing.split_listed(stocks.drop("vendor"), names, days, self.lo, self.hi) if stocks.height \
            else {}
        out.setdefault("calendar", pl.DataFrame({"date": days}))
        if "instruments" in out:
            out["instruments"] = (out["instruments"].drop("name").join(names.select("symbol", "name"), on="symbol",
                                                                       how="left").select(out["instruments"].columns))
        out["index_bars"] = self.indexes()
        if self.src.archive:
            akshare_archive.archive(self, out, names, days)
        else:
            out["index_members"] = self.weights_snapshots()
        out = _drop_rejected(out, self.rejects)
        # the exchange's announced days, future ones included: extends the known calendar
        out["exchange_calendar"] = pl.DataFrame({"date": announced, "source": "akshare"})
        served = stocks.group_by("vendor").agg(pl.col("symbol").n_unique()) if stocks.height else None
        return Batch(out, self.lo, self.hi, tuple(self.summary(empty, served)),
                     rejects=pl.concat(self.rejects) if self.rejects else None)

    # ------------------------------------------------------------------ step 2
    def fetch_symbol(self, symbol: str, skip: tuple[str, ...] = ()) -> pl.DataFrame:
        """One stock's rows from the first vendor that answers, with a ``vendor`` column."""
        errors = []
        for vendor in (v for v in self.src.vendors if v not in skip):
            if not self.caller.available(vendor):
                errors.append(f"{vendor} switched off")
                continue
            try:
                rows = av.STOCK_READERS[vendor](self.caller, self.ak, symbol, self.first, self.hi)
            except VendorError as exc:
                errors.append(str(exc))
                continue
            stats = self.caller.vendor(vendor)
            stats.served += 1
            stats.fallbacks += bool(errors)
            return rows.with_columns(pl.lit(vendor).alias("vendor"))
        if skip:
            return av.empty_bars().with_columns(pl.lit(None, pl.Utf8).alias("vendor"))
        raise AkshareError(f"akshare: no vendor answered for {symbol}: {'; '.join(errors)}: check the network or "
                           "retry later; what was fetched is cached and a rerun resumes")

    def verify(self, symbol: str, got: pl.DataFrame) -> pl.DataFrame:
        """Step 2's cross-check: the same symbol from another vendor; disagreeing days rejected."""
        vendor = got["vendor"][0]
        other = self.cache.through(f"{symbol}.verify", lambda: self.fetch_symbol(symbol, skip=(vendor,)))
        if other.height == 0:
            self.notes.append(f"akshare: {symbol} not cross-checked (no second vendor answered)")
            return got
        bad = av.disagreements(got, other, vendor, other["vendor"][0])
        if bad.height:
            self.rejects.append(bad)
        return got

    def stock_list(self) -> pl.DataFrame:
        """``symbol, name, list_date, delist_date`` of the stocks to read (step 0; the choice noted)."""
        schema = akshare_listing.SCHEMA
        if self.src.symbols is not None:  # only the symbols asked for: no stock-list call (names unknown)
            wanted = list(parse_symbols(self.src.symbols) or ())
            self.notes.append(f"akshare: stock list: the {len(wanted)} symbol(s) asked for (names unknown)")
            return pl.DataFrame({"symbol": wanted}, schema={"symbol": pl.Utf8}).with_columns(
                *(pl.lit(None, t).alias(c) for c, t in schema.items() if c != "symbol"))
        found, notes = self.cache.get("_listing"), self.cache.get("_listing_notes")
        if found is None or notes is None:
            try:
                found, lines = akshare_listing.listing(self.call, self.lo, self.hi, self.src.delisted)
            except FlyerError as exc:
                hint = "; or set delisted = false to read the stocks listed today only (survivor-biased)"
                raise AkshareError(f"{exc}{hint if self.src.delisted else ''}") from exc
            notes = self.cache.put("_listing_notes", pl.DataFrame({"note": lines}, schema={"note": pl.Utf8}))
            self.cache.put("_listing", found)
        self.notes.extend(notes["note"].to_list())
        return found

    def fetch_calendar(self) -> pl.DataFrame:
        """Every SSE/SZSE trading day Sina lists, as a ``date`` frame."""
        df = pl.from_pandas(self.call("sina", "tool_trade_date_hist_sina"))
        return pl.DataFrame({"date": av.vendor_dates(df["trade_date"])}).sort("date")

    # ------------------------------------------------------------------ step 4
    def indexes(self) -> pl.DataFrame:
        parts = [self.cache.through(f"_index_{c}", functools.partial(self.fetch_index, c)) for c in self.src.indexes]
        return pl.concat(parts) if parts else pl.DataFrame(schema=av.INDEX_SCHEMA)

    def fetch_index(self, code: str) -> pl.DataFrame:
        errors = []
        for vendor in self.src.index_vendors:
            if not self.caller.available(vendor):
                errors.append(f"{vendor} switched off")
                continue
            try:
                rows = av.INDEX_READERS[vendor](self.caller, self.ak, code, self.lo, self.hi)
            except VendorError as exc:
                errors.append(str(exc))
                continue
            self.caller.vendor(vendor).served += 1
            return rows
        raise AkshareError(f"akshare: no vendor answered for index {code}: {'; '.join(errors)}: check the network "
                           "or retry later; what was fetched is cached and a rerun resumes")

    def weights_snapshots(self) -> pl.DataFrame:
        parts = [self.cache.through(f"_weights_{c}", functools.partial(akshare_archive.fetch_weights, self, c))
                 for c in self.src.weights]
        parts = [p.filter(pl.col("date") <= self.hi) for p in parts]
        return pl.concat(parts) if parts else _empty("index_members")

    def summary(self, empty: list[str], served: pl.DataFrame | None) -> list[str]:
        lines = [f"akshare: {len(empty)} symbol(s) returned no bars" + (f": {', '.join(empty[:20])}" if empty else "")]
        if served is not None and served.height > 1:
            lines.append("akshare: bars by vendor: " + ", ".join(f"{v} {n}" for v, n in served.sort("vendor").rows()))
        lines += list(self.caller.summary("akshare"))
        lines += [f"akshare: {n}" for n in self.caller.notes]
        lines += self.notes
        if self.rejects:
            n = sum(r.height for r in self.rejects)
            lines.append(f"akshare: {n} bar(s) rejected: vendors disagree on the raw price (rule vendor_disagreement)")
        return lines


# ---------------------------------------------------------------------------- step 3
def _drop_rejected(out: dict[str, pl.DataFrame], rejects: list[pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Bars rows a cross-check rejected are not written (their day is left out, not filled)."""
    if not rejects or "bars" not in out:
        return out
    keys = pl.concat(rejects).filter(pl.col("tbl") == "bars").select("symbol", "date").unique()
    return {**out, "bars": out["bars"].join(keys, on=["symbol", "date"], how="anti")}


# ---------------------------------------------------------------------------- helpers
def _empty(table: str) -> pl.DataFrame:
    return pl.DataFrame(schema=TABLES[table])
