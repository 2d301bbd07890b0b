"""Source ``files``: import daily bars (and qlib membership files) from CSV or Parquet.

``read(path, layout)`` returns store frames; ``ingest(store, path, layout)`` writes them in one
``store.write``. ``path`` is one long file, or a folder of per-symbol files (the symbol is the
file stem when the file has no symbol column), optionally with qlib ``instruments/*.txt``.

Steps (each names the function that owns it):
  1. ``_list_inputs``: bar files (``.csv``, ``.csv.gz``, ``.parquet``) and membership files;
  2. ``read_bar_file``: read one file with its layout (``flyer.data.sources.presets``), rename headers
     to store columns and parse types; any CSV problem raises ``SourceError`` (one line naming
     file, column and problem) before anything is written;
  3. ``to_bars``: units (lots -> shares, thousand CNY -> CNY), raw prices from adjusted ones
     (raw = price / factor), the hfq ``adj_factor`` (given, or from the previous close, or from
     涨跌额 / ``change`` = close - previous close), the ST flag from a dated name, zero/NaN
     volume as suspended;
  4. index rows (``000xxx.SH``, ``399xxx.SZ``) go to ``index_bars``, stock rows are made dense
     with ``flyer.data.panel.fill_suspended`` on the exchange calendar;
  5. ``instruments_from_bars``: name, exchange, board, list/delist dates from the bars;
  6. ``read_intervals`` + ``flyer.data.panel.intervals_to_snapshots``: qlib membership -> snapshots.
Bad rows (prices, symbols, dates off the calendar or after today) are rejected by ``assemble``
before anything is derived from them, and logged by the store (the ``rejects`` pseudo-table).
``FilesSource.read`` notes close-to-close moves beyond the price limit that no adjustment
explains (``flyer.data.limit_moves``: a corporate action the file carries no trace of).
"""
from __future__ import annotations

import codecs
import datetime as dt
import gzip
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import polars as pl
from flyer.data import panel
from flyer.data.calendar import sse_calendar
from flyer.data.clock import today
from flyer.data.coverage import coverage_frame, span
from flyer.data.limit_moves import describe, unexplained_moves
from flyer.data.schema import BARS
from flyer.data.sources import tables
from flyer.data.sources.base import Batch, window_dates
from flyer.data.sources.presets import LAYOUTS, QLIB_INDEX_FILES, Layout, detect
from flyer.data.symbols import board_expr, normalize_symbols
from flyer.data.validate import check
from flyer.core.values import opt_date

from flyer.core.errors import FlyerError

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

FLOATS = ("open", "high", "low", "close", "volume", "amount", "pre_close", "change", "factor", "adj_factor",
          "total_cap", "float_cap")
BOOLS = ("is_st", "is_suspended")
REQUIRED = ("date", "open", "high", "low", "close")
INDEX_PATTERN = r"^(000\d{3}\.SH|399\d{3}\.SZ)$"
_BAR_SUFFIXES = (".csv", ".csv.gz", ".parquet", ".pq")


class SourceError(FlyerError, ValueError):
    """A file that cannot be read as the layout says (message: one line naming file and column)."""


