"""Source ``akshare``: stock list, raw + hfq daily bars, CSI index bars, CSI 500 weights, calendar.

``ingest(store, start=..., end=..., symbols=...)`` runs these steps (each names its function):
  1. ``Fetcher.call``: every akshare call goes through one place: a polite delay between calls,
     retries with exponential backoff on connection errors, timeouts and malformed answers
     (JSON/Key/Type errors), capped at ``tries``; the sleep is injectable for tests;
  2. ``fetch_symbol``: raw and hfq bars of one stock -> store bar rows (volume lots -> shares,
     adj_factor = hfq close / raw close held constant inside its rounding noise), cached as
     Parquet under ``$FLYER_HOME/cache/akshare/<range-key>/`` (an empty answer is cached too);
  3. ``fetch_indexes`` / ``fetch_members`` / ``fetch_calendar`` / the stock list, cached likewise;
  4. ``files.assemble`` makes the panel dense, then ONE ``store.write``: a failure anywhere before
     it leaves the store unchanged, and a rerun skips every cached answer.
The akshare module is a parameter (default ``import akshare``) so tests pass recorded frames.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, ClassVar

import polars as pl

from flyer.data.sources import files
from flyer.data.sources.base import Batch, window_dates
from flyer.data.sources.presets import AKSHARE
from flyer.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

SOURCE = "akshare"
EXCHANGES = {"上海证券交易所": "SH", "深圳证券交易所": "SZ", "北京证券交易所": "BJ"}


class AkshareError(FlyerError):
    """A fetch that failed after all retries (one line naming the call and what to do; the
    cache keeps what was fetched, the store is unchanged)."""


def _retryable() -> tuple[type[BaseException], ...]:
    try:
        import requests
        net: tuple[type[BaseException], ...] = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)
    except ImportError:  # pragma: no cover - requests comes with akshare
        net = ()
    return (*net, ConnectionError, TimeoutError, ValueError, KeyError, TypeError)


@dataclass(frozen=True)
class AkshareConfig:
    """What to fetch and how politely. Dates inclusive; ``symbols`` None = every listed A-share."""

    start: dt.date
    end: dt.date
    symbols: tuple[str, ...] | None = None
    indexes: tuple[str, ...] = ("000905.SH", "000300.SH")
    weights: tuple[str, ...] = ("000905.SH",)
    delay: float = 0.3           # seconds between calls
    tries: int = 3               # attempts per call
    backoff: float = 2.0         # first retry waits this long, doubling after
    progress: bool = True

    @property
    def key(self) -> str:
        """Cache folder name for this date range."""
        return f"{self.start:%Y%m%d}-{self.end:%Y%m%d}"


class Fetcher:
    """Rate-limited, retrying caller of akshare functions (step 1)."""

    def __init__(self, ak: Any, cfg: AkshareConfig, sleep: Callable[[float], None] = time.sleep) -> None:
        self.ak, self.cfg, self.sleep = ak, cfg, sleep
        self.calls = 0

    def call(self, name: str, **kwargs: Any) -> Any:
        """``ak.<name>(**kwargs)`` with delay and retries; raises ``AkshareError`` when all tries fail."""
        wait = self.cfg.backoff
        for attempt in range(1, self.cfg.tries + 1):
            if self.calls and self.cfg.delay > 0:
                self.sleep(self.cfg.delay)
            self.calls += 1
            try:
                return getattr(self.ak, name)(**kwargs)
            except _retryable() as exc:
                if attempt == self.cfg.tries:
                    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
                    msg = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
                    raise AkshareError(f"akshare {name}({args}) failed after {attempt} tries ({msg}): check the "
                                       "network or retry later; what was fetched is cached and a rerun resumes") from exc
                self.sleep(wait)
                wait *= 2
        raise AssertionError("unreachable")  # pragma: no cover


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


# ---------------------------------------------------------------------------- public API
DEFAULT_START = dt.date(2010, 1, 1)


@dataclass(frozen=True)
class AkshareSource:
    """Source ``akshare``: stocks, index bars and CSI 500 weights fetched from the vendors akshare
    wraps (needs internet). ``start`` defaults to 2010-01-01, ``end`` to today; ``symbols`` None
    = every listed A-share. Answers are cached per symbol under ``$FLYER_HOME/cache/akshare/``,
    so a rerun after a failure resumes."""

    kind: ClassVar[str] = "akshare"
    start: dt.date | None = None
    end: dt.date | None = None
    symbols: tuple[str, ...] | None = None
    indexes: tuple[str, ...] = ("000905.SH", "000300.SH")
    weights: tuple[str, ...] = ("000905.SH",)
    delay: float = 0.3
    tries: int = 3
    backoff: float = 2.0
    progress: bool = True

    def config(self, since: dt.date | None = None, until: dt.date | None = None) -> AkshareConfig:
        lo, hi = window_dates(since, until, self.start or DEFAULT_START, self.end)
        return AkshareConfig(start=lo or DEFAULT_START, end=hi or dt.date.today(), symbols=_symbols(self.symbols),
                             indexes=self.indexes, weights=self.weights, delay=self.delay, tries=self.tries,
                             backoff=self.backoff, progress=self.progress)

    def read(self, store: MarketStore, since: dt.date | None = None, until: dt.date | None = None,
             ak: Any = None, sleep: Callable[[float], None] | None = None) -> Batch:
        """Fetch (through the cache) everything for the window; ``ak``/``sleep`` are injectable for tests."""
        cfg = self.config(since, until)
        frames, empty = read(cfg, ak=ak, sleep=sleep or time.sleep, cache=Cache(Path(store.path).parent / "cache" / "akshare" / cfg.key))
        note = f"akshare: {len(empty)} symbol(s) returned no bars" + (f": {', '.join(empty[:20])}" if empty else "")
        return Batch(frames, cfg.start, cfg.end, (note,))


def read(cfg: AkshareConfig, ak: Any = None, sleep: Callable[[float], None] = time.sleep,
         cache: Cache | None = None) -> tuple[dict[str, pl.DataFrame], list[str]]:
    """All store frames for ``cfg`` and the symbols that returned no bars (steps 1-4)."""
    if ak is None:
        import akshare as ak  # noqa: PLW0621 - the real module unless one is injected
    fetch = Fetcher(ak, cfg, sleep)
    if cache is None:
        from flyer.data.store import flyer_home
        cache = Cache(flyer_home() / "cache" / "akshare" / cfg.key)
    if cfg.symbols is None:  # every listed A-share: the stock list names them
        names = cache.through("_stock_list", lambda: fetch_stock_list(fetch))
        wanted = names["symbol"].to_list()
    else:  # only the symbols asked for: no stock-list call (names unknown, left null)
        wanted = list(cfg.symbols)
        names = pl.DataFrame({"symbol": wanted, "name": [None] * len(wanted)}, schema={"symbol": pl.Utf8, "name": pl.Utf8})
    bars, empty = [], []
    for symbol in _progress(wanted, cfg.progress):
        got = cache.through(symbol, lambda s=symbol: fetch_symbol(fetch, s, cfg))
        (bars.append(got) if got.height else empty.append(symbol))
    days = cache.through("_calendar", lambda: fetch_calendar(fetch))["date"]
    days = days.filter((days >= cfg.start) & (days <= cfg.end))
    stocks = pl.concat(bars) if bars else pl.DataFrame(schema=_BAR_SCHEMA)
    out = files.assemble(stocks, days, cfg.start, cfg.end, listed=True) if stocks.height else {
        "calendar": pl.DataFrame({"date": days})}
    if "instruments" in out:
        out["instruments"] = (out["instruments"].drop("name").join(names, on="symbol", how="left")
                              .select(out["instruments"].columns))
    out["index_bars"] = pl.concat([cache.through(f"_index_{c}", lambda c=c: fetch_index(fetch, c, cfg))
                                   for c in cfg.indexes]) if cfg.indexes else _empty("index_bars")
    out["index_members"] = pl.concat([cache.through(f"_weights_{c}", lambda c=c: fetch_weights(fetch, c))
                                      for c in cfg.weights]) if cfg.weights else _empty("index_members")
    return out, empty


# ---------------------------------------------------------------------------- steps 2-3
_BAR_SCHEMA = {"symbol": pl.Utf8, "date": pl.Date, "open": pl.Float64, "high": pl.Float64, "low": pl.Float64,
               "close": pl.Float64, "volume": pl.Float64, "amount": pl.Float64, "adj_factor": pl.Float64,
               "is_suspended": pl.Boolean}


def fetch_symbol(fetch: Fetcher, symbol: str, cfg: AkshareConfig) -> pl.DataFrame:
    """One stock's raw and hfq bars -> store bar rows in ``_BAR_SCHEMA`` (empty when no bars)."""
    code = symbol.split(".")[0]
    span = {"period": "daily", "start_date": f"{cfg.start:%Y%m%d}", "end_date": f"{cfg.end:%Y%m%d}"}
    raw = fetch.call("stock_zh_a_hist", symbol=code, adjust="", **span)
    if raw is None or len(raw) == 0:
        return pl.DataFrame(schema=_BAR_SCHEMA)
    hfq = fetch.call("stock_zh_a_hist", symbol=code, adjust="hfq", **span)
    rows = _parse(raw, f"akshare stock_zh_a_hist({code})", symbol)
    if hfq is not None and len(hfq):
        adj = _parse(hfq, f"akshare stock_zh_a_hist({code}, hfq)", symbol).select(
            "date", pl.col("close").alias("_hfq"))
        rows = rows.join(adj, on="date", how="left")
    else:
        rows = rows.with_columns(pl.lit(None, pl.Float64).alias("_hfq"))
    rows = rows.with_columns(stable_factor(pl.col("_hfq"), pl.col("close")).alias("adj_factor"))
    bars = files.mark_untraded(rows.with_columns(pl.col("volume") * AKSHARE.volume_scale))
    return bars.select(*(pl.col(c).cast(t) for c, t in _BAR_SCHEMA.items()))


