"""Source ``baostock``: raw daily bars, PE/PB/PS, turnover, isST, trade status and *historical*
CSI 500 / CSI 300 constituents from BaoStock (free, no token; ``pip install baostock``).

BaoStock answers every query with a ``ResultData`` (``error_code`` "0" = success, ``fields``,
rows of text read with ``next()`` / ``get_row_data()``, 2,000 rows a page; empty text =
missing). Steps:
  0. ``flyer.data.sources.net.require_online`` (with the real baostock: its server must resolve
     and accept a connection within seconds, else one line and nothing is created) and
     ``flyer.data.sources.baostock_wire.guarded``: the session's socket gets ``timeout``
     seconds to connect and per read, and a connection closed mid-answer is an error;
  1. ``Session.query``: one place for every query, through ``flyer.data.sources.vendors.Caller``
     (paced, retried with backoff on network error codes 10002xxx, logged in again on 10001001
     "not logged in", breaker; what baostock prints goes to the log, never to stdout); any other
     error code is one line naming the query. A page that failed on the wire while ``next()``
     fetched it (baostock then reports the end of the data with error code "0"), or an answer
     that ends before the calendar says it must (``_Read.complete``), is retried and at last an
     error: a short history is never cached;
  2. ``read_stock``: ``query_history_k_data_plus(code, BAR_FIELDS, start, end, "d", "3")`` (raw
     prices, volume in shares, amount CNY, ``preclose`` the exchange's previous close, ``turn`` %,
     ``tradestatus`` 0 = suspended (the row exists), ``isST`` 1 = ST that day, ``peTTM``, ``pbMRQ``,
     ``psTTM``) -> bar rows (factor = cumulative close[t-1] / preclose[t], as every source) and
     ``fundamentals`` rows; cached per symbol so a rerun resumes;
  3. ``read_members``: ``query_zz500_stocks(date=...)`` / ``query_hs300_stocks(date=...)`` every
     ``member_step`` trading days (fields ``updateDate, code, code_name``): each distinct
     ``updateDate`` (the version's effective date) becomes one dated snapshot;
  4. ``query_trade_dates`` (calendar), ``query_stock_basic`` (names, listing and delisting
     dates: the list holds delisted stocks too, so the stocks read are every one listed at some
     time in the window; the count is reported), index bars, ``files.assemble``; ``ingest``
     writes it all in ONE transaction.
The baostock module is a parameter (default ``import baostock``) so tests pass recorded result
sets (or talk to a fault-injecting server on 127.0.0.1).
"""
from __future__ import annotations

import datetime as dt
import functools
import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl
from flyer.data import panel
from flyer.data.coverage import CoverageRow, coverage_frame, span
from flyer.data.schema import INDEX_BARS, INDEX_MEMBERS
from flyer.data.sources import files, net
from flyer.data.sources.baostock_wire import Wire, guarded
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
from flyer.core.values import as_date, opt_date

from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

BAR_FIELDS = ("date,code,open,high,low,close,preclose,volume,amount,adjustflag,turn,tradestatus,pctChg,"
              "peTTM,pbMRQ,psTTM,pcfNcfTTM,isST")
INDEX_FIELDS = "date,code,open,high,low,close,volume,amount"
MEMBER_QUERIES = {"000905.SH": "query_zz500_stocks", "000300.SH": "query_hs300_stocks"}
DEFAULT_START = dt.date(2010, 1, 1)
NOT_LOGGED_IN = "10001001"
PAGE_ROWS = 2000  # baostock.common.contants.BAOSTOCK_PER_PAGE_COUNT
SERVER = ("public-api.baostock.com", 10030)


class BaostockError(FlyerError):
    """A BaoStock query that failed (one line: the query, BaoStock's code and message, what to do)."""


class BaostockDown(ConnectionError):
    """A network error code (10002xxx): retried like a dropped connection."""