# ---------------------------------------------------------------------------- public API
def read(path: str | os.PathLike, layout: str | Layout = "auto", *, columns: Mapping[str, str] | None = None,
         start: dt.date | None = None, end: dt.date | None = None,
         calendar: list[dt.date] | pl.Series | None = None) -> dict[str, pl.DataFrame]:
    """Read bars (and memberships) from ``path`` into store frames.

    ``layout``: ``auto`` | ``tushare`` | ``akshare`` | ``qlib`` | ``xbx`` | ``long`` or a ``Layout``;
    ``columns``: extra header -> store column mapping; ``start``/``end``: keep bars in range
    (factors are computed on the whole file first); ``calendar``: trading days (default: the
    exchange calendar over the bars' span). Returns ``calendar, instruments, bars`` and, where
    present, ``index_bars`` and ``index_members``. Raises ``SourceError``.
    """
    bar_files, member_files = _list_inputs(Path(path))
    if not bar_files and not member_files:
        raise SourceError(f"{path}: no .csv/.parquet bar files or instruments/*.txt found")
    bar_files, extra = _split_tables(bar_files)
    if not bar_files and not member_files:
        return clip_tables(extra, start, end)
    lay = _resolve(layout, bar_files[0] if bar_files else None, columns)
    from flyer.core import progress

    frames = [read_bar_file(f, lay) for f in progress.tracked(bar_files, "reading bar files", "files",
                                                               info=lambda f: f.name)]
    data = pl.concat([to_bars(f, lay) for f in frames], how="diagonal_relaxed") if frames else _empty_bars()
    is_index = pl.col("symbol").str.contains(INDEX_PATTERN)
    stocks, indexes = data.filter(~is_index), data.filter(is_index)
    out = assemble(stocks, calendar, start, end)
    if indexes.height:
        out["index_bars"] = index_frame(indexes, start, end)
        if "calendar" not in out:
            days = calendar if calendar is not None else sse_calendar(opt_date(indexes["date"].min()),
                                                                      opt_date(indexes["date"].max()))
            out["calendar"] = clip_dates(pl.DataFrame({"date": pl.Series(days, dtype=pl.Date)}), start, end)
    if member_files:
        cal = sse_calendar()
        snaps = pl.concat([panel.intervals_to_snapshots(read_intervals(f), cal) for f in member_files])
        out["index_members"] = panel.clip_snapshots(snaps, start, end)
    out = {**out, **clip_tables(extra, start, end)}
    if out.get("bars") is not None and out["bars"].height:
        out["coverage"] = _st_coverage(out["bars"], "is_st" in data.columns and data["is_st"].null_count() < data.height)
    return out


def _st_coverage(bars: pl.DataFrame, known: bool) -> pl.DataFrame:
    """Where the files say whether a stock was ST (a dated name or an is_st column) or not."""
    first, last = bars["date"].min(), bars["date"].max()
    if known:
        return coverage_frame([span("st", "*", "backfill", first, last, "dated names / is_st in the files", "files")])
    return coverage_frame([span("st", "*", "unknown", first, last, "the files have no names or is_st (stored False)",
                                "files")])


def _split_tables(bar_files: list[Path]) -> tuple[list[Path], dict[str, pl.DataFrame]]:
    """Bar files, and the industry/valuation files among them read into their tables
    (``flyer.data.sources.tables``: tushare daily_basic / index_member(_all), akshare SW history)."""
    bars: list[Path] = []
    found: dict[str, pl.DataFrame] = {}
    for f in bar_files:
        layout = tables.detect_table(_headers(f, 0))
        if layout is None:
            bars.append(f)
            continue
        try:
            raw = pl.read_parquet(f) if _is_parquet(f) else _read_csv(f)
            table, frame = tables.read_table(f, layout, raw)
        except pl.exceptions.PolarsError as exc:
            raise SourceError(f"{f}: cannot read as {layout}: {_first_line(exc)}") from exc
        found[table] = pl.concat([found[table], frame]) if table in found else frame
    return bars, found


def clip_tables(frames: dict[str, pl.DataFrame], start: dt.date | None, end: dt.date | None) -> dict[str, pl.DataFrame]:
    """Daily tables kept to [start, end]; industry intervals are whole histories (kept as they are)."""
    return {t: (clip_dates(df, start, end) if "date" in df.columns else df) for t, df in frames.items()}


@dataclass(frozen=True)
class FilesSource:
    """Source ``files``: bars (and memberships) from a CSV/Parquet file or a folder of them
    (see :func:`read`), optionally kept to ``start..end``."""

    kind: ClassVar[str] = "files"
    path: str = ""
    layout: str = "auto"
    start: dt.date | None = None
    end: dt.date | None = None

    def __post_init__(self) -> None:
        if not self.path:
            raise ValueError("needs a path (a CSV/Parquet file or a folder of them): --path or path = ...")

    def read(self, store: MarketStore, since: dt.date | None = None, until: dt.date | None = None) -> Batch:
        lo, hi = window_dates(since, until, self.start, self.end)
        frames = read(self.path, self.layout, start=lo, end=hi)
        return Batch(frames, lo, hi, limit_notes(frames.get("bars")))