def stable_factor(hfq_close: pl.Expr, raw_close: pl.Expr) -> pl.Expr:
    """hfq close / raw close, held at its last value while it moves less than the 0.01 CNY rounding
    of both prices allows (so rounding noise is not mistaken for a corporate action); 1 when missing.
    Expects rows of one symbol in date order."""
    f = hfq_close / raw_close
    noise = 2 * (0.005 / hfq_close + 0.005 / raw_close)
    jump = (f / f.shift(1) - 1).abs() > noise
    held = pl.when(jump.fill_null(True)).then(f).otherwise(None).forward_fill()
    return pl.when(held.is_finite() & (held > 0)).then(held).otherwise(None).forward_fill().fill_null(1.0)


def _parse(pdf: Any, origin: str, symbol: str) -> pl.DataFrame:
    df = pl.from_pandas(pdf) if not isinstance(pdf, pl.DataFrame) else pdf
    rows = files.parse_frame(df, AKSHARE, origin, default_symbol=symbol)
    return rows.with_columns(pl.lit(symbol).alias("symbol")).sort("date")


def fetch_stock_list(fetch: Fetcher) -> pl.DataFrame:
    """``symbol, name`` of every listed A-share (today's names)."""
    df = pl.from_pandas(fetch.call("stock_info_a_code_name"))
    codes = df["code"].cast(pl.Utf8).str.zfill(6)
    return pl.DataFrame({"symbol": files.normalize_symbols(codes), "name": df["name"].cast(pl.Utf8)})


