"""Source ``akshare``: stock and index bars with vendor fallbacks, plus a nightly snapshot archive.

``read(store, since, until)`` runs these steps (each names its function):
  1. ``flyer.data.sources.vendors.Caller``: every call paced per vendor (one every ``delay``
     seconds, +- ``jitter``), retried with exponential backoff, and behind a circuit breaker
     that switches a vendor off after ``breaker`` failures in a row for ``cooldown`` seconds;
  2. ``fetch_symbol``: one stock's bars from the first vendor of ``vendors`` that answers
     (``flyer.data.sources.akshare_vendors``: Eastmoney, Sina, Tencent; identical rows whichever
     answers), cached per symbol under ``$FLYER_HOME/cache/akshare/<range>/`` so a rerun resumes;
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
  6. ``files.assemble`` makes the panel dense; ``ingest`` writes everything in ONE transaction.
The akshare module, the sleep, the clock and "today" are parameters so tests replay recorded frames.
"""
from __future__ import annotations

import datetime as dt
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import polars as pl

from flyer.data.sources import akshare_vendors as av
from flyer.data.sources import files
from flyer.data.sources.akshare_vendors import stable_factor  # noqa: F401 - public here since 0.1
from flyer.data.sources.base import Batch, window_dates
from flyer.data.sources.vendors import Caller, Politeness, VendorError
from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

SOURCE = "akshare"
EXCHANGES = {"上海证券交易所": "SH", "深圳证券交易所": "SZ", "北京证券交易所": "BJ"}
DEFAULT_START = dt.date(2010, 1, 1)
CACHE_VERSION = "v2"  # rows with a vendor column, canonical factors (v1 caches are not read)


class AkshareError(FlyerError):
    """A fetch that failed on every vendor (one line naming the call and what to do; the cache
    keeps what was fetched, the store is unchanged)."""


