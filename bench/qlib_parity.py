"""qlib parity bench: the same score files through qlib's backtest and flyer's ``rules="qlib"``.

Both engines see the same bars (the store built from ``../shared/ashare``) and the same scores;
the bench reports, per score file, the gap in excess return with cost per year and the first
day on which the holdings differ. Steps (each names the function that owns it):
  1. ``open_store``: ingest ``../shared/ashare`` into ``--home`` once (reused afterwards);
  2. ``score_files``: three score files over ``--start``..``--end`` (scores of the trading day
     before ``--start`` trade on it): CSI 500 members (point in time) by 5-day reversal, the
     same members with seeded random scores, and every stock ever in CSI 500 by 5-day reversal
     (the control: index exits and delistings while held); a stock-day is scored only when the
     stock traded (a bar, not suspended);
  3. ``write_qlib_data``: the store's bars of the scored stocks and the CSI 500 index in qlib's
     ``dump_bin`` layout (``calendars/day.txt``, ``instruments/all.txt``,
     ``features/<code>/<field>.day.bin``: little-endian float32, element 0 the calendar index
     of the first value; prices back-adjusted = raw x adj factor, ``factor`` = adj factor,
     ``change`` = close / previous traded close - 1, suspended days NaN) in a temp folder;
  4. ``run_qlib``: ``bench/qlib_backtest.py`` under ``$FLYER_QLIB_PYTHON`` (a virtual
     environment with ``pyqlib``; the bench says so and stops when it is not set);
     ``run_flyer``: ``flyer.backtest.api.run`` with ``rules="qlib"`` (top 50, drop 5, close,
     1e8 CNY);
  5. ``compare``: daily excess with cost = net portfolio return - benchmark return, both
     engines measured against qlib's benchmark series (so the gap is the portfolios' gap);
     per calendar year the mean x 238 (qlib's annualisation), flyer - qlib; the NAV's largest
     relative gap; the first day the held names differ and how many days do.

Usage: ``FLYER_QLIB_PYTHON=/path/to/qlib-venv/bin/python python bench/qlib_parity.py [--home DIR]
[--ashare PATH] [--start 2017-01-03] [--end 2020-07-31] [--files member_reversal,random,ever_reversal]``.
Run it under ``flock /tmp/flyer-heavy.lock`` on a shared machine (about 4 minutes per score file
for qlib on 2 cores).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
D = dt.date
CSI500 = "000905.SH"
QLIB_BENCH = "SH000905"
YEAR_DAYS = 238          # qlib's annualisation of daily returns
REVERSAL_DAYS = 5
RANDOM_SEED = 7
FIELDS = ("open", "high", "low", "close", "volume", "factor", "change")
FILES = ("member_reversal", "random", "ever_reversal")


def open_store(home: Path, ashare: Path) -> Any:
    """The store in ``home`` (read-only), ingested from ``ashare`` first when it holds none."""
    from flyer.data.sources import ingest, make_source
    from flyer.data.store import MarketStore

    if not (home / "market.duckdb").exists():
        home.mkdir(parents=True, exist_ok=True)
        t = time.perf_counter()
        with MarketStore.open(home) as store:
            rep = ingest(store, make_source("ashare", path=str(ashare)))
        print(f"store: ingested {ashare} in {time.perf_counter() - t:.0f} s ({rep.written.get('bars', 0):,} bars)")
    return MarketStore.open(home, read_only=True)


def qlib_code(symbol: str) -> str:
    """``600000.SH`` -> ``SH600000`` (qlib's instrument code)."""
    code, _, ex = symbol.partition(".")
    return f"{ex}{code}"


def flyer_symbol(code: str) -> str:
    """``SH600000`` -> ``600000.SH``."""
    return f"{code[2:]}.{code[:2]}"


# ------------------------------------------------------------------------------ 2. score files
def score_files(store: Any, start: D, end: D, names: list[str]) -> dict[str, pl.DataFrame]:
    """``{name: [date, symbol, score]}`` for the trading day before ``start`` through ``end``."""
    cal = store.calendar(None, end).to_list()
    first = max(i for i, d in enumerate(cal) if d < start)
    lo, hi = cal[first], end
    members = store.membership(CSI500, lo, hi).select("date", "symbol")
    ever = store.membership(CSI500, None, hi)["symbol"].unique().sort().to_list()
    rev = reversal(store, ever, cal[first - 3 * REVERSAL_DAYS], hi).filter(pl.col("date") >= lo)
    out = {}
    if "member_reversal" in names:
        out["member_reversal"] = rev.join(members, on=["date", "symbol"], how="semi")
    if "random" in names:
        traded = rev.join(members, on=["date", "symbol"], how="semi").select("date", "symbol")
        rng = np.random.default_rng(RANDOM_SEED)
        out["random"] = traded.with_columns(pl.Series("score", rng.random(traded.height)))
    if "ever_reversal" in names:
        out["ever_reversal"] = rev
    return {k: v.sort("date", "symbol") for k, v in out.items()}


def reversal(store: Any, symbols: list[str], lo: D, hi: D) -> pl.DataFrame:
    """[date, symbol, score]: minus the back-adjusted close's change over the stock's last
    ``REVERSAL_DAYS`` traded days, on each day it traded."""
    bars = store.bars(lo, hi, symbols=symbols, adjust=True, columns=["close", "is_suspended"])
    traded = bars.filter(~pl.col("is_suspended").fill_null(False) & pl.col("close").is_not_null())
    score = -(pl.col("close") / pl.col("close").shift(REVERSAL_DAYS).over("symbol") - 1)
    return traded.sort("symbol", "date").select("date", "symbol", score.alias("score")).drop_nulls()


# ------------------------------------------------------------------------------ 3. qlib data
def write_qlib_data(store: Any, symbols: list[str], lo: D, hi: D, folder: Path) -> Path:
    """qlib's dump_bin layout of ``symbols``' bars and the CSI 500 index over [lo, hi] (see the
    module doc); returns ``folder``."""
    cal = store.calendar(lo, hi).to_list()
    index = {d: i for i, d in enumerate(cal)}
    (folder / "calendars").mkdir(parents=True, exist_ok=True)
    (folder / "instruments").mkdir(exist_ok=True)
    (folder / "calendars" / "day.txt").write_text("".join(f"{d}\n" for d in cal))
    bars = qlib_fields(store, symbols, lo, hi)
    spans = []
    for (sym,), part in bars.group_by(["symbol"], maintain_order=True):
        first, last = part["date"].min(), part["date"].max()
        spans.append(f"{qlib_code(str(sym))}\t{first}\t{last}\n")
        _write_bins(folder, qlib_code(str(sym)), part, index)
    bench = store.index_bars(CSI500, lo, hi).select(
        "date", "open", "high", "low", "close", "volume", pl.lit(1.0).alias("factor"),
        (pl.col("close") / pl.col("close").shift(1) - 1).alias("change"))
    _write_bins(folder, QLIB_BENCH, bench, index)
    spans.append(f"{QLIB_BENCH}\t{bench['date'].min()}\t{bench['date'].max()}\n")
    (folder / "instruments" / "all.txt").write_text("".join(spans))
    return folder


def qlib_fields(store: Any, symbols: list[str], lo: D, hi: D) -> pl.DataFrame:
    """[symbol, date, open, high, low, close, volume, factor, change] over [lo, hi] with qlib's
    conventions; rows of suspended days keep their date with every field null (a NaN bar)."""
    cal = store.calendar(None, lo).to_list()
    early = cal[-REVERSAL_DAYS * 4] if len(cal) > REVERSAL_DAYS * 4 else lo
    raw = store.bars(early, hi, symbols=symbols, adjust=False,
                     columns=["open", "high", "low", "close", "volume", "adj_factor", "is_suspended"])
    a = pl.col("adj_factor")
    traded = raw.filter(~pl.col("is_suspended").fill_null(False)).sort("symbol", "date").select(
        "symbol", "date", *[(pl.col(c) * a).alias(c) for c in ("open", "high", "low", "close")],
        (pl.col("volume") / a).alias("volume"), a.alias("factor"),
        (pl.col("close") * a / (pl.col("close") * a).shift(1).over("symbol") - 1).alias("change"))
    rows = raw.select("symbol", "date").join(traded, on=["symbol", "date"], how="left")
    return rows.filter(pl.col("date") >= lo).sort("symbol", "date")


def _write_bins(folder: Path, code: str, part: pl.DataFrame, index: dict[D, int]) -> None:
    """One float32 file per field: [calendar index of the first row, values on every calendar
    day from the first to the last row (NaN where the frame has none)]."""
    rows = np.array([index[d] for d in part["date"].to_list()], dtype=np.int64)
    lo, hi = int(rows.min()), int(rows.max())
    out = folder / "features" / code.lower()
    out.mkdir(parents=True, exist_ok=True)
    for field in FIELDS:
        dense = np.full(hi - lo + 1, np.nan, dtype=np.float32)
        dense[rows - lo] = part[field].cast(pl.Float64).fill_null(np.nan).to_numpy()
        np.hstack([np.float32(lo), dense]).astype("<f4").tofile(out / f"{field}.day.bin")


# ------------------------------------------------------------------------------ 4. the two runs
def qlib_python() -> str | None:
    """The interpreter of the qlib venv: ``$FLYER_QLIB_PYTHON`` when it runs ``import qlib``."""
    exe = os.environ.get("FLYER_QLIB_PYTHON", "")
    if not exe or not Path(exe).exists():
        return None
    ok = subprocess.run([exe, "-c", "import qlib"], check=False, capture_output=True, timeout=120,
                        env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true"})
    return exe if ok.returncode == 0 else None


#: qlib runs per score file: (label, PYTHONHASHSEED, pin the stock list order)
QLIB_RUNS = (("qlib pinned", "0", True), ("qlib seed 0", "0", False), ("qlib seed 1", "1", False))


def run_qlib(exe: str, provider: Path, scores: pl.DataFrame, work: Path, start: D, end: D,
             hash_seed: str, pinned: bool) -> dict[str, pl.DataFrame]:
    """qlib's backtest of ``scores`` (``bench/qlib_backtest.py``) under ``PYTHONHASHSEED=hash_seed``
    (``pinned``: its set order and its unstable sort of equal scores both in code order): {nav: [date, nav, bench], positions: [date, symbol]}."""
    path = work / "scores.parquet"
    if not path.exists():
        scores.select(pl.col("date").cast(pl.Datetime("ns")).alias("datetime"),
                      pl.col("symbol").map_elements(qlib_code, return_dtype=pl.Utf8).alias("instrument"),
                      "score").write_parquet(path)
    out = work / f"qlib-{hash_seed}{'-pinned' if pinned else ''}"
    cmd = [exe, str(REPO / "bench" / "qlib_backtest.py"), "--provider", str(provider), "--scores", str(path),
           "--out", str(out), "--start", str(start), "--end", str(end)] + (["--pinned"] if pinned else [])
    done = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=3600,
                          env={**os.environ, "MLFLOW_ALLOW_FILE_STORE": "true", "PYTHONHASHSEED": hash_seed})
    if done.returncode != 0:
        tail = [ln.strip() for ln in (done.stderr or done.stdout).strip().splitlines() if ln.strip()][-3:]
        raise RuntimeError(f"qlib backtest failed (exit {done.returncode}): {' | '.join(tail) or 'no output'}")
    report = pl.read_parquet(out / "report.parquet").with_columns(pl.col("date").cast(pl.Date)).sort("date")
    pos = pl.read_parquet(out / "positions.parquet").select(
        pl.col("date").cast(pl.Date), pl.col("instrument").map_elements(flyer_symbol, return_dtype=pl.Utf8).alias("symbol"))
    return {"nav": report.select("date", pl.col("account").alias("nav"), "bench"), "positions": pos}


def run_flyer(store: Any, scores: pl.DataFrame, start: D, end: D) -> Any:
    """flyer's backtest of ``scores`` under ``rules="qlib"`` (a ``BacktestResult``)."""
    from flyer.backtest.api import run
    from flyer.backtest.config import BacktestConfig

    cfg = BacktestConfig(rules="qlib", k=50, n_drop=5, deal_price="close", capital=1e8, start=start, end=end,
                         benchmark=CSI500)
    return run(store, scores, cfg)


def flyer_book(result: Any) -> dict[str, pl.DataFrame]:
    """{nav: [date, nav], positions: [date, symbol]} of a flyer result."""
    return {"nav": result.daily().select("date", "nav"), "positions": result.positions().select("date", "symbol")}


# ------------------------------------------------------------------------------ 5. comparison
def compare(book: dict[str, pl.DataFrame], ref: dict[str, pl.DataFrame], capital: float,
            scores: pl.DataFrame) -> dict[str, Any]:
    """Per-year excess with cost of ``book`` and the reference run ``ref`` (both against ``ref``'s
    benchmark: the gap is the portfolios' gap), the NAV gap and the first differing holdings."""
    nav = ref["nav"].join(book["nav"].rename({"nav": "cand"}), on="date", how="inner").sort("date")

    def prev(c: str) -> pl.Expr:
        return pl.col(c).shift(1).fill_null(capital)

    nav = nav.with_columns((pl.col("nav") / prev("nav") - 1 - pl.col("bench")).alias("ref"),
                           (pl.col("cand") / prev("cand") - 1 - pl.col("bench")).alias("cand_x"),
                           (pl.col("cand") / pl.col("nav") - 1).abs().alias("nav_gap"))
    yearly = nav.group_by(pl.col("date").dt.year().alias("year")).agg(
        pl.len().alias("days"), (pl.col("ref").mean() * YEAR_DAYS).alias("ref"),
        (pl.col("cand_x").mean() * YEAR_DAYS).alias("cand"), pl.col("nav_gap").max()).sort("year")
    yearly = yearly.with_columns((pl.col("cand") - pl.col("ref")).alias("gap"))
    total = {"ref": float(nav["ref"].mean() * YEAR_DAYS), "cand": float(nav["cand_x"].mean() * YEAR_DAYS)}
    gap = holdings_gap(book["positions"], ref["positions"], nav["date"])
    return {"yearly": yearly, "total": total, **gap, "why": explain(gap["first_diff"], scores, nav["date"])}


def holdings_gap(pos: pl.DataFrame, ref: pl.DataFrame, dates: pl.Series) -> dict[str, Any]:
    """First date whose held names differ (names only in ``pos`` / only in ``ref``), the number
    of names held the day before (qlib has no candidate to buy from k + n_drop = 55 names on:
    its set-ordered step) and the days differing."""
    f = pos.group_by("date").agg(pl.col("symbol").alias("f"))
    q = ref.group_by("date").agg(pl.col("symbol").alias("q"))
    days = pl.DataFrame({"date": dates}).join(f, on="date", how="left").join(q, on="date", how="left").sort("date")
    first, n_diff, before = None, 0, 0
    for row in days.iter_rows(named=True):
        fs, qs = set(row["f"] or []), set(row["q"] or [])
        if fs != qs:
            n_diff += 1
            if first is None:
                first = (row["date"], sorted(fs - qs), sorted(qs - fs), before)
        before = len(qs)
    return {"first_diff": first, "days_diff": n_diff, "days": days.height}


def explain(first: tuple | None, scores: pl.DataFrame, dates: pl.Series) -> str:
    """Which of qlib's unordered steps decided the first differing day (see
    ``bench/qlib_backtest.py: pin_orders``), from the names that differ and the signal day."""
    if first is None:
        return ""
    day, only_a, only_b, before = first
    cal = dates.to_list()
    signal = scores.filter(pl.col("date") == cal[cal.index(day) - 1]) if cal.index(day) > 0 else scores.clear()
    mine = signal.filter(pl.col("symbol").is_in(only_a + only_b))["score"].to_list()
    tied = [v for v in mine if (signal["score"] == v).sum() > 1]
    if tied:
        return f"tied scores ({tied[0]:.6g}): qlib orders equal scores by numpy's unstable quicksort"
    if before >= 55:
        return "no candidate to buy (55 names held): qlib drops unscored names in Python's set order"
    return "not explained by qlib's unordered steps"


def print_comparison(label: str, ref_label: str, cmp: dict[str, Any]) -> None:
    y, tot = cmp["yearly"], cmp["total"]
    print(f"\n  {label} vs {ref_label}: excess with cost, mean daily x {YEAR_DAYS} (benchmark: {QLIB_BENCH})")
    print(f"  {'year':>6} {'days':>5} {ref_label:>12} {label:>12} {'gap':>9} {'max NAV gap':>12}")
    for r in y.iter_rows(named=True):
        print(f"  {r['year']:>6} {r['days']:>5} {r['ref']:>12.2%} {r['cand']:>12.2%} {r['gap']:>+9.3%} {r['nav_gap']:>12.2e}")
    print(f"  {'all':>6} {cmp['days']:>5} {tot['ref']:>12.2%} {tot['cand']:>12.2%} {tot['cand'] - tot['ref']:>+9.3%}")
    if cmp["first_diff"] is None:
        print(f"  holdings: identical on all {cmp['days']} days")
    else:
        d, only_f, only_q, before = cmp["first_diff"]
        print(f"  holdings: first differ on {d} ({before} names held the day before): only {label}: "
              f"{', '.join(only_f) or '-'}; only {ref_label}: {', '.join(only_q) or '-'}; "
              f"{cmp['days_diff']} of {cmp['days']} days differ\n  why: {cmp['why']}")


def main() -> None:
    from flyer.data.sources.ashare import find_default_root

    ap = argparse.ArgumentParser(description="qlib parity: the same scores through qlib's and flyer's backtests")
    ap.add_argument("--home", type=Path, default=Path(tempfile.gettempdir()) / "flyer-qlib-parity",
                    help="store folder (ingested from --ashare once)")
    ap.add_argument("--ashare", type=Path, default=find_default_root(), help="the staged real data")
    ap.add_argument("--start", type=D.fromisoformat, default=D(2017, 1, 3), help="first trading day")
    ap.add_argument("--end", type=D.fromisoformat, default=D(2020, 7, 31), help="last trading day")
    ap.add_argument("--files", default=",".join(FILES), help=f"score files among {', '.join(FILES)}")
    ap.add_argument("--work", type=Path, default=None, help="keep the qlib data and outputs here (default: a temp folder)")
    args = ap.parse_args()
    if not (args.ashare / "daily").is_dir():
        print(f"skipped: real data folder {args.ashare} not present")
        return
    exe = qlib_python()
    if exe is None:
        print("qlib is not installed here: set FLYER_QLIB_PYTHON to the python of a virtual environment with "
              "pyqlib (`pip install pyqlib`); flyer's side alone is not a parity check, so the bench stops")
        return
    names = [n.strip() for n in args.files.split(",") if n.strip()]
    bad = [n for n in names if n not in FILES]
    if bad:
        raise SystemExit(f"unknown score file(s) {', '.join(bad)}: choose among {', '.join(FILES)}")
    store = open_store(args.home, args.ashare)
    files = score_files(store, args.start, args.end, names)
    with tempfile.TemporaryDirectory(prefix="flyer-qlib-") as scratch:
        tmp = args.work or Path(scratch)
        symbols = sorted(set().union(*(set(f["symbol"].unique().to_list()) for f in files.values())))
        lo = min(f["date"].min() for f in files.values())
        after = store.calendar(args.end + dt.timedelta(days=1), None).to_list()[:1] or [args.end]
        # qlib's calendar must reach one day past the last step (a step ends where the next begins)
        provider = write_qlib_data(store, symbols, lo, after[0], Path(tmp) / "qlib_data")
        print(f"qlib data: {len(symbols)} stocks {lo}..{args.end} -> {provider}", flush=True)
        for name, scores in files.items():
            work = Path(tmp) / name
            work.mkdir(exist_ok=True)
            t = time.perf_counter()
            books = {label: run_qlib(exe, provider, scores, work, args.start, args.end, seed, pinned)
                     for label, seed, pinned in QLIB_RUNS}
            tq = (time.perf_counter() - t) / len(QLIB_RUNS)
            t = time.perf_counter()
            books["flyer"] = flyer_book(run_flyer(store, scores, args.start, args.end))
            tf = time.perf_counter() - t
            print(f"\n== {name}: {scores.height:,} scores; qlib {tq:.0f} s a run, flyer {tf:.1f} s (shared machine)")
            ref = books["qlib pinned"]
            for label in ("flyer", "qlib seed 0"):
                print_comparison(label, "qlib pinned", compare(books[label], ref, 1e8, scores))
            for label, other in (("flyer", "qlib seed 0"), ("qlib seed 1", "qlib seed 0")):
                print_comparison(label, other, compare(books[label], books[other], 1e8, scores))
            sys.stdout.flush()

if __name__ == "__main__":
    main()