def limit_notes(bars: pl.DataFrame | None) -> tuple[str, ...]:
    """A note when close-to-close moves lie beyond the price limit with no adjustment to explain
    them (``flyer.data.limit_moves``): never silent about a corporate action left unadjusted."""
    if bars is None or bars.height == 0:
        return ()
    moves = unexplained_moves(bars)
    if moves.height == 0:
        return ()
    note = (f"files: {moves.height:,} close-to-close move(s) beyond the price limit that no adjustment explains: "
            f"{describe(moves)}: a split or bonus issue the file has no previous close, 涨跌额 or factor for? "
            "(stored with adj_factor unchanged; `flyer check --area adjustment` lists them)")
    return (note,)


def assemble(stocks: pl.DataFrame, calendar: list[dt.date] | pl.Series | None,
             start: dt.date | None, end: dt.date | None, listed: bool = False) -> dict[str, pl.DataFrame]:
    """Stock bars (store columns, any order) -> ``calendar``, dense ``bars`` and ``instruments``.

    The raw rows are validated FIRST (``flyer.data.validate.check`` against ``calendar`` and the
    clock): rejected rows go to the batch's ``rejects`` pseudo-table and nothing is derived from
    them (no filled suspended days up to them, no calendar span, no instrument).
    ``listed``: every symbol is still listed, so its panel is filled through the calendar's end.
    """
    if stocks.height == 0:
        return {}
    lo, hi = opt_date(stocks["date"].min()), opt_date(stocks["date"].max())
    days = pl.Series("date", calendar if calendar is not None else sse_calendar(lo, hi), dtype=pl.Date)
    screened = check("bars", stocks, days if days.len() else None, today())
    out: dict[str, pl.DataFrame] = {"rejects": screened.rejects} if screened.rejects.height else {}
    stocks = screened.good
    if stocks.height == 0:
        return out
    if calendar is None:  # the span of the accepted rows only
        days = days.filter(days.is_between(stocks["date"].min(), stocks["date"].max()))
    bars = panel.fill_suspended(stocks.sort("symbol", "date"), days, until=opt_date(days.max()) if listed else None)
    instruments = instruments_from_bars(bars)
    return {**out, "calendar": clip_dates(pl.DataFrame({"date": days}), start, end), "instruments": instruments,
            "bars": clip_dates(bars, start, end)}


# ---------------------------------------------------------------------------- step 1
def _list_inputs(path: Path) -> tuple[list[Path], list[Path]]:
    if not path.exists():
        raise SourceError(f"{path}: no such file or folder")
    if path.is_file():
        return ([], [path]) if path.suffix == ".txt" else ([path], [])
    bars = sorted(p for p in path.iterdir() if p.is_file() and p.name.lower().endswith(_BAR_SUFFIXES))
    inst = path / "instruments"
    members = sorted(p for p in inst.glob("*.txt") if p.stem in QLIB_INDEX_FILES) if inst.is_dir() else []
    return bars, members


def _resolve(layout: str | Layout, file: Path | None, columns: Mapping[str, str] | None) -> Layout:
    if isinstance(layout, Layout):
        return layout.with_columns(columns)
    if layout != "auto":
        if layout not in LAYOUTS:
            raise SourceError(f"unknown layout {layout!r}: choose auto, {', '.join(LAYOUTS)}")
        return LAYOUTS[layout].with_columns(columns)
    if file is None:
        return LAYOUTS["long"].with_columns(columns)
    headers = _headers(file, 0)
    for skip in (0, 1):  # xbx files open with a one-line banner
        try:
            return detect(headers if skip == 0 else _headers(file, 1)).with_columns(columns)
        except ValueError:
            continue
    raise SourceError(f"{file}: cannot detect the layout from headers {headers[:12]}; pass layout=")


def _headers(file: Path, skip: int) -> list[str]:
    if _is_parquet(file):
        try:
            return list(pl.read_parquet_schema(file))
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise SourceError(f"{file}: malformed Parquet: {_first_line(exc)}") from exc
    try:
        return list(_read_csv(file, n_rows=0, skip_rows=skip).columns)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise SourceError(f"{file}: malformed CSV: {_first_line(exc)}") from exc


