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
    bars = stitch(read_xbx(base), read_qlib(base))
    lo, hi = as_date(bars["date"].min()), as_date(bars["date"].max())
    days = read_calendar(base).filter((pl.col("date") >= lo) & (pl.col("date") <= hi))["date"]
    out = files.assemble(bars, days, start, end)
    out["instruments"] = file_ends(_listing_dates(out["instruments"], base), bars, hi)
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
    out["coverage"] = coverage(out)
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


def file_ends(instruments: pl.DataFrame, bars: pl.DataFrame, data_end: dt.date) -> pl.DataFrame:
    """``delist_date`` null (unknown) for stocks whose bars end only because the xbx file ends
    there (last bar on ``XBX_LAST``, absent from the qlib extension) while the data goes on:
    the file ending says nothing about a delisting (SOURCE.md: mostly ST names delisted later)."""
    if data_end <= XBX_LAST:
        return instruments
    ended = bars.group_by("symbol").agg(pl.col("date").max().alias("_last")).filter(pl.col("_last") == XBX_LAST)
    return (instruments.join(ended, on="symbol", how="left")
            .with_columns(pl.when(pl.col("_last").is_not_null()).then(None)
                          .otherwise(pl.col("delist_date")).alias("delist_date"))
            .drop("_last"))


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


def _st_after(bars: pl.DataFrame, st_days: pl.DataFrame) -> pl.DataFrame:
    if st_days.height == 0:
        return bars
    flagged = st_days.with_columns(pl.lit(True).alias("_st"))
    return (bars.join(flagged, on=["symbol", "date"], how="left", maintain_order="left")
            .with_columns((pl.col("is_st").fill_null(False) | pl.col("_st").fill_null(False)).alias("is_st"))
            .drop("_st"))


def coverage(out: dict[str, pl.DataFrame]) -> pl.DataFrame:
    """Which spans of the staged data each table knows (all back-filled: history supplied later)."""
    bars = out["bars"]
    first, last = as_date(bars["date"].min()), as_date(bars["date"].max())
    xbx_last = min(XBX_LAST, last)
    rows = [span("st", "*", "backfill", first, xbx_last, "ST/*ST prefixes of the dated xbx names", "ashare")]
    after = bars.filter(pl.col("date") > xbx_last)["date"]
    if after.len():
        rows.append(span("st", "*", "unknown", after.min(), after.max(), "no dated names after the xbx file (stored "
                         "False) except the 300 CSI 300 (2025) names' BaoStock isST through 2025-04-07", "ashare"))
    ended = out["instruments"].join(bars.group_by("symbol").agg(pl.col("date").max().alias("_last")), on="symbol")
    ended = ended.filter(pl.col("delist_date").is_null() & (pl.col("_last") < last))
    if ended.height and after.len():
        rows.append(span("bars", "*", "unknown", after.min(), after.max(),
                         f"{ended.height} stocks' bars end with the xbx file on {xbx_last} and the qlib extension "
                         "lacks them: delist dates unknown", "ashare"))
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