@dataclass(frozen=True)
class BaostockSource:
    """Source ``baostock`` (needs internet). ``start`` defaults to 2010-01-01, ``end`` to today;
    ``symbols`` None = every stock BaoStock lists as listed during the window. ``members``:
    indexes whose historical constituents are read (CSI 500, CSI 300), sampled every
    ``member_step`` trading days. Politeness as for akshare (BaoStock tolerates faster calls);
    ``timeout``: seconds to connect and per read of the session's socket."""

    kind: ClassVar[str] = "baostock"
    start: dt.date | None = None
    end: dt.date | None = None
    symbols: tuple[str, ...] | None = None
    indexes: tuple[str, ...] = ("000905.SH", "000300.SH")
    members: tuple[str, ...] = ("000905.SH", "000300.SH")
    member_step: int = 20
    delay: float = 0.2
    jitter: float = 0.5
    tries: int = 3
    backoff: float = 2.0
    breaker: int = 5
    cooldown: float = 60.0
    progress: bool = True
    timeout: float = net.DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        bad = [m for m in self.members if m not in MEMBER_QUERIES]
        if bad:
            raise ValueError(f"members: BaoStock has constituents of {', '.join(MEMBER_QUERIES)} only, got {', '.join(bad)}")
        if self.member_step < 1:
            raise ValueError(f"member_step must be >= 1, got {self.member_step}")
        Politeness(self.delay, self.jitter, self.tries, self.backoff, breaker=self.breaker, cooldown=self.cooldown,
                   timeout=self.timeout)

    @property
    def politeness(self) -> Politeness:
        return Politeness(self.delay, self.jitter, self.tries, self.backoff, breaker=self.breaker,
                          cooldown=self.cooldown, timeout=self.timeout)

    def read(self, store: MarketStore, since: dt.date | None = None, until: dt.date | None = None,
             bs: Any = None, sleep: Callable[[float], None] | None = None,
             clock: Callable[[], float] | None = None, probe: Callable[[], None] | None = None) -> Batch:
        """Everything for the window (through the cache); ``bs``/``sleep``/``clock`` injectable for
        tests; ``probe`` checks the network first (default: with the real baostock only)."""
        lo, hi = window_dates(since, until, self.start or DEFAULT_START, self.end)
        lo, hi = lo or DEFAULT_START, hi or dt.date.today()
        if lo > hi:
            return Batch({}, lo, hi, (f"baostock: nothing to fetch after {since} through {hi}",))
        if probe is None and bs is None:
            probe = functools.partial(net.require_online, "baostock", (SERVER,))
        if probe is not None:
            probe()
        if bs is None:
            bs = importlib.import_module("baostock")
        caller = Caller(self.politeness, sleep=sleep or time.sleep, clock=clock or time.monotonic)
        with guarded(bs, self.timeout) as wire:
            session = Session(bs, caller, wire)
            session.login()
            try:
                return _Read(self, store, session, lo, hi).batch()
            finally:
                session.logout()


# ---------------------------------------------------------------------------- step 1
@dataclass
class Session:
    """Logged-in BaoStock queries through the caller (step 1); ``wire`` records socket failures."""

    bs: Any
    caller: Caller
    wire: Wire = field(default_factory=Wire)
    broken: bool = False        # a query failed on the wire: log in again (a new socket) first

    def login(self) -> None:
        try:
            self.caller.call("baostock", "login", self._login)
        except VendorError as exc:
            raise BaostockError(f"baostock {exc}: check the network or retry later") from exc

    def _login(self) -> Any:
        rs = self._checked("login")
        self.broken = False
        return rs

    def logout(self) -> None:
        """Log out; a dead connection's failure to log out is logged, not raised (the data is read)."""
        try:
            with net.captured_output("flyer.data.vendor.baostock"):
                self.bs.logout()
        except Exception as exc:  # noqa: BLE001 - logging out of a dead connection is not worth a failure
            logging.getLogger("flyer.data.vendor.baostock").debug("logout failed: %s", exc)

    def _checked(self, name: str, **kwargs: Any) -> Any:
        rs = getattr(self.bs, name)(**kwargs)
        if rs is None:
            raise BaostockDown(f"{name}: no answer")
        code = str(rs.error_code)
        if code == "0":
            return rs
        if code == NOT_LOGGED_IN and name != "login":
            self.bs.login()
            raise BaostockDown(f"{name}: not logged in ({rs.error_msg}); logged in again")
        if code.startswith("10002"):
            raise BaostockDown(f"{name}: error {code} {rs.error_msg}")
        raise BaostockError(f"baostock {name}({_args(kwargs)}) answered error {code}: {rs.error_msg}")

    def query(self, name: str, complete: Callable[[pl.DataFrame], str | None] | None = None,
              **kwargs: Any) -> pl.DataFrame:
        """All rows of ``bs.<name>(**kwargs)`` as text columns named by the result's fields;
        ``complete(rows)`` names what is missing from an answer that is short (None: complete)."""
        what = f"{name}({_args(kwargs)})"

        def run() -> pl.DataFrame:
            if self.broken:
                self._login()
            seen = len(self.wire.failures)
            rs = self._checked(name, **kwargs)
            rows = []
            while rs.error_code == "0" and rs.next():
                rows.append(rs.get_row_data())
            if len(self.wire.failures) > seen:  # baostock swallowed it: next() said "no more data"
                self.broken = True
                raise BaostockDown(f"{name}: page {len(rows) // PAGE_ROWS + 1} failed after {len(rows):,} rows "
                                   f"({self.wire.failures[-1]})")
            if str(rs.error_code) != "0":  # a later page failed
                raise BaostockDown(f"{name}: error {rs.error_code} {rs.error_msg} while paging")
            frame = pl.DataFrame(rows, schema={f: pl.Utf8 for f in rs.fields}, orient="row")
            short = complete(frame) if complete is not None else None
            if short:
                raise BaostockDown(f"{name}: short answer: {short}")
            return frame

        try:
            return self.caller.call("baostock", what, run)
        except VendorError as exc:
            raise BaostockError(f"baostock {exc}: check the network or retry later; nothing of it was cached, "
                                "what was fetched before is, and a rerun resumes") from exc


