"""The demo pipeline end to end on a small simulated market; the demo is examples/demo.toml."""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

from flyer.demo import DemoConfig, run_demo
from flyer.workflow import from_dict, load

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_demo_pipeline_small(fresh_home: Path) -> None:
    cfg = DemoConfig(stocks=150, start=dt.date(2018, 1, 1), end=dt.date(2021, 12, 31),
                     train=(dt.date(2018, 4, 1), dt.date(2019, 12, 31)), valid=(dt.date(2020, 1, 1), dt.date(2020, 6, 30)),
                     test=(dt.date(2020, 7, 1), dt.date(2021, 12, 31)), retrain_months=12, universe="all", k=20, n_drop=3)
    lines: list[str] = []
    s = run_demo(fresh_home, cfg, log=lines.append)
    assert s.report.exists() and s.report.stat().st_size > 10_000
    assert "<html" in s.report.read_text()[:200].lower()
    assert all(math.isfinite(x) for x in (s.ic, s.rank_ic, s.annual_excess, s.information_ratio, s.max_drawdown))
    assert s.max_drawdown <= 0 and "000905.SH" in s.benchmark and not s.reused
    assert any(x.startswith("1/3 data: ingested sim") for x in lines), lines
    # progress of every long step reached the log (plain lines: no terminal here)
    text = "\n".join(lines)
    for needle in ("ingest sim: done", "training lgbm: 1/2 folds", "fold 1/2 lgbm: started", "valid ic ",
                   "features alpha158", "top20 on lgbm: ran", "fold 2: train", "this fold's valid RankIC",
                   "valid RankIC over all 2 fold(s) pooled", "test, all folds out of sample"):
        assert needle in text, needle
    # each fold says how many trees it kept and why; the floor on trees is explained once
    assert text.count("kept ") >= 2 and text.count("every fold") == 1, text
    assert "best round" not in text and s.backtest and s.backtest in str(s.report.resolve())
    again: list[str] = []
    s2 = run_demo(fresh_home, cfg, log=again.append)  # the same workflow: nothing to do
    assert s2.reused and s2.run_id == s.run_id and s2.annual_excess == s.annual_excess
    assert len(again) == 2 and "not ingested again" in again[0] and "is complete on the same data: nothing to do" in again[1]

    # the demo leaves the nightly's factor store: alpha158 under its content key, up to the last day
    from flyer.data.store import MarketStore
    from flyer.factors import storage
    from flyer.factors.library import load as load_set

    with MarketStore.open(fresh_home, read_only=True) as store:
        last = store.calendar()[-1]
    assert storage.stored_dates(storage.set_root(fresh_home, load_set("alpha158")))[-1] == last
    assert any("for `flyer nightly`" in line for line in lines)


def test_demo_is_the_example_workflow() -> None:
    """examples/demo.toml and DemoConfig() describe the same experiment (same content key)."""
    assert load(EXAMPLES / "demo.toml").key == from_dict(DemoConfig().workflow(), name="demo").key