# ---------------------------------------------------------------------------- step 2
def read_bar_file(file: Path, layout: str | Layout = "auto", columns: Mapping[str, str] | None = None) -> pl.DataFrame:
    """One bar file -> frame with store column names and types (symbol from the stem if absent)."""
    lay = _resolve(layout, file, columns)
    return parse_frame(_read_raw(file, lay), lay, file, default_symbol=_stem(file))


def parse_frame(raw: pl.DataFrame, lay: Layout, origin: Path | str, default_symbol: str | None = None) -> pl.DataFrame:
    """A frame with the layout's headers -> store column names and types; ``origin`` names it in errors."""
    renamed = _rename(raw, lay, origin)
    if "symbol" not in renamed.columns:
        if default_symbol is None:
            raise SourceError(f"{origin}: missing required column 'symbol' for layout {lay.name}")
        renamed = renamed.with_columns(pl.lit(default_symbol).alias("symbol"))
    return _typed(renamed, origin, lay)


def _read_raw(file: Path, lay: Layout) -> pl.DataFrame:
    try:
        if _is_parquet(file):
            return pl.read_parquet(file)
        return _read_csv(file, skip_rows=lay.skip_rows or _banner(file, lay))
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"{file}: malformed {'Parquet' if _is_parquet(file) else 'CSV'}: {_first_line(exc)}") from exc


def _read_csv(file: Path, **kwargs: Any) -> pl.DataFrame:
    """All columns as strings; files that are not UTF-8 are read as GB18030 (GBK), common for A-share data."""
    if _is_utf8(file):
        return pl.read_csv(file, infer_schema=False, **kwargs)
    data = file.read_bytes()
    if file.name.lower().endswith(".gz"):
        data = gzip.decompress(data)
    return pl.read_csv(data.decode("gb18030").encode("utf-8"), infer_schema=False, **kwargs)


def _is_utf8(file: Path) -> bool:
    """Whether the first 64 KiB decode as UTF-8 (an incomplete last character is fine)."""
    opener = gzip.open if file.name.lower().endswith(".gz") else open
    with opener(file, "rb") as fh:
        head = fh.read(65536)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return True


def _banner(file: Path, lay: Layout) -> int:
    """1 when the header row is the second line (xbx's banner), else 0."""
    first = set(_headers(file, 0))
    return 0 if first & set(lay.columns) else 1


def _rename(raw: pl.DataFrame, lay: Layout, file: Path | str) -> pl.DataFrame:
    clean = {c: c.strip().lstrip("\ufeff") for c in raw.columns}
    mapping: dict[str, str] = {}
    for col, cleaned in clean.items():
        target = lay.columns.get(cleaned)
        if target and target not in mapping.values():
            mapping[col] = target
    missing = [c for c in REQUIRED if c not in mapping.values()]
    if missing:
        header = next((h for h, t in lay.columns.items() if t == missing[0]), missing[0])
        what = f"'{header}'" + (f" ({missing[0]})" if header != missing[0] else "")
        raise SourceError(f"{file}: missing required column {what} for layout {lay.name}")
    return raw.select([pl.col(c).alias(t) for c, t in mapping.items()])


def _typed(df: pl.DataFrame, file: Path | str, lay: Layout) -> pl.DataFrame:
    exprs = []
    for col in df.columns:
        if col == "date":
            exprs.append(parse_dates(df["date"], file, lay).alias("date"))
        elif col in FLOATS:
            exprs.append(parse_floats(df[col], file).alias(col))
        elif col in BOOLS:
            exprs.append(_parse_bools(df[col], file).alias(col))
        else:
            exprs.append(df[col].cast(pl.Utf8).str.strip_chars().alias(col))
    typed = pl.DataFrame(exprs)
    return typed.with_columns(normalize_symbols(typed["symbol"]).alias("symbol"))