# ---------------------------------------------------------------------------- steps 2-4
def bs_code(symbol: str) -> str:
    """``600000.SH`` -> ``sh.600000``."""
    code, ex = symbol.split(".")
    return f"{ex.lower()}.{code}"


def _symbol(col: str = "code") -> pl.Expr:
    return pl.col(col).str.replace(".", "", literal=True)


def _float(col: str) -> pl.Expr:
    return pl.col(col).str.strip_chars().replace("", None).cast(pl.Float64, strict=False)


def _date(col: str) -> pl.Expr:
    return pl.col(col).replace("", None).str.to_date("%Y-%m-%d", strict=False)


def parse_bars(raw: pl.DataFrame) -> pl.DataFrame:
    """``query_history_k_data_plus`` text rows -> typed rows: store bar columns, ``pre_close``,
    the ST flag and the valuation fields (``pe_ttm, pb_mrq, ps_ttm, turnover_rate``)."""
    if raw.height == 0:
        return pl.DataFrame()
    missing = [c for c in BAR_FIELDS.split(",") if c not in raw.columns]
    if missing:
        raise BaostockError(f"baostock query_history_k_data_plus: fields changed, missing {', '.join(missing)}")
    suspended = pl.col("tradestatus") == "0"
    df = raw.select(
        _symbol().alias("symbol"), _date("date").alias("date"),
        *(_float(c).alias(c) for c in ("open", "high", "low", "close")),
        _float("preclose").alias("pre_close"), _float("volume").fill_null(0.0).alias("volume"),
        _float("amount").alias("amount"), suspended.alias("is_suspended"), (pl.col("isST") == "1").alias("is_st"),
        _float("peTTM").alias("pe_ttm"), _float("pbMRQ").alias("pb_mrq"), _float("psTTM").alias("ps_ttm"),
        (_float("turn") / 100.0).alias("turnover_rate"))
    df = df.with_columns(files.normalize_symbols(df["symbol"]).alias("symbol"))
    df = df.with_columns(pl.when(pl.col("is_suspended") & pl.col("amount").is_null()).then(0.0)
                         .otherwise(pl.col("amount")).alias("amount"))
    return df.sort("symbol", "date").with_columns(panel.adj_factor_from_prev_close(df.sort("symbol", "date")))


FUND_COLS = ("pe_ttm", "pb_mrq", "ps_ttm", "turnover_rate")


