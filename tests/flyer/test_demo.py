"""The demo pipeline end to end on a small simulated market."""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from flyer.demo import DemoConfig, run_demo


def test_demo_pipeline_small(fresh_home: Path) -> None:
    cfg = DemoConfig(stocks=150, start=dt.date(2018, 1, 1), end=dt.date(2021, 12, 31),
                     train=(dt.date(2018, 4, 1), dt.date(2019, 12, 31)), valid=(dt.date(2020, 1, 1), dt.date(2020, 6, 30)),
                     test=(dt.date(2020, 7, 1), dt.date(2021, 12, 31)), retrain_months=12, universe="all", k=20, n_drop=3)
    lines: list[str] = []
    s = run_demo(fresh_home, cfg, log=lines.append)
    assert s.report.exists() and s.report.stat().st_size > 10_000
    assert "<html" in s.report.read_text()[:200].lower()
    assert all(math.isfinite(x) for x in (s.ic, s.rank_ic, s.annual_excess, s.information_ratio, s.max_drawdown))
    assert s.max_drawdown <= 0 and "000905.SH" in s.benchmark
    assert lines[0].startswith("1/4 ingested")
    from flyer.data.store import MarketStore
    from flyer.demo import _has_sim

    with MarketStore.open(fresh_home, read_only=True) as store:  # a second demo reuses the store
        assert _has_sim(store, cfg) and not _has_sim(store, DemoConfig())