class Cache:
    """Parquet files under one range-key folder; ``get`` returns None when absent."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def get(self, name: str) -> pl.DataFrame | None:
        path = self.folder / f"{name}.parquet"
        return pl.read_parquet(path) if path.exists() else None

    def put(self, name: str, df: pl.DataFrame) -> pl.DataFrame:
        tmp = self.folder / f".{name}.parquet.tmp"
        df.write_parquet(tmp)
        os.replace(tmp, self.folder / f"{name}.parquet")  # atomic: a crash never leaves half a file
        return df

    def through(self, name: str, fetch: Callable[[], pl.DataFrame]) -> pl.DataFrame:
        cached = self.get(name)
        return cached if cached is not None else self.put(name, fetch())


@dataclass(frozen=True)
class AkshareSource:
    """Source ``akshare`` (needs internet). ``start`` defaults to 2010-01-01, ``end`` to today;
    ``symbols`` None = every listed A-share. Vendors are tried in order per symbol; ``delay``
    (seconds between calls to one vendor), ``jitter`` (fraction), ``tries``, ``backoff``
    (seconds, doubling), ``breaker`` (failures in a row that switch a vendor off) and
    ``cooldown`` (seconds off) set the politeness; ``verify_every`` N > 0 cross-checks every
    N-th symbol against a second vendor; ``archive`` stores today's snapshots (constituents,
    ST board, Shenwan industries)."""

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

    def __post_init__(self) -> None:
        for name, known, given in (("vendors", av.STOCK_READERS, self.vendors),
                                   ("index_vendors", av.INDEX_READERS, self.index_vendors)):
            bad = [v for v in given if v not in known]
            if bad or not given:
                raise ValueError(f"{name} must be some of {', '.join(known)}, got {', '.join(given) or 'none'}")
        Politeness(self.delay, self.jitter, self.tries, self.backoff, breaker=self.breaker, cooldown=self.cooldown)

    @property
    def politeness(self) -> Politeness:
        return Politeness(self.delay, self.jitter, self.tries, self.backoff, breaker=self.breaker,
                          cooldown=self.cooldown)

    def read(self, store: MarketStore, since: dt.date | None = None, until: dt.date | None = None,
             ak: Any = None, sleep: Callable[[float], None] | None = None,
             clock: Callable[[], float] | None = None, today: dt.date | None = None) -> Batch:
        """Fetch (through the cache) everything for the window; ``ak``/``sleep``/``clock``/``today``
        are injectable for tests."""
        if ak is None:
            import akshare as ak  # noqa: PLW0621 - the real module unless one is injected
        lo, hi = window_dates(since, until, self.start or DEFAULT_START, self.end)
        lo, hi = lo or DEFAULT_START, hi or dt.date.today()
        if lo > hi:
            return Batch({}, lo, hi, (f"akshare: nothing to fetch after {since} through {hi}",))
        caller = Caller(self.politeness, sleep=sleep or (lambda s: time.sleep(s)), clock=clock or time.monotonic)
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
        self.anchor = _previous_day(self.store, self.lo)
        self.first = self.anchor or self.lo  # read from the store's previous day to chain factors
        key = f"{self.first:%Y%m%d}-{self.hi:%Y%m%d}"
        self.cache = Cache(Path(self.store.path).parent / "cache" / "akshare" / CACHE_VERSION / key)

    def call(self, vendor: str, name: str, **kwargs: Any) -> Any:
        """A single-vendor call (stock list, calendar, snapshots): AkshareError when it fails."""
        try:
            return self.caller.call(vendor, f"{name}({_args(kwargs)})", getattr(self.ak, name), **kwargs)
        except VendorError as exc:
            raise AkshareError(f"akshare {exc}: check the network or retry later; what was fetched is cached "
                               "and a rerun resumes") from exc

    def batch(self) -> Batch:
        names = self.stock_list()
        wanted = names["symbol"].to_list()
        bars, empty = [], []
        for i, symbol in enumerate(_progress(wanted, self.src.progress)):
            got = self.cache.through(symbol, lambda s=symbol: self.fetch_symbol(s))
            if self.src.verify_every and i % self.src.verify_every == 0 and got.height:
                got = self.verify(symbol, got)
            (bars.append(got) if got.height else empty.append(symbol))
        stocks = continue_factors(self.store, pl.concat(bars) if bars else av.empty_bars(), self.anchor, self.lo,
                                  self.notes)
        announced = self.cache.through("_calendar", self.fetch_calendar)["date"]
        days = announced.filter(announced.is_between(self.lo, self.hi))
        out = files.assemble(stocks.drop("vendor"), days, self.lo, self.hi, listed=True) if stocks.height else {
            "calendar": pl.DataFrame({"date": days})}
        if "instruments" in out:
            out["instruments"] = (out["instruments"].drop("name").join(names, on="symbol", how="left")
                                  .select(out["instruments"].columns))
        out["index_bars"] = self.indexes()
        if self.src.archive:
            archive(self, out, names, days)
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
        for k, vendor in enumerate(v for v in self.src.vendors if v not in skip):
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
        if self.src.symbols is not None:  # only the symbols asked for: no stock-list call (names unknown)
            wanted = list(_symbols(self.src.symbols))
            return pl.DataFrame({"symbol": wanted, "name": [None] * len(wanted)},
                                schema={"symbol": pl.Utf8, "name": pl.Utf8})
        return self.cache.through("_stock_list", self.fetch_stock_list)

    def fetch_stock_list(self) -> pl.DataFrame:
        """``symbol, name`` of every listed A-share (today's names)."""
        df = pl.from_pandas(self.call("exchanges", "stock_info_a_code_name"))
        codes = df["code"].cast(pl.Utf8).str.zfill(6)
        return pl.DataFrame({"symbol": files.normalize_symbols(codes), "name": df["name"].cast(pl.Utf8)})

    def fetch_calendar(self) -> pl.DataFrame:
        """Every SSE/SZSE trading day Sina lists, as a ``date`` frame."""
        df = pl.from_pandas(self.call("sina", "tool_trade_date_hist_sina"))
        return pl.DataFrame({"date": av._dates(df["trade_date"])}).sort("date")

    # ------------------------------------------------------------------ step 4
    def indexes(self) -> pl.DataFrame:
        parts = [self.cache.through(f"_index_{c}", lambda c=c: self.fetch_index(c)) for c in self.src.indexes]
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
        from flyer.data.sources.akshare_archive import fetch_weights

        parts = [self.cache.through(f"_weights_{c}", lambda c=c: fetch_weights(self, c)) for c in self.src.weights]
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
def _previous_day(store: MarketStore, lo: dt.date) -> dt.date | None:
    """The store's last bar day before ``lo`` (None when the store holds none)."""
    got = store.one("SELECT max(date) FROM bars WHERE date < ?", [lo])
    return got[0] if got and got[0] is not None else None


def continue_factors(store: MarketStore, bars: pl.DataFrame, anchor: dt.date | None, lo: dt.date,
                     notes: list[str] | None = None) -> pl.DataFrame:
    """Rows from ``lo`` on, their factors scaled per symbol so that they continue the store's
    factor on ``anchor`` (the vendor's own anchor-day row gives the ratio; symbols the store
    does not hold on ``anchor`` keep the vendor's factor). The anchor day is the one day two
    vendors may both have answered: a raw close that differs by a cent or more is noted."""
    if anchor is None or bars.height == 0:
        return bars.filter(pl.col("date") >= lo) if bars.height else bars
    stored = store.query("SELECT symbol, adj_factor AS _stored, close AS _close FROM bars WHERE date = ?", [anchor])
    overlap = bars.filter(pl.col("date") == anchor).join(stored, on="symbol")
    if notes is not None:
        off = overlap.filter((pl.col("close") - pl.col("_close")).abs() > 0.005 + 1e-9)
        if off.height:
            notes.append(f"akshare: {off.height} symbol(s) disagree with the stored close of {anchor} (the stored row is "
                         f"kept; factors chained anyway): " + ", ".join(
                             f"{r['symbol']} {r['_close']} vs {r['close']}" for r in off.head(10).iter_rows(named=True)))
    scale = overlap.select("symbol", (pl.col("_stored") / pl.col("adj_factor")).alias("_scale"))
    return (bars.filter(pl.col("date") >= lo).join(scale, on="symbol", how="left", maintain_order="left")
            .with_columns((pl.col("adj_factor") * pl.col("_scale").fill_null(1.0)).alias("adj_factor"))
            .drop("_scale"))


def _drop_rejected(out: dict[str, pl.DataFrame], rejects: list[pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Bars rows a cross-check rejected are not written (their day is left out, not filled)."""
    if not rejects or "bars" not in out:
        return out
    keys = pl.concat(rejects).filter(pl.col("tbl") == "bars").select("symbol", "date").unique()
    return {**out, "bars": out["bars"].join(keys, on=["symbol", "date"], how="anti")}


# ---------------------------------------------------------------------------- helpers
def archive(run: _Run, out: dict[str, pl.DataFrame], names: pl.DataFrame, days: pl.Series) -> None:
    from flyer.data.sources.akshare_archive import archive as _archive

    _archive(run, out, names, days)


def _empty(table: str) -> pl.DataFrame:
    from flyer.data.schema import TABLES
    return pl.DataFrame(schema=TABLES[table])


def _args(kwargs: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in kwargs.items())


def _symbols(symbols: list[str] | tuple[str, ...] | str | None) -> tuple[str, ...] | None:
    if symbols is None:
        return None
    items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    return tuple(files.normalize_symbols(pl.Series([s.strip() for s in items if s.strip()])).to_list())


def _progress(items: list[str], show: bool) -> Any:
    """Per-symbol progress (``flyer.core.progress``: bars on a terminal, lines in logs)."""
    if not show:
        return items
    from flyer.core import progress

    return progress.tracked(items, "akshare bars", "symbols", info=str)