def _bad(file: Path | str, col: str, orig: pl.Series, parsed: pl.Series, what: str) -> SourceError:
    mask = parsed.is_null() & orig.is_not_null()
    idx = int(mask.arg_true()[0])
    return SourceError(f"{file}: column '{col}' row {idx + 1}: cannot parse {orig[idx]!r} as {what}")


def parse_dates(s: pl.Series, file: Path | str, lay: Layout) -> pl.Series:
    if s.dtype == pl.Date:
        return s
    if isinstance(s.dtype, pl.Datetime):
        return s.dt.date()
    text = s.cast(pl.Utf8).str.strip_chars().str.slice(0, 10)
    text = pl.Series(text).replace("", None)
    out = pl.Series("date", [None] * len(text), dtype=pl.Date)
    for fmt in lay.date_formats:
        out = out.fill_null(text.str.to_date(fmt, strict=False))
        if out.null_count() == text.null_count():
            break
    if out.null_count() > text.null_count():
        raise _bad(file, "date", text, out, "a date")
    if text.null_count():
        idx = int(text.is_null().arg_true()[0])
        raise SourceError(f"{file}: column 'date' row {idx + 1}: date is missing")
    return out


def parse_floats(s: pl.Series, file: Path | str) -> pl.Series:
    if s.dtype.is_numeric():
        return s.cast(pl.Float64)
    text = s.cast(pl.Utf8).str.strip_chars().replace("", None)
    out = text.cast(pl.Float64, strict=False)
    if out.null_count() > text.null_count():
        raise _bad(file, s.name, text, out, "a number")
    return out


