"""Preset for the staged real data in ``../shared/ashare`` (see its SOURCE.md; read in place).

Steps (each names the function that owns it):
  1. ``read_xbx``: unadjusted xbx bars 2010-01-04..2022-01-14 (shares, CNY, caps, dated name);
     adj_factor = cumulative product of close[t-1] / 前收盘价[t]; ST from the name prefix;
  2. ``read_qlib``: back-adjusted qlib bars with a factor (raw = price / factor, rounded to the
     cent; volume is raw shares; volume 0/NaN = suspended flat bar), sz300114 -> 302132.SZ;
     qlib has no names, amount or caps: after 2022-01-14 ``is_st`` is unknown (stored False),
     amount and caps are null (0 amount on suspended days);
  3. ``stitch``: xbx through its last day, qlib after it, the qlib factor rescaled per symbol so
     it continues the xbx factor on their last common day;
  4. ``files.assemble``: calendar (trading_days file), dense bars (suspended days filled),
     instruments (list_date: first listed trade from symbols.csv, else the first bar);
  5. ``read_index_bars``: Eastmoney CSVs for 000905/000300/000001 (qlib has a known error in
     000905), the qlib index file for the other indices;
  6. ``read_members``: CSI 500 from qlib intervals through 2023-02-09, sqlib snapshots after;
     CSI 300 = qlib CSI 800 - CSI 500 to 2023-02-09, then sqlib, then qlib's csi300 file;
     each change date becomes a dated snapshot;
  7. ``read_industries``: the Shenwan point-in-time history (``industry/``): levels 1-3 of
     standard ``sw`` (level-1 names per SW version, level-2/3 names in the SW2021 era);
  8. ``read_valuation``: BaoStock PE TTM / PB MRQ / turnover (``valuation/``): Shenzhen stocks
     2010-01-04..2022-02-11, plus the 300 CSI 300 (2025) names 2020-01-02..2025-04-07 (whose
     ``isST`` also gives their ST flags after 2022-01-14); ``coverage`` rows say which table is
     known where (everything here is a back-fill: history supplied later).
Addendum B (each step skipped when its file is absent):
  9. ``read_tushare``: the tushare daily file (qfq as of 2023-03-17, 2021-07-01..2023-03-16) gives
     the bars after 2022-01-14 of the stocks the qlib extension lacks (mostly later-delisted
     names): raw = qfq x (xbx raw close / qfq close on their last common day), exact where no
     ex-date falls after that day (the others are counted: their raw level after it is off by
     that ratio; returns are exact either way), the hfq factor carried from xbx, volume lots x
     100, amount thousand CNY x 1000, ST carried from the last xbx name (such names stay ST into
     their delisting); and the amount of every stock 2022-01-17..2023-03-16;
 10. ``read_delistings``: official delisting dates (tushare ``stock_basic``, list status D);
     ``with_delistings``: a stock delisted by the data's end gets its official date (the engine
     force-sells it on that day at its last close, frozen in between); a stock whose bars end
     without one (a file ended: xbx, tushare or the qlib extension's gap) keeps an unknown
     delisting date (held at its last close, untradable, never force-sold);
 11. ``read_st_names``: ST / *ST / 退 names of the whole market from the daily ``stock_basic``
     snapshots (2024-06-20..2026-03-04): a day is ST when the latest snapshot on or before it
     says so (the last snapshot's flags carry to the data's end);
 12. ``coverage``: the survivor-biased span (from ``SURVIVOR_FIRST``, 2023-03-17: only the qlib
     extension, which holds the stocks listed on 2026-05-08, has bars there), ST unknown
     2022-01-17..2024-06-19 (the CSI 300 (2025) names' BaoStock flags apart).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import polars as pl
from flyer.data import panel
from flyer.data.coverage import coverage_frame, span
from flyer.data.sources import files, shenwan
from flyer.data.sources.base import Batch, window_dates
from flyer.data.sources.presets import QLIB, XBX
from flyer.core.values import as_date

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

DEFAULT_ROOT = "../shared/ashare"
RENAMED = {"300114.SZ": "302132.SZ"}   # 中航电测: the qlib file carries its history under the new code
QLIB_RAW_VOLUME = dataclasses.replace(QLIB, name="qlib-raw-volume", volume_adjusted=False)
EM_INDEXES = {"000905.SH": "em_sh000905_*.csv", "000300.SH": "em_sh000300_*.csv", "000001.SH": "em_sh000001_*.csv"}
CSI500, CSI300 = "000905.SH", "000300.SH"
_BAR_KEEP = ("symbol", "date", "open", "high", "low", "close", "volume", "amount", "adj_factor",
             "is_st", "is_suspended", "total_cap", "float_cap", "name")


def find_default_root() -> Path:
    """Where the staged real data is: ``$FLYER_SHARED_ASHARE``, else the first ``shared/ashare``
    beside the repository or in a folder above it (a git worktree nested deeper finds it too);
    the path beside the repository when none exists."""
    if os.environ.get("FLYER_SHARED_ASHARE"):
        return Path(os.environ["FLYER_SHARED_ASHARE"])
    repo = Path(__file__).resolve().parents[2]
    for base in repo.parents:
        if (base / "shared" / "ashare" / "SOURCE.md").exists():
            return base / "shared" / "ashare"
    return repo.parent / "shared" / "ashare"


def resolve_root(root: str | os.PathLike = DEFAULT_ROOT) -> Path:
    """``root`` as given, else (the default) where ``find_default_root`` finds the data."""
    path = Path(root)
    if str(root) == DEFAULT_ROOT and not path.exists():
        path = find_default_root()
    if not path.exists():
        raise files.SourceError(f"{path}: the ashare data folder does not exist")
    return path


def read(root: str | os.PathLike = DEFAULT_ROOT, start: dt.date | None = None,
         end: dt.date | None = None) -> dict[str, pl.DataFrame]:
    """All store frames from the staged data: calendar, instruments, bars, index_bars, index_members."""
    base = resolve_root(root)
    xbx, qlib = read_xbx(base), read_qlib(base)
    extension, amounts = read_tushare(base, xbx, qlib)
    bars = with_amounts(stitch(xbx, qlib), amounts)
    bars = pl.concat([bars, extension.select(bars.columns)], how="vertical_relaxed").sort("symbol", "date")
    bars = _st_after(bars, read_st_names(base, bars))
    lo, hi = as_date(bars["date"].min()), as_date(bars["date"].max())
    days = read_calendar(base).filter((pl.col("date") >= lo) & (pl.col("date") <= hi))["date"]
    out = files.assemble(bars, days, start, end)
    out["instruments"] = with_delistings(_listing_dates(out["instruments"], base), bars, read_delistings(base), hi)
    first, last = start or lo, min(end or hi, hi)
    out["index_bars"] = files.clip_dates(read_index_bars(base), max(first, lo), last)
    out["index_members"] = panel.clip_snapshots(read_members(base), first, last)
    if (base / "industry").is_dir():
        out["industries"] = read_industries(base)
    if (base / "valuation").is_dir():
        fund, st_after = read_valuation(base)
        out["fundamentals"] = files.clip_dates(fund, max(first, lo), last).join(
            out["bars"].select("symbol", "date"), on=["symbol", "date"], how="semi")
        out["bars"] = _st_after(out["bars"], st_after)
    out["coverage"] = coverage(out, extension, base)
    return out


@dataclass(frozen=True)
class AshareSource:
    """Source ``ashare``: the staged real data in ``../shared/ashare`` (see :func:`read`)."""

    kind: ClassVar[str] = "ashare"
    path: str = DEFAULT_ROOT
    start: dt.date | None = None
    end: dt.date | None = None

    def read(self, store: MarketStore, since: dt.date | None = None, until: dt.date | None = None) -> Batch:
        lo, hi = window_dates(since, until, self.start, self.end)
        return Batch(read(self.path, lo, hi), lo, hi)


def _one(base: Path, pattern: str) -> Path:
    found = sorted(base.glob(pattern))
    if not found:
        raise files.SourceError(f"{base}: no file matches {pattern}")
    return found[-1]


# ---------------------------------------------------------------------------- steps 1-3
def read_xbx(base: Path) -> pl.DataFrame:
    """xbx unadjusted bars in store columns (+ name), 300114.SZ renamed, factor from 前收盘价."""
    raw = files.read_bar_file(_one(base, "daily/xbx_unadj_*.parquet"), XBX)
    raw = raw.with_columns(pl.col("symbol").replace(RENAMED))
    return files.to_bars(raw, XBX).select(_BAR_KEEP)


def read_qlib(base: Path) -> pl.DataFrame:
    """qlib hfq bars -> raw prices (price / factor), factor kept as adj_factor, suspended flagged."""
    raw = files.read_bar_file(_one(base, "daily/qlib_hfq_*.parquet"), QLIB_RAW_VOLUME)
    bars = files.to_bars(raw, QLIB_RAW_VOLUME).with_columns(pl.col("volume").round(0))  # float32 noise
    return bars.with_columns(pl.lit(None, pl.Utf8).alias("name"), pl.lit(None, pl.Float64).alias("total_cap"),
                             pl.lit(None, pl.Float64).alias("float_cap")).select(_BAR_KEEP)


def stitch(xbx: pl.DataFrame, qlib: pl.DataFrame) -> pl.DataFrame:
    """xbx rows through its last date, qlib rows after it (all qlib rows for symbols xbx lacks).

    The qlib factor is multiplied per symbol by xbx_factor / qlib_factor on their last common date
    so the hfq factor runs on continuously; symbols with no common date keep qlib's factor.
    """
    cut = xbx["date"].max()
    common = (xbx.select("symbol", "date", pl.col("adj_factor").alias("_fx"))
              .join(qlib.filter(pl.col("date") <= cut).select("symbol", "date", pl.col("adj_factor").alias("_fq")),
                    on=["symbol", "date"])
              .sort("date").group_by("symbol").last()
              .select("symbol", (pl.col("_fx") / pl.col("_fq")).alias("_scale")))
    in_xbx = xbx["symbol"].unique().implode()
    tail = (qlib.filter((pl.col("date") > cut) | ~pl.col("symbol").is_in(in_xbx))
            .join(common, on="symbol", how="left")
            .with_columns((pl.col("adj_factor") * pl.col("_scale").fill_null(1.0)).alias("adj_factor"))
            .drop("_scale"))
    return pl.concat([xbx, tail]).sort("symbol", "date")


# ---------------------------------------------------------------------------- steps 4-6
def read_calendar(base: Path) -> pl.DataFrame:
    """The derived SSE/SZSE calendar (1990-12-19 ..) as a ``date`` frame."""
    path = _one(base, "calendar/trading_days_*.txt")
    return pl.read_csv(path, has_header=False, new_columns=["date"], try_parse_dates=True).select(
        pl.col("date").cast(pl.Date))


def _listing_dates(instruments: pl.DataFrame, base: Path) -> pl.DataFrame:
    """list_date = first listed trade (symbols.csv, xbx full history) where earlier than the first bar;
    name = the latest name from symbols.csv where the bars carry none."""
    path = base / "daily" / "symbols.csv"
    if not path.exists():
        return instruments
    raw = pl.read_csv(path, infer_schema=False)
    info = raw.select(
        files.normalize_symbols(raw["code"]).replace(RENAMED).alias("symbol"),
        pl.col("name_last").alias("_name"),
        pl.col("listing_first_trade_xbx").str.to_date("%Y-%m-%d", strict=False).alias("_listed"),
    ).unique("symbol", keep="last")
    return (instruments.join(info, on="symbol", how="left")
            .with_columns(pl.min_horizontal("list_date", "_listed").alias("list_date"),
                          pl.coalesce("_name", "name").alias("name"))
            .drop("_name", "_listed"))


def with_delistings(instruments: pl.DataFrame, bars: pl.DataFrame, official: pl.DataFrame,
                    data_end: dt.date) -> pl.DataFrame:
    """``delist_date`` of every stock: the official date (``official`` [symbol, delist_date]) when
    the stock was delisted by ``data_end`` and its bars end on or before that date; null
    (unknown) when its bars end on or after ``XBX_LAST`` and before ``data_end`` without one (a
    file ended - the xbx file, the tushare file, a gap of the qlib extension - or a suspension
    runs past a file's end: neither says the stock was delisted); otherwise the files' rule (the
    last bar of a stock that stopped inside the xbx file, which keeps delisted names to their
    last day)."""
    last = bars.group_by("symbol").agg(pl.col("date").max().alias("_last"))
    got = official.filter(pl.col("delist_date") <= data_end).select("symbol", pl.col("delist_date").alias("_official"))
    df = instruments.join(last, on="symbol", how="left").join(got, on="symbol", how="left")
    dated = pl.col("_official").is_not_null() & (pl.col("_official") >= pl.col("_last"))
    file_end = (pl.col("_last") >= XBX_LAST) & (pl.col("_last") < data_end)
    return (df.with_columns(pl.when(dated).then(pl.col("_official"))
                            .when(file_end).then(None)
                            .otherwise(pl.col("delist_date")).alias("delist_date"))
            .drop("_last", "_official"))


def read_delistings(base: Path) -> pl.DataFrame:
    """[symbol, delist_date] of the stocks delisted (list status D) in the tushare
    ``stock_basic`` file (``reference/``); empty without it. A code change (300114.SZ ->
    302132.SZ) is no delisting."""
    found = sorted(base.glob("reference/tushare_stock_basic_LD_*.csv"))
    if not found:
        return pl.DataFrame(schema={"symbol": pl.Utf8, "delist_date": pl.Date})
    raw = pl.read_csv(found[-1], infer_schema=False).filter((pl.col("status") == "D") & pl.col("delist_date").is_not_null())
    out = raw.select(files.normalize_symbols(raw["ts_code"]).alias("symbol"),
                     pl.col("delist_date").str.to_date("%Y%m%d").alias("delist_date"))
    return out.filter(~pl.col("symbol").is_in(list(RENAMED))).unique("symbol", keep="last").sort("symbol")


def read_index_bars(base: Path) -> pl.DataFrame:
    """Index bars: Eastmoney CSVs (volume lots -> shares) where staged, the qlib file for the rest."""
    em = []
    for code, pattern in EM_INDEXES.items():
        found = sorted((base / "index").glob(pattern))
        if found:
            df = pl.read_csv(found[-1], try_parse_dates=True)
            em.append(df.select(pl.lit(code).alias("index_code"), pl.col("date").cast(pl.Date),
                                *(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close")),
                                (pl.col("volume").cast(pl.Float64) * 100).alias("volume"),
                                pl.col("amount").cast(pl.Float64)))
    raw = pl.read_parquet(_one(base, "index/qlib_index_daily_*.parquet"))
    qlib = raw.select(
        files.normalize_symbols(raw["instrument"]).alias("index_code"),
        "date", *(pl.col(c).cast(pl.Float64).round(3) for c in ("open", "high", "low", "close")),
        pl.col("volume").cast(pl.Float64), pl.lit(None, pl.Float64).alias("amount"))
    have = [e["index_code"][0] for e in em]
    qlib = qlib.filter(~pl.col("index_code").is_in(have))
    return pl.concat([*em, qlib]).sort("index_code", "date")


def read_members(base: Path) -> pl.DataFrame:
    """Point-in-time CSI 500 and CSI 300 snapshots stitched from the staged membership files.

    CSI 500: qlib intervals (actual effective dates) through their end, then sqlib's semiannual
    snapshots. CSI 300: qlib CSI 800 minus CSI 500 through the same end (qlib's own csi300 file
    drops members that later left its dataset), then sqlib snapshots through their end, then
    the qlib csi300 file's later changes.
    """
    cal = read_calendar(base)["date"]

    def snaps(pattern: str, code: str) -> tuple[pl.DataFrame, dt.date]:
        iv = files.read_intervals(_one(base, pattern), code)
        return panel.intervals_to_snapshots(iv, cal), as_date(iv["end"].max())

    q500, q_end = snaps("constituents/qlib_csi500_*.txt", CSI500)
    q800, _ = snaps("constituents/qlib_csi800_*.txt", "000906.SH")
    s500, _ = snaps("constituents/sqlib_csi500.txt.gz", CSI500)
    s300, s_end = snaps("constituents/sqlib_csi300.txt.gz", CSI300)
    q300, _ = snaps("constituents/qlib_csi300_*.txt", CSI300)
    csi500 = panel.stitch_snapshots([q500, s500], [q_end])
    csi300 = panel.stitch_snapshots([panel.snapshot_difference(q800, q500, CSI300), s300, q300], [q_end, s_end])
    return pl.concat([csi500, csi300])


# ---------------------------------------------------------------------------- steps 7-8
def read_industries(base: Path) -> pl.DataFrame:
    """The staged Shenwan history -> ``industries`` rows (standard ``sw``, levels 1-3). The
    history of 300114.SZ continues under its new code 302132.SZ (whose own row repeats it)."""
    raw = pl.read_parquet(_one(base, "industry/sw_industry_pit_*.parquet"))
    iv = raw.select(files.normalize_symbols(raw["code"]).alias("symbol"), "start_date",
                    pl.col("end_date_excl").alias("end_date"), "industry_code", "l1_code", "l1_name",
                    "l2_name_sw2021", "l3_name_sw2021")
    renamed_to = list(RENAMED.values())
    iv = pl.concat([iv.filter(~pl.col("symbol").is_in(renamed_to)),
                    iv.filter(pl.col("symbol").is_in(list(RENAMED))).with_columns(pl.col("symbol").replace(RENAMED))])
    code = pl.col("industry_code")
    levels = [iv.select("symbol", pl.lit(1).alias("level"), pl.col("l1_code").alias("code"), pl.col("l1_name").alias("name"),
                        "start_date", "end_date"),
              iv.select("symbol", pl.lit(2).alias("level"), (code.str.slice(0, 4) + "00").alias("code"),
                        pl.col("l2_name_sw2021").alias("name"), "start_date", "end_date"),
              iv.select("symbol", pl.lit(3).alias("level"), code.alias("code"), pl.col("l3_name_sw2021").alias("name"),
                        "start_date", "end_date")]
    out = pl.concat(levels).with_columns(pl.lit("sw").alias("standard"), pl.col("level").cast(pl.Int32))
    return shenwan.merge_adjacent(out.select("symbol", "standard", "level", "code", "name", "start_date", "end_date"))


def read_valuation(base: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """``fundamentals`` rows (PE TTM, PB MRQ, turnover as a fraction) from both BaoStock dumps
    (the Shenzhen file wins where both have a day) and ``[symbol, date]`` of ST days after the
    xbx names end (from the CSI 300 (2025) file's ``isST``)."""
    def load(pattern: str) -> pl.DataFrame:
        raw = pl.read_parquet(_one(base, pattern), columns=["code", "date", "isST", "turn", "peTTM", "pbMRQ"])
        return raw.select(files.normalize_symbols(raw["code"]).replace(RENAMED).alias("symbol"), "date",
                          pl.col("peTTM").alias("pe_ttm"), pl.col("pbMRQ").alias("pb_mrq"),
                          (pl.col("turn") / 100.0).alias("turnover_rate"), (pl.col("isST") == 1).alias("_st"))
    sz = load("valuation/baostock_sz_*.parquet")
    big = load("valuation/baostock_csi300in2025_*.parquet")
    both = pl.concat([sz, big.join(sz.select("symbol", "date"), on=["symbol", "date"], how="anti")])
    st_after = big.filter(pl.col("_st") & (pl.col("date") > XBX_LAST)).select("symbol", "date")
    return both.drop("_st").sort("symbol", "date"), st_after


XBX_LAST = dt.date(2022, 1, 14)  # the xbx file's last day: dated names (ST) end here
TUSHARE_LAST = dt.date(2023, 3, 16)  # the tushare file's last complete day (2023-03-17 is partial)
SURVIVOR_FIRST = dt.date(2023, 3, 17)  # from here only the qlib extension (survivors to 2026) has bars


def read_tushare(base: Path, xbx: pl.DataFrame, qlib: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(bars in store columns of the stocks the qlib extension lacks after ``XBX_LAST``, from the
    tushare qfq file up to ``TUSHARE_LAST``, converted to raw prices (module docstring, step 9);
    [symbol, date, amount] of every stock of the file in (``XBX_LAST``, ``TUSHARE_LAST``]).
    Both empty without the file. The bars carry ``_k`` (the raw / qfq scale) for the coverage note."""
    empty = pl.DataFrame(schema={c: xbx.schema[c] for c in _BAR_KEEP} | {"_k": pl.Float64})
    found = sorted(base.glob("daily/tushare_daily_qfq*_*.parquet"))
    if not found:
        return empty, pl.DataFrame(schema={"symbol": pl.Utf8, "date": pl.Date, "amount": pl.Float64})
    raw = pl.read_parquet(found[-1])
    df = raw.select(files.normalize_symbols(raw["ts_code"]).replace(RENAMED).alias("symbol"),
                    pl.col("trade_date").str.to_date("%Y%m%d").alias("date"),
                    *(pl.col(c).cast(pl.Float64) for c in ("open", "high", "low", "close")),
                    (pl.col("vol").cast(pl.Float64) * 100.0).round(0).alias("volume"),
                    (pl.col("amount").cast(pl.Float64) * 1000.0).alias("amount")).filter(pl.col("date") <= TUSHARE_LAST)
    after = pl.col("date") > XBX_LAST
    amounts = df.filter(after).select("symbol", "date", "amount")
    extended = qlib.filter(after)["symbol"].unique().implode()
    anchor = (xbx.select("symbol", "date", pl.col("close").alias("_raw"), pl.col("adj_factor").alias("_f"),
                         pl.col("is_st").alias("_st"))
              .join(df.select("symbol", "date", pl.col("close").alias("_q")), on=["symbol", "date"])
              .sort("date").group_by("symbol").last()
              .select("symbol", (pl.col("_raw") / pl.col("_q")).alias("_k"), "_f", "_st"))
    ext = df.filter(after & ~pl.col("symbol").is_in(extended)).join(anchor, on="symbol", how="left")
    k = pl.col("_k").fill_null(1.0)
    ext = ext.with_columns(*((pl.col(c) * k).round(2).alias(c) for c in ("open", "high", "low", "close")),
                           pl.col("_f").fill_null(1.0).alias("adj_factor"), pl.col("_st").fill_null(False).alias("is_st"),
                           (pl.col("volume") <= 0).alias("is_suspended"), pl.lit(None, pl.Utf8).alias("name"),
                           pl.lit(None, pl.Float64).alias("total_cap"), pl.lit(None, pl.Float64).alias("float_cap"),
                           k.alias("_k"))
    return ext.select(*_BAR_KEEP, "_k").cast({c: empty.schema[c] for c in _BAR_KEEP}), amounts


def with_amounts(bars: pl.DataFrame, amounts: pl.DataFrame) -> pl.DataFrame:
    """``amount`` filled from ``amounts`` [symbol, date, amount] where the bars have none."""
    if amounts.height == 0:
        return bars
    return (bars.join(amounts.rename({"amount": "_amount"}), on=["symbol", "date"], how="left", maintain_order="left")
            .with_columns(pl.coalesce("amount", "_amount").alias("amount")).drop("_amount"))


def read_st_names(base: Path, bars: pl.DataFrame) -> pl.DataFrame:
    """[symbol, date] of the bars ST by the whole-market name snapshots (step 11); empty without them."""
    found = sorted(base.glob("reference/tushare_name_intervals_*.parquet"))
    if not found:
        return pl.DataFrame(schema={"symbol": pl.Utf8, "date": pl.Date})
    raw = pl.read_parquet(found[-1]).filter(pl.col("is_st"))
    iv = raw.select(files.normalize_symbols(raw["ts_code"]).replace(RENAMED).alias("symbol"),
                    pl.col("first_seen").alias("_from"), pl.col("next_snapshot_after").alias("_until"))
    first = as_date(iv["_from"].min()) if iv.height else None
    if first is None:
        return pl.DataFrame(schema={"symbol": pl.Utf8, "date": pl.Date})
    days = bars.filter(pl.col("date") >= first).select("symbol", "date")
    hit = days.join(iv, on="symbol").filter((pl.col("date") >= pl.col("_from"))
                                            & (pl.col("_until").is_null() | (pl.col("date") < pl.col("_until"))))
    return hit.select("symbol", "date").unique()


def _st_after(bars: pl.DataFrame, st_days: pl.DataFrame) -> pl.DataFrame:
    if st_days.height == 0:
        return bars
    flagged = st_days.with_columns(pl.lit(True).alias("_st"))
    return (bars.join(flagged, on=["symbol", "date"], how="left", maintain_order="left")
            .with_columns((pl.col("is_st").fill_null(False) | pl.col("_st").fill_null(False)).alias("is_st"))
            .drop("_st"))


def coverage(out: dict[str, pl.DataFrame], extension: pl.DataFrame | None = None, base: Path | None = None
             ) -> pl.DataFrame:
    """Which spans of the staged data each table knows (all back-filled: history supplied later),
    where ST flags are unknown, which stocks' bars end without a delisting, and the
    survivor-biased span."""
    bars = out["bars"]
    first, last = as_date(bars["date"].min()), as_date(bars["date"].max())
    xbx_last = min(XBX_LAST, last)
    rows = [span("st", "*", "backfill", first, xbx_last, "ST/*ST prefixes of the dated xbx names", "ashare")]
    rows += _st_spans(bars, xbx_last, last, base)
    after = bars.filter(pl.col("date") > xbx_last)["date"]
    if extension is not None and extension.height:
        off = extension.group_by("symbol").agg(((pl.col("_k") - 1).abs() > 2e-3).any().alias("_off"))
        rows.append(span("bars", "tushare", "backfill", extension["date"].min(), extension["date"].max(),
                         f"{off.height} stocks the qlib extension lacks (mostly delisted later) from the tushare qfq "
                         f"file: raw = qfq x (xbx close / qfq close on their last common day) - {int(off['_off'].sum())} of "
                         "them had an ex-date after it (raw level off by its ratio, returns exact); ST carried from "
                         "the last xbx name", "ashare"))
    ended = out["instruments"].join(bars.group_by("symbol").agg(pl.col("date").max().alias("_last")), on="symbol")
    ended = ended.filter(pl.col("delist_date").is_null() & (pl.col("_last") < last))
    if ended.height and after.len():
        ends = ", ".join(f"{r['n']} on {r['_last']}" for r in ended.group_by("_last").agg(pl.len().alias("n"))
                         .sort("_last").iter_rows(named=True))
        rows.append(span("bars", "*", "unknown", ended["_last"].min(), last,
                         f"{ended.height} stocks' bars end with a source file ({ends}) and no delisting is known: "
                         "held at their last close, untradable, never force-sold", "ashare"))
    if last >= SURVIVOR_FIRST and after.len():
        rows.append(span("bars", "survivors", "unknown", SURVIVOR_FIRST, last,
                         "survivor-biased: after 2023-03-16 only the qlib extension (stocks listed on 2026-05-08) has "
                         "bars; stocks delisted later have none from then to their delisting (held at their last "
                         "close, untradable, force-sold on the delisting date)", "ashare"))
    for code in out["index_members"]["index_code"].unique().sort().to_list():
        m = out["index_members"].filter(pl.col("index_code") == code)
        rows.append(span("index_members", code, "backfill", m["date"].min(), last,
                         "qlib / sqlib membership files (effective dates, then semiannual snapshots)", "ashare"))
    if "industries" in out:
        rows.append(span("industries", "sw", "backfill", out["industries"]["start_date"].min(), last,
                         "Shenwan change history as published on 2026-06-05", "ashare"))
    if "fundamentals" in out and out["fundamentals"].height:
        f = out["fundamentals"].with_columns(pl.col("symbol").str.slice(7).alias("_ex"))
        for (ex,), part in f.group_by(["_ex"], maintain_order=True):
            rows.append(span("fundamentals", ex, "backfill", part["date"].min(), part["date"].max(),
                             f"BaoStock PE/PB/turnover, {part['symbol'].n_unique()} stocks", "ashare"))
    return coverage_frame(rows)


def _st_spans(bars: pl.DataFrame, xbx_last: dt.date, last: dt.date, base: Path | None) -> list:
    """ST coverage after the xbx names: unknown until the name snapshots start, back-filled by
    them through their last snapshot, unknown (the last snapshot's flags carried) after it."""
    after = bars.filter(pl.col("date") > xbx_last)["date"]
    if not after.len():
        return []
    found = sorted(base.glob("reference/tushare_name_snapshot_dates.csv")) if base is not None else []
    snaps = pl.read_csv(found[-1], try_parse_dates=True)["snapshot_date"].cast(pl.Date) if found else None
    if snaps is None or snaps.len() == 0:
        return [span("st", "*", "unknown", after.min(), after.max(), "no dated names after the xbx file (stored "
                     "False) except the 300 CSI 300 (2025) names' BaoStock isST through 2025-04-07", "ashare")]
    s0, s1 = as_date(snaps.min()), as_date(snaps.max())
    rows = [span("st", "*", "unknown", after.min(), s0 - dt.timedelta(days=1),
                 "no dated names between the xbx file and the first name snapshot (stored False) except the 300 "
                 "CSI 300 (2025) names' BaoStock isST through 2025-04-07", "ashare"),
            span("st", "*", "backfill", s0, min(s1, last), f"ST/*ST names of the whole market from {snaps.len()} daily "
                 "tushare stock_basic snapshots (a day takes the latest snapshot on or before it)", "ashare")]
    if last > s1:
        rows.append(span("st", "*", "unknown", s1 + dt.timedelta(days=1), last,
                         f"after the last name snapshot ({s1}) its flags are carried: later ST changes are missed",
                         "ashare"))
    return rows
