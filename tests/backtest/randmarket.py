"""Random small A-share markets for property and reference tests (limits, suspensions,
corporate actions, an IPO, a delisting, an ST stock, STAR and ChiNext names)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl

from flyer.data.store import MarketStore
from tests.backtest.conftest import days_from

SYMBOLS = ("000001.SZ", "000002.SZ", "300001.SZ", "600001.SH", "600002.SH", "600003.SH",
           "601001.SH", "688001.SH")


def _bars(rng: np.random.Generator, days: list[dt.date], sym: str, first: int, last: int, st: bool) -> list[dict]:
    rows, close, adj = [], float(rng.uniform(3, 60)), 1.0
    for i in range(first, last + 1):
        prev = close
        if i > first and rng.random() < 0.04:            # dividend / split
            f = float(rng.choice([1.02, 1.5, 2.0]))
            adj *= f
            prev = prev / f
        if i > first and rng.random() < 0.06:            # suspended: flat bar at the last close
            rows.append(dict(symbol=sym, date=days[i], open=round(prev, 2), high=round(prev, 2),
                             low=round(prev, 2), close=round(prev, 2), volume=0.0, amount=0.0,
                             adj_factor=adj, is_st=st, is_suspended=True))
            close = round(prev, 2)
            continue
        u = rng.random()
        lim = 0.05 if st else 0.1
        r = lim if u < 0.07 else (-lim if u < 0.12 else float(np.clip(rng.normal(0, 0.03), -lim, lim)))
        close = max(round(prev * (1 + r), 2), 0.01)
        o = round(prev * (1 + r * rng.random()), 2) if rng.random() > 0.1 else close
        o = max(o, 0.01)
        vol = float(rng.integers(1e5, 1e7))
        rows.append(dict(symbol=sym, date=days[i], open=o, high=max(o, close), low=min(o, close), close=close,
                         volume=vol, amount=vol * (o + close) / 2 * (1 + rng.normal(0, 0.001)), adj_factor=adj,
                         is_st=st, is_suspended=False))
    return rows


def random_market(path: Path, seed: int, n_days: int = 40, start: dt.date = dt.date(2023, 7, 20)
                  ) -> tuple[MarketStore, list[dt.date]]:
    """A store at ``path`` with 8 random stocks over ``n_days`` days (plus a CSI 500 index and members)."""
    rng = np.random.default_rng(seed)
    days = days_from(start, n_days)
    rows: list[dict] = []
    for k, sym in enumerate(SYMBOLS):
        first = 10 if k == 0 else 0                    # an IPO inside the window
        last = 25 if k == 1 else n_days - 1            # a delisting
        rows += _bars(rng, days, sym, first, last, st=(k == 5))
    bars = pl.DataFrame(rows).with_columns(pl.lit(1e9).alias("total_cap"), pl.lit(1e9).alias("float_cap"))
    inst = pl.DataFrame({"symbol": list(SYMBOLS), "name": list(SYMBOLS),
                         "exchange": [s[-2:] for s in SYMBOLS], "board": "main", "industry": None,
                         "list_date": [days[10]] + [dt.date(2000, 1, 1)] * (len(SYMBOLS) - 1),
                         "delist_date": [None, days[25]] + [None] * (len(SYMBOLS) - 2)},
                        schema_overrides={"industry": pl.Utf8, "delist_date": pl.Date})
    level = 1000 * np.cumprod(1 + rng.normal(0, 0.01, n_days))
    index = pl.DataFrame({"index_code": "000905.SH", "date": days, "open": level, "high": level, "low": level,
                          "close": level, "volume": 1.0, "amount": 1.0})
    w = rng.uniform(0.5, 2, len(SYMBOLS) - 1)
    members = pl.DataFrame({"index_code": "000905.SH", "date": days[0], "symbol": list(SYMBOLS[1:]),
                            "weight": w / w.sum()})
    store = MarketStore(path / f"rand{seed}.duckdb")
    store.write("rand", {"calendar": pl.DataFrame({"date": days}), "instruments": inst, "bars": bars,
                         "index_bars": index, "index_members": members})
    return store, days


def random_scores(seed: int, days: list[dt.date], p_day: float = 0.8, p_nan: float = 0.15) -> pl.DataFrame:
    """[date, symbol, score] on a random ~``p_day`` of days, some scores missing."""
    rng = np.random.default_rng(seed + 1000)
    rows = [dict(date=d, symbol=s, score=float(rng.normal()))
            for d in days if rng.random() < p_day for s in SYMBOLS if rng.random() > p_nan]
    return pl.DataFrame(rows, schema={"date": pl.Date, "symbol": pl.Utf8, "score": pl.Float64})
