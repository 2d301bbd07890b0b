"""The risk model on disk under ``$FLYER_HOME/risk/<key>/`` (``key`` = the config's content hash).

Layout:
  * ``config.json`` (the full ``RiskConfig``), ``meta.json`` (dates, factors, industries,
    trading days per year, notes, the store fingerprint the model was built from);
  * ``factors.parquet``: [date, <factor returns>..., r2, r2_centred, n_stocks, cov_<style>...];
  * ``covariance/year=YYYY.parquet``: [date, factor, <factor>...] daily factor covariance rows;
  * ``stocks/year=YYYY.parquet``: [date, symbol, industry, <styles>..., cap, ret, resid,
    specific, estu, carried] per stock-day.
``update`` appends the dates the store has beyond the stored last date: exposures, factor
returns and residuals of the new dates only (their windows need ``lookback`` days of bars,
re-read from the store), forecasts re-run over the stored history (EWMA state) and written for
the new dates only; only the years those dates fall in are rewritten, each through a temp file
and a rename. A store whose history changed under the model (bars rewritten, a new industry
appeared) is rebuilt in full, and the result says so.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import polars as pl

from flyer.core.atomic import atomic_text, atomic_write
from flyer.core.errors import FlyerError
from flyer.risk.config import RiskConfig
from flyer.risk.model import RiskModel, build, compute_core, forecasts, periods_per_year

if TYPE_CHECKING:
    from flyer.data.store import MarketStore

STOCK_COLUMNS = ("cap", "ret", "resid", "specific")


@dataclass(frozen=True)
class UpdateResult:
    """What ``update`` did: ``mode`` (``built``, ``appended``, ``rebuilt``, ``current``)."""

    key: str
    path: Path
    mode: str
    dates_added: int
    first: dt.date
    last: dt.date
    seconds: float
    notes: tuple[str, ...]


def risk_root(home: str | os.PathLike) -> Path:
    return Path(home) / "risk"


def model_dir(home: str | os.PathLike, config: RiskConfig) -> Path:
    return risk_root(home) / config.key()


def fingerprint(store: MarketStore, last: dt.date, standard: str | None) -> dict:
    """What the model's dates were built from: the store's data up to ``last``
    (``flyer.data.identity.data_key``: bars, caps, industries, valuations...; a rewritten past
    shows up as a different key, days appended after ``last`` do not)."""
    from flyer.data.identity import data_key

    return {"data": data_key(store, last), "standard": standard}


def read_meta(path: Path) -> dict | None:
    f = path / "meta.json"
    return json.loads(f.read_text()) if f.exists() else None


# ------------------------------------------------------------------------------ frames <-> model
def _stock_frame(m: RiskModel, rows: slice) -> pl.DataFrame:
    """Long [date, symbol, ...] rows of ``m`` for the row slice, stock-days with a bar or cap only."""
    t = len(m.dates[rows])
    n = len(m.symbols)
    keep = (np.isfinite(m.cap[rows]) | np.isfinite(m.ret[rows])).ravel()
    di = np.repeat(np.arange(t), n)[keep]
    sj = np.tile(np.arange(n), t)[keep]
    codes = np.array([*m.industries, None], dtype=object)
    data = {"date": np.array(m.dates[rows], dtype="datetime64[D]")[di],
            "symbol": np.array(m.symbols, dtype=object)[sj],
            "industry": codes[m.ind[rows].ravel()[keep]]}
    for s, name in enumerate(m.styles):
        data[name] = m.x[rows][:, :, s].ravel()[keep]
    for name in STOCK_COLUMNS:
        data[name] = getattr(m, name)[rows].ravel()[keep]
    data["estu"] = m.estu[rows].ravel()[keep]
    data["carried"] = m.carried[rows].ravel()[keep]
    return pl.DataFrame(data).with_columns(pl.col("date").cast(pl.Date), pl.col("industry").cast(pl.Utf8))


def _factor_frame(m: RiskModel, rows: slice) -> pl.DataFrame:
    fr = m.factor_returns()[rows]
    cov = {f"cov_{s}": m.coverage[rows][:, k] for k, s in enumerate(m.styles)}
    return fr.with_columns(**{k: pl.Series(v) for k, v in cov.items()})


def _cov_frame(m: RiskModel, rows: slice) -> pl.DataFrame:
    dates = m.dates[rows]
    c = m.cov[rows]
    k = len(m.factors)
    data = {"date": np.repeat(np.array(dates, dtype="datetime64[D]"), k),
            "factor": np.tile(np.array(m.factors, dtype=object), len(dates))}
    flat = c.reshape(len(dates) * k, k)
    for b, name in enumerate(m.factors):
        data[name] = flat[:, b]
    return pl.DataFrame(data).with_columns(pl.col("date").cast(pl.Date), pl.col("factor").cast(pl.Utf8))


def _write_years(folder: Path, frame: pl.DataFrame, first_new: dt.date | None) -> None:
    """Write ``frame`` by calendar year; a year already on disk keeps its rows before ``first_new``."""
    folder.mkdir(parents=True, exist_ok=True)
    for (year,), part in frame.group_by(pl.col("date").dt.year(), maintain_order=True):
        path = folder / f"year={year}.parquet"
        if first_new is not None and path.exists():
            old = pl.read_parquet(path).filter(pl.col("date") < first_new)
            part = pl.concat([old, part], how="diagonal_relaxed")
        atomic_write(part.sort("date"), path)


def save(home: str | os.PathLike, model: RiskModel, meta_extra: dict, first_new: dt.date | None = None) -> Path:
    """Write ``model`` (all of it, or from ``first_new`` on into the existing folder)."""
    path = model_dir(home, model.config)
    if first_new is None:
        shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    a = 0 if first_new is None else model.row(first_new - dt.timedelta(days=1)) + 1
    rows = slice(a, len(model.dates))
    _write_years(path / "stocks", _stock_frame(model, rows), first_new)
    _write_years(path / "covariance", _cov_frame(model, rows), first_new)
    atomic_write(_factor_frame(model, slice(0, len(model.dates))), path / "factors.parquet")
    atomic_text(json.dumps(model.config.to_dict(), indent=1, sort_keys=True), path / "config.json")
    meta = {"key": model.config.key(), "first": model.dates[0].isoformat(), "last": model.dates[-1].isoformat(),
            "factors": list(model.factors), "industries": list(model.industries),
            "industry_names": list(model.industry_names), "periods_per_year": model.periods_per_year,
            "notes": list(model.notes), **meta_extra}
    atomic_text(json.dumps(meta, indent=1, sort_keys=True, default=str), path / "meta.json")
    return path


def load(home: str | os.PathLike, config: RiskConfig, start: dt.date | None = None,
         end: dt.date | None = None) -> RiskModel:
    """The stored model of ``config`` (FlyerError when none was built), optionally only the
    dates in [start, end]."""
    path = model_dir(home, config)
    meta = read_meta(path)
    if meta is None:
        raise FlyerError(f"no risk model {config.key()} under {risk_root(home)}: run `flyer risk build` first")
    years = lambda sub: sorted(str(p) for p in (path / sub).glob("year=*.parquet")  # noqa: E731
                               if _year_in(p, start, end))
    rng = (pl.col("date") >= (start or dt.date.min)) & (pl.col("date") <= (end or dt.date.max))
    stocks = pl.scan_parquet(years("stocks")).filter(rng).collect()
    factors = pl.read_parquet(path / "factors.parquet").filter(rng)
    cov = pl.scan_parquet(years("covariance")).filter(rng).collect()
    if factors.height == 0:
        raise FlyerError(f"risk model {config.key()} has no dates in {start}..{end}")
    return _assemble(config, meta, stocks, factors, cov)


def _year_in(p: Path, start: dt.date | None, end: dt.date | None) -> bool:
    y = int(p.stem.split("=")[1])
    return (start is None or y >= start.year) and (end is None or y <= end.year)


def _assemble(config: RiskConfig, meta: dict, stocks: pl.DataFrame, factors: pl.DataFrame,
              cov: pl.DataFrame) -> RiskModel:
    dates = factors["date"].to_list()
    symbols = stocks["symbol"].unique().sort().to_list()
    row_of = {d: i for i, d in enumerate(dates)}
    col_of = {s: j for j, s in enumerate(symbols)}
    ri = stocks["date"].replace_strict(row_of, return_dtype=pl.Int64).to_numpy()
    ci = stocks["symbol"].replace_strict(col_of, return_dtype=pl.Int64).to_numpy()
    shape = (len(dates), len(symbols))

    def dense(values: np.ndarray, fill, dtype) -> np.ndarray:  # noqa: ANN001
        out = np.full(shape, fill, dtype=dtype)
        out[ri, ci] = values
        return out

    code_of = {c: k for k, c in enumerate(meta["industries"])}
    ind = dense(stocks["industry"].replace_strict(code_of, default=-1, return_dtype=pl.Int64).to_numpy(), -1, np.int64)
    x = np.stack([dense(stocks[s].to_numpy().astype(np.float64), np.nan, np.float64) for s in config.styles], axis=2)
    fac = meta["factors"]
    k = len(fac)
    cov_arr = cov.sort("date").select(fac).to_numpy().reshape(len(dates), k, k)
    arrays = {c: dense(stocks[c].to_numpy().astype(np.float64), np.nan, np.float64) for c in STOCK_COLUMNS}
    return RiskModel(
        config=config, dates=tuple(dates), symbols=tuple(symbols), industries=tuple(meta["industries"]),
        industry_names=tuple(meta["industry_names"]), ind=ind, x=x, estu=dense(stocks["estu"].to_numpy(), False, np.bool_),
        f=factors.select(fac).to_numpy(), r2=factors["r2"].to_numpy(), r2c=factors["r2_centred"].to_numpy(),
        nobs=factors["n_stocks"].to_numpy(), coverage=factors.select([f"cov_{s}" for s in config.styles]).to_numpy(),
        carried=dense(stocks["carried"].to_numpy(), False, np.bool_), cov=cov_arr,
        periods_per_year=float(meta["periods_per_year"]), notes=tuple(meta.get("notes", ())), **arrays)


# ------------------------------------------------------------------------------ update
def update(store: MarketStore, home: str | os.PathLike, config: RiskConfig = RiskConfig(),
           end: dt.date | None = None) -> UpdateResult:
    """Build the model of ``config`` or append the store's dates after its last one (module doc)."""
    t0 = time.perf_counter()
    path = model_dir(home, config)
    meta = read_meta(path)
    last_store = store.calendar(None, end).to_list()
    if not last_store:
        raise FlyerError("the store has no calendar: ingest data first")
    end = last_store[-1]
    if meta is None:
        return _full(store, home, config, end, "built", t0, ())
    last = dt.date.fromisoformat(meta["last"])
    if fingerprint(store, last, config.industry_standard) != meta.get("fingerprint"):
        return _full(store, home, config, end, "rebuilt", t0,
                     (f"the store's data up to {last} changed since the model was built: rebuilt in full",))
    new_days = [d for d in last_store if d > last]
    if not new_days:
        return UpdateResult(config.key(), path, "current", 0, dt.date.fromisoformat(meta["first"]), last,
                            time.perf_counter() - t0, ())
    core = compute_core(store, config, end, new_days[0])
    if list(core["industries"]) != meta["industries"]:
        return _full(store, home, config, end, "rebuilt", t0, ("the industry classification changed: rebuilt in full",))
    model = _extend(load(home, config), core, store)
    save(home, model, {"fingerprint": fingerprint(store, end, config.industry_standard)}, first_new=new_days[0])
    return UpdateResult(config.key(), path, "appended", len(new_days), model.dates[0], end,
                        time.perf_counter() - t0, core["notes"])