@dataclass
class _Read:
    src: BaostockSource
    store: MarketStore
    session: Session
    lo: dt.date
    hi: dt.date
    notes: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.anchor = previous_day(self.store, self.lo)
        self.first = self.anchor or self.lo
        self.cache = Cache(Path(self.store.path).parent / "cache" / "baostock" / f"{self.first:%Y%m%d}-{self.hi:%Y%m%d}")
        self.days = pl.Series("date", [], dtype=pl.Date)

    def batch(self) -> Batch:
        days = self.days = self.cache.through("_calendar", self.calendar)["date"]
        basic = self.cache.through("_stock_basic", self.stock_basic)
        wanted = self.wanted(basic)
        outs = dict(zip(basic["symbol"].to_list(), basic["out"].to_list()))
        parts: list[pl.DataFrame] = []
        empty: list[str] = []
        for symbol in progress_items(wanted, "baostock bars", self.src.progress):
            got = self.cache.through(symbol, functools.partial(self.read_stock, symbol, outs.get(symbol)))
            (parts.append(got) if got.height else empty.append(symbol))
        rows = pl.concat(parts) if parts else pl.DataFrame()
        out: dict[str, pl.DataFrame] = {"calendar": pl.DataFrame({"date": days.filter(days.is_between(self.lo, self.hi))})}
        cover: list[CoverageRow] = []
        if rows.height:
            bars = continue_factors(self.store, rows.drop(*FUND_COLS, "pre_close"), self.anchor, self.lo)
            out |= files.assemble(bars, days.filter(days <= self.hi), self.lo, self.hi)
        if "bars" in out:
            out["instruments"] = _listing(out["instruments"], basic)
            out["fundamentals"] = rows.filter(pl.col("date") >= self.lo).select("symbol", "date", *FUND_COLS)
            first, last = out["bars"]["date"].min(), out["bars"]["date"].max()
            cover += [span("st", "*", "backfill", first, last, "BaoStock isST per day", "baostock"),
                      span("fundamentals", "*", "backfill", first, last, "BaoStock peTTM/pbMRQ/psTTM/turn", "baostock")]
        out["index_bars"] = self.index_bars()
        out["index_members"] = self.members(days, cover)
        out["coverage"] = coverage_frame(cover)
        notes = [f"baostock: {len(empty)} symbol(s) returned no bars" + (f": {', '.join(empty[:20])}" if empty else ""),
                 *self.session.caller.summary("baostock"), *self.notes]
        return Batch(out, self.lo, self.hi, tuple(notes))

    def calendar(self) -> pl.DataFrame:
        raw = self.session.query("query_trade_dates", complete=functools.partial(_reaches, self.hi, "calendar_date"),
                                 start_date=f"{self.first:%Y-%m-%d}", end_date=f"{self.hi:%Y-%m-%d}")
        return raw.filter(pl.col("is_trading_day") == "1").select(_date("calendar_date").alias("date")).sort("date")

    def last_day(self, out: dt.date | None = None) -> dt.date | None:
        """The last trading day a history read now must reach: <= ``hi`` and before ``out`` (delisting)."""
        due = self.days.filter((self.days <= self.hi) & (self.days < out if out is not None else True))
        return opt_date(due.max()) if due.len() else None

    def stock_basic(self) -> pl.DataFrame:
        raw = self.session.query("query_stock_basic")
        return raw.select(files.normalize_symbols(raw["code"].str.replace(".", "", literal=True)).alias("symbol"),
                          pl.col("code_name").alias("name"), _date("ipoDate").alias("ipo"), _date("outDate").alias("out"),
                          pl.col("type"))

    def wanted(self, basic: pl.DataFrame) -> list[str]:
        if self.src.symbols is not None:
            wanted = list(parse_symbols(self.src.symbols) or ())
            self.notes.append(f"baostock: stock list: the {len(wanted)} symbol(s) asked for")
            return wanted
        live = basic.filter((pl.col("type") == "1") & (pl.col("ipo") <= self.hi)
                            & (pl.col("out").is_null() | (pl.col("out") >= self.lo)))
        gone = live.filter(pl.col("out").is_not_null()).height
        self.notes.append(f"baostock: stock list: {live.height:,} stocks listed at some time in {self.lo} .. {self.hi} "
                          f"(query_stock_basic), {gone:,} of them delisted since: survivorship-free")
        return live["symbol"].sort().to_list()

    def read_stock(self, symbol: str, out: dt.date | None = None) -> pl.DataFrame:
        """One stock's bars and valuations; a history that stops before ``last_day(out)`` is short."""
        raw = self.session.query("query_history_k_data_plus", complete=functools.partial(_complete, self.last_day(out)),
                                 code=bs_code(symbol), fields=BAR_FIELDS, start_date=f"{self.first:%Y-%m-%d}",
                                 end_date=f"{self.hi:%Y-%m-%d}", frequency="d", adjustflag="3")
        return parse_bars(raw)

    def index_bars(self) -> pl.DataFrame:
        parts = []
        for code in self.src.indexes:
            raw = self.cache.through(f"_index_{code}", functools.partial(
                self.session.query, "query_history_k_data_plus", complete=functools.partial(_complete, self.last_day()),
                code=bs_code(code), fields=INDEX_FIELDS, start_date=f"{self.lo:%Y-%m-%d}",
                end_date=f"{self.hi:%Y-%m-%d}", frequency="d", adjustflag="3"))
            if raw.height:
                parts.append(raw.select(pl.lit(code).alias("index_code"), _date("date").alias("date"),
                                        *(_float(c).alias(c) for c in ("open", "high", "low", "close", "volume", "amount"))))
        return pl.concat(parts) if parts else pl.DataFrame(schema=INDEX_BARS)

    def members(self, days: pl.Series, cover: list[CoverageRow]) -> pl.DataFrame:
        """Step 3: one snapshot per distinct ``updateDate`` seen at the sampled days."""
        window = days.filter(days.is_between(self.lo, self.hi))
        if window.len() == 0 or not self.src.members:
            return pl.DataFrame(schema=INDEX_MEMBERS)
        sample = sorted({as_date(d) for d in window.gather_every(self.src.member_step).to_list()}
                        | {as_date(window.max())})
        parts = []
        for code in self.src.members:
            for day in sample:
                raw = self.cache.through(f"_members_{code}_{day:%Y%m%d}", functools.partial(
                    self.session.query, MEMBER_QUERIES[code], date=f"{day:%Y-%m-%d}"))
                if raw.height:
                    parts.append(raw.select(pl.lit(code).alias("index_code"), _date("updateDate").alias("date"),
                                            files.normalize_symbols(raw["code"].str.replace(".", "", literal=True))
                                            .alias("symbol"), pl.lit(None, pl.Float64).alias("weight")))
            cover.append(span("index_members", code, "backfill", window.min(), window.max(),
                              f"BaoStock {MEMBER_QUERIES[code]} every {self.src.member_step} trading days", "baostock"))
        if not parts:
            return pl.DataFrame(schema=INDEX_MEMBERS)
        snaps = pl.concat(parts).unique(["index_code", "date", "symbol"]).sort("index_code", "date", "symbol")
        return panel.clip_snapshots(snaps, self.lo, self.hi)