def fetch_index(fetch: Fetcher, index_code: str, cfg: AkshareConfig) -> pl.DataFrame:
    """Index daily bars (volume lots -> shares) as an ``index_bars`` frame."""
    pdf = fetch.call("index_zh_a_hist", symbol=index_code.split(".")[0], period="daily",
                     start_date=f"{cfg.start:%Y%m%d}", end_date=f"{cfg.end:%Y%m%d}")
    if pdf is None or len(pdf) == 0:
        return _empty("index_bars")
    rows = _parse(pdf, f"akshare index_zh_a_hist({index_code})", index_code)
    return rows.select(pl.col("symbol").alias("index_code"), "date", "open", "high", "low", "close",
                       pl.col("volume") * AKSHARE.volume_scale, "amount")


def fetch_weights(fetch: Fetcher, index_code: str) -> pl.DataFrame:
    """Today's CSIndex constituents and weights (% -> fraction) as one dated snapshot."""
    df = pl.from_pandas(fetch.call("index_stock_cons_weight_csindex", symbol=index_code.split(".")[0]))
    if df.height == 0:
        return _empty("index_members")
    origin = f"akshare index_stock_cons_weight_csindex({index_code})"
    dates = files.parse_dates(df["日期"], origin, AKSHARE)
    ex = df["交易所"].cast(pl.Utf8).replace_strict(EXCHANGES, default=None)
    code = df["成分券代码"].cast(pl.Utf8).str.zfill(6)
    sym = pl.Series(code + "." + ex).fill_null(files.normalize_symbols(code))
    return pl.DataFrame({"index_code": [index_code] * df.height, "date": [dates.max()] * df.height,
                         "symbol": sym, "weight": files.parse_floats(df["权重"], origin) / 100.0})


def fetch_calendar(fetch: Fetcher) -> pl.DataFrame:
    """Every SSE/SZSE trading day Sina lists, as a ``date`` frame."""
    df = pl.from_pandas(fetch.call("tool_trade_date_hist_sina"))
    return pl.DataFrame({"date": files.parse_dates(df["trade_date"], "akshare tool_trade_date_hist_sina",
                                                     AKSHARE)}).sort("date")


# ---------------------------------------------------------------------------- helpers
def _empty(table: str) -> pl.DataFrame:
    from flyer.data.schema import TABLES
    return pl.DataFrame(schema=TABLES[table])


def _date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    text = str(value).replace("-", "")
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _symbols(symbols: list[str] | tuple[str, ...] | str | None) -> tuple[str, ...] | None:
    if symbols is None:
        return None
    items = symbols.split(",") if isinstance(symbols, str) else list(symbols)
    return tuple(files.normalize_symbols(pl.Series([s.strip() for s in items if s.strip()])).to_list())


def _progress(items: list[str], show: bool) -> Any:
    if not show:
        return items
    from rich.progress import track
    return track(items, description="akshare bars", transient=True)