def _full(store: MarketStore, home: str | os.PathLike, config: RiskConfig, end: dt.date, mode: str,
          t0: float, notes: tuple[str, ...]) -> UpdateResult:
    model = build(store, config, end)
    model = dataclasses.replace(model, notes=tuple(notes) + model.notes)
    path = save(home, model, {"fingerprint": fingerprint(store, end, config.industry_standard),
                              "build_seconds": round(time.perf_counter() - t0, 2)})
    return UpdateResult(config.key(), path, mode, len(model.dates), model.dates[0], model.dates[-1],
                        time.perf_counter() - t0, model.notes)


def _extend(old: RiskModel, core: dict, store: MarketStore) -> RiskModel:
    """``old`` followed by the new dates' ``core``, symbols united, forecasts re-run over all."""
    symbols = sorted(set(old.symbols) | set(core["symbols"]))
    pos_old, pos_new = _cols(old.symbols, symbols), _cols(core["symbols"], symbols)

    def join(a: np.ndarray, b: np.ndarray, fill: float | bool | int) -> np.ndarray:
        out = np.full((a.shape[0] + b.shape[0], len(symbols), *a.shape[2:]), fill, dtype=a.dtype)
        out[:a.shape[0], pos_old] = a
        out[a.shape[0]:, pos_new] = b
        return out

    merged: dict[str, Any] = {name: join(getattr(old, name), core[name], fill)
              for name, fill in (("ind", -1), ("x", np.nan), ("cap", np.nan), ("ret", np.nan), ("estu", False),
                                 ("resid", np.nan), ("carried", False))}
    f = np.concatenate([old.f, core["f"]])
    cov, spec = forecasts(f, merged["resid"], merged["cap"], merged["estu"], len(old.industries), old.config)
    return dataclasses.replace(
        old, dates=old.dates + tuple(core["dates"]), symbols=tuple(symbols), f=f, cov=cov, specific=spec,
        r2=np.concatenate([old.r2, core["r2"]]), r2c=np.concatenate([old.r2c, core["r2c"]]),
        nobs=np.concatenate([old.nobs, core["nobs"]]), coverage=np.concatenate([old.coverage, core["coverage"]]),
        periods_per_year=periods_per_year(store), notes=tuple(dict.fromkeys(old.notes + core["notes"])), **merged)


def _cols(names: list[str] | tuple[str, ...], symbols: list[str]) -> np.ndarray:
    pos = {s: j for j, s in enumerate(symbols)}
    return np.array([pos[s] for s in names], dtype=np.int64)
