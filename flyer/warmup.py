"""``flyer warmup``: compile every numba kernel once into numba's on-disk cache.

Run by ``make setup`` after each install (and by hand at any time), so no process pays the
compilation (20-60 s on a 2-core machine) and the first factor computation or backtest of a
session starts warm. Steps:
  1. ``clear_caches``: delete numba's cache files (``*.nbi`` index, ``*.nbc`` code) under the
     installed flyer packages. numba keys a cache by the source file's path, size and
     modification time, so an edited kernel is recompiled anyway; but a cache written under
     another module name for the same file (``factors.kernels`` before the ``flyer.``
     namespace) would still be loaded and break. Clearing on every install removes that case.
  2. ``warm_factors``: every rolling kernel (``flyer.factors.kernels.warm``), then the engine
     on a tiny panel (the polars path around them).
  3. ``warm_backtest``: a top-k backtest on a tiny sim market in a temporary home (the
     engine, order and result kernels).
  4. ``warm_mining``: the miner's per-date statistics kernels.
"""
from __future__ import annotations

import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Callable

PACKAGES = ("flyer", "flyer.data", "flyer.factors", "flyer.models", "flyer.backtest")


def package_dirs() -> list[Path]:
    """The source folders of flyer's packages (top-level folders mapped into ``flyer.*``)."""
    import importlib

    return [Path(str(importlib.import_module(p).__file__)).parent for p in PACKAGES]


def clear_caches() -> int:
    """Step 1: delete numba cache files under flyer's packages; returns how many."""
    n = 0
    for root in package_dirs():
        for f in [*root.rglob("__pycache__/*.nbi"), *root.rglob("__pycache__/*.nbc")]:
            f.unlink(missing_ok=True)
            n += 1
    return n


def warm_factors() -> None:
    """Step 2."""
    import polars as pl

    from flyer.factors import compute, kernels

    kernels.warm()
    days = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(30)]
    bars = pl.DataFrame({"symbol": ["A"] * 30, "date": days, "close": [10.0 + i % 7 for i in range(30)],
                         "volume": [1e5 + 37 * i for i in range(30)], "high": [11.0 + i % 5 for i in range(30)]})
    for dtype in (pl.Float64, pl.Float32):  # the fused program, one compiled version per output dtype
        compute(bars, {"a": "Corr($close, $volume, 5) + Rank($close, 5) + Mean($close, 5)"}, dtype=dtype)


def warm_backtest() -> None:
    """Step 3."""
    from flyer.backtest import BacktestConfig, run
    from flyer.data.sources import ingest, make_source
    from flyer.data.store import MarketStore

    with tempfile.TemporaryDirectory(prefix="flyer_warmup_") as home, MarketStore.open(home) as store:
        ingest(store, make_source("sim", stocks=30, start=dt.date(2024, 1, 1), end=dt.date(2024, 6, 30)))
        bars = store.bars(columns=["close"])
        scores = bars.select("date", "symbol", (bars["close"] * 0 + bars["close"].rank()).alias("score"))
        res = run(store, scores, BacktestConfig(k=5, n_drop=1))
        res.nav, res.trades()  # noqa: B018 - the result's kernels


def warm_mining() -> None:
    """Step 4."""
    import numpy as np

    from flyer.factors.mining import kernels

    x = np.arange(8, dtype=np.float64)
    seg = np.array([0, 4, 8], dtype=np.int64)
    z, _ = kernels.standardize_nb(x, seg, kernels.RANK)
    kernels.daily_ic_nb(z, x, seg, 2)
    kernels.segment_means_nb(z, x, np.ones((1, 8), dtype=np.float32), seg)


def warm_all(log: Callable[[str], None] = print, clear: bool = True) -> dict[str, float]:
    """Steps 1-4; returns seconds per step."""
    secs: dict[str, float] = {}
    if clear:
        t = time.perf_counter()
        log(f"cleared {clear_caches()} numba cache file(s)")
        secs["clear"] = time.perf_counter() - t
    for name, fn in (("factors", warm_factors), ("backtest", warm_backtest), ("mining", warm_mining)):
        t = time.perf_counter()
        fn()
        secs[name] = time.perf_counter() - t
        log(f"{name}: kernels ready in {secs[name]:.1f}s")
    return secs