def _listing(instruments: pl.DataFrame, basic: pl.DataFrame) -> pl.DataFrame:
    """Names, listing and delisting dates from ``query_stock_basic`` where it knows them."""
    info = basic.select("symbol", pl.col("name").alias("_name"), pl.col("ipo").alias("_ipo"), pl.col("out").alias("_out"))
    return (instruments.join(info, on="symbol", how="left")
            .with_columns(pl.coalesce("_name", "name").alias("name"), pl.coalesce("_ipo", "list_date").alias("list_date"),
                          pl.coalesce("_out", "delist_date").alias("delist_date"))
            .drop("_name", "_ipo", "_out"))


def _args(kwargs: dict[str, Any]) -> str:
    return args_text(kwargs, hide=("fields",))


def _reaches(last: dt.date, column: str, rows: pl.DataFrame) -> str | None:
    """What is missing when the dates in ``column`` stop before ``last`` (None: they reach it)."""
    got = opt_date(rows[column].str.to_date("%Y-%m-%d", strict=False).max()) if rows.height else None
    if got is None or got < last:
        return f"{rows.height:,} rows ending {got}, the request runs to {last}"
    return None


def _complete(last: dt.date | None, rows: pl.DataFrame) -> str | None:
    """A history with rows must reach ``last`` (the calendar's last day before any delisting):
    BaoStock sends suspended days as rows (tradestatus 0), so a shorter one was cut."""
    if last is None or rows.height == 0:
        return None
    return _reaches(last, "date", rows)