def _parse_bools(s: pl.Series, file: Path | str) -> pl.Series:
    if s.dtype == pl.Boolean:
        return s
    text = s.cast(pl.Utf8).str.strip_chars().str.to_lowercase().replace("", None)
    out = text.replace_strict({"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False},
                              default=None, return_dtype=pl.Boolean)
    if out.null_count() > text.null_count():
        raise _bad(file, s.name, text, out, "true/false")
    return out


# ---------------------------------------------------------------------------- step 3
def to_bars(df: pl.DataFrame, lay: Layout) -> pl.DataFrame:
    """Typed file rows -> store bar columns (prices raw CNY, volume shares, amount CNY, hfq factor)."""
    df = df.sort("symbol", "date")
    cols = set(df.columns)
    if "volume" not in cols:
        df = df.with_columns(pl.lit(None, pl.Float64).alias("volume"))
    if "amount" not in cols:
        df = df.with_columns(pl.lit(None, pl.Float64).alias("amount"))
    df = df.with_columns(pl.col("volume") * lay.volume_scale, pl.col("amount") * lay.amount_scale)
    if lay.prices == "adjusted":
        if "factor" not in cols:
            raise SourceError(f"layout {lay.name}: adjusted prices need a 'factor' column")
        f = pl.when(pl.col("factor") > 0).then(pl.col("factor"))  # null (-> rejected row) when missing or <= 0
        df = df.with_columns(*((pl.col(c) / f).round(2).alias(c) for c in ("open", "high", "low", "close")),
                             f.alias("adj_factor"))
        if lay.volume_adjusted:
            df = df.with_columns(pl.col("volume") * f)
    elif "adj_factor" not in cols:
        if "pre_close" not in cols and "change" in cols:  # 涨跌额 = close - the ex-rights previous close
            df = df.with_columns((pl.col("close") - pl.col("change")).round(2).alias("pre_close"))
            cols.add("pre_close")
        if "pre_close" in cols:
            df = df.with_columns(panel.adj_factor_from_prev_close(df))
        else:
            df = df.with_columns(pl.lit(1.0).alias("adj_factor"))
    if "is_st" not in cols:
        st = panel.st_from_name(pl.col("name")) if "name" in cols else pl.lit(None, pl.Boolean)
        df = df.with_columns(st.alias("is_st"))
    return mark_untraded(df)


def mark_untraded(df: pl.DataFrame) -> pl.DataFrame:
    """Volume NaN/null -> 0; ``is_suspended`` where volume <= 0 (unless given); amount 0 there if missing."""
    vol = pl.col("volume").fill_nan(None).fill_null(0.0)
    susp = vol <= 0
    if "is_suspended" in df.columns:
        susp = pl.col("is_suspended").fill_null(susp)
    amount = pl.col("amount").fill_nan(None)
    return df.with_columns(vol.alias("volume"), susp.alias("is_suspended")).with_columns(
        pl.when(pl.col("is_suspended") & amount.is_null()).then(0.0).otherwise(amount).alias("amount"))


def index_frame(rows: pl.DataFrame, start: dt.date | None, end: dt.date | None) -> pl.DataFrame:
    """Index rows in bar columns -> ``index_bars`` frame."""
    out = rows.select(pl.col("symbol").alias("index_code"), "date", "open", "high", "low", "close",
                      "volume", "amount")
    return clip_dates(out, start, end).sort("index_code", "date")


# ---------------------------------------------------------------------------- step 5
def instruments_from_bars(bars: pl.DataFrame, data_end: dt.date | None = None) -> pl.DataFrame:
    """One row per canonical symbol: last name, exchange, board, list_date = first bar,
    delist_date = last bar when it is before ``data_end`` (default: the last date in ``bars``)."""
    end = data_end or bars["date"].max()
    has = set(bars.columns)
    agg = [pl.col("date").min().alias("list_date"), pl.col("date").max().alias("_last")]
    for col in ("name", "industry"):
        agg.append((pl.col(col).drop_nulls().last() if col in has else pl.lit(None, pl.Utf8)).alias(col))
    out = (bars.filter(pl.col("symbol").str.contains(r"^\d{6}\.(SH|SZ|BJ)$"))
           .group_by("symbol").agg(agg))
    return out.select(
        "symbol", pl.col("name").cast(pl.Utf8), pl.col("symbol").str.slice(7).alias("exchange"),
        board_expr(pl.col("symbol")).alias("board"), pl.col("industry").cast(pl.Utf8), "list_date",
        pl.when(pl.col("_last") < end).then(pl.col("_last")).otherwise(None).alias("delist_date"),
    ).sort("symbol")


# ---------------------------------------------------------------------------- step 6
def read_intervals(file: Path, index_code: str | None = None) -> pl.DataFrame:
    """A qlib instruments file (``SH600000<TAB>2010-01-04<TAB>2020-12-31``, tab or comma) ->
    ``index_code, symbol, start, end``; the index code comes from the file stem (csi500 -> 000905.SH)."""
    code = index_code or QLIB_INDEX_FILES.get(Path(file).name.split(".")[0])
    if code is None:
        raise SourceError(f"{file}: unknown index file (expected one of {', '.join(QLIB_INDEX_FILES)})")
    text = Path(file).read_bytes()
    if str(file).endswith(".gz"):
        text = gzip.decompress(text)
    sep = "\t" if b"\t" in text[:200] else ","
    try:
        raw = pl.read_csv(text, separator=sep, has_header=False, infer_schema=False,
                          new_columns=["symbol", "start", "end"])
    except pl.exceptions.PolarsError as exc:
        raise SourceError(f"{file}: malformed instruments file: {_first_line(exc)}") from exc
    lay = LAYOUTS["long"]
    starts = parse_dates(raw["start"].rename("start"), file, lay)
    ends = parse_dates(raw["end"].rename("end"), file, lay)
    return pl.DataFrame({"index_code": [code] * raw.height, "symbol": normalize_symbols(raw["symbol"]),
                         "start": starts, "end": ends})


# ---------------------------------------------------------------------------- helpers
def clip_dates(df: pl.DataFrame, start: dt.date | None, end: dt.date | None) -> pl.DataFrame:
    if start is not None:
        df = df.filter(pl.col("date") >= start)
    if end is not None:
        df = df.filter(pl.col("date") <= end)
    return df


def _empty_bars() -> pl.DataFrame:
    return pl.DataFrame(schema=BARS)


def _is_parquet(file: Path) -> bool:
    return file.suffix.lower() in (".parquet", ".pq")


def _stem(file: Path) -> str:
    name = file.name
    for suf in _BAR_SUFFIXES:
        if name.lower().endswith(suf):
            return name[: -len(suf)]
    return file.stem


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
