"""The pool file (weights in the factor-set TOML), the combined score, and ``flyer backtest --combined``."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.cli import app
from flyer.core.errors import FlyerError
from flyer.factors import compute
from flyer.factors.library import load
from flyer.factors.mining import PoolEntry, read_pool, write_pool
from flyer.factors.mining.score import combined_scores

FORMULAS = {"mined_001": "0 - ($close / Ref($close, 5) - 1)", "mined_002": "Std($close, 20) / $close"}
WEIGHTS = (0.7, -0.25)


def _pool_file(path: Path, universe: str = "csi500") -> Path:
    entries = [PoolEntry(n, f, f, 0.01, 0.1, 0.01, 0.1, 5, 0, 1.0) for n, f in FORMULAS.items()]
    write_pool(path, entries, WEIGHTS, {"objective": "pool", "universe": universe, "norm": "rank", "horizon": 5},
               header="test pool")
    return path


def test_the_pool_file_round_trips_with_weights(tmp_path: Path) -> None:
    path = _pool_file(tmp_path / "p.toml")
    fs = load(path)
    assert fs.names == tuple(FORMULAS) and fs.weights == WEIGHTS
    assert fs.select(["mined_002"]).weights == (WEIGHTS[1],)
    pool = read_pool(path)
    assert pool.universe == "csi500" and pool.norm == "rank" and pool.meta["horizon"] == 5
    plain = tmp_path / "plain.toml"
    plain.write_text('a = "$close"\nb = "$open"\n')
    assert load(plain).weights is None and load(plain).names == ("a", "b")
    with pytest.raises(FlyerError, match="no \\[weights\\]"):
        read_pool(plain)
    bad = tmp_path / "bad.toml"
    bad.write_text('[factors]\na = "$close"\n[weights]\nb = 1.0\n')
    with pytest.raises(FlyerError, match="exactly the factors"):
        load(bad)
    bad.write_text('[factors]\na = "$close"\n[weights]\na = "x"\n')
    with pytest.raises(FlyerError, match="not a number"):
        load(bad)
    empty = tmp_path / "empty.toml"
    write_pool(empty, [], [], {"universe": "all"})
    assert len(load(empty)) == 0


def test_combined_scores_are_the_weighted_per_date_ranks(sim_store, sim_bars: pl.DataFrame, tmp_path: Path) -> None:
    pool = read_pool(_pool_file(tmp_path / "p.toml"))
    start, end = dt.date(2019, 3, 1), dt.date(2019, 6, 28)
    got = combined_scores(sim_store, pool, start, end)
    assert got.columns == ["date", "symbol", "score"] and got["date"].min() >= start and got["date"].max() <= end
    # reference: the engine's values (no cross sections inside: they equal the point-in-time ones),
    # ranked per date over that date's CSI 500 members, standardised, weighted
    values = compute(sim_bars, FORMULAS)
    mem = sim_store.membership("000905.SH", start, end).select("date", "symbol")
    table = values.join(mem, on=["date", "symbol"], how="inner")
    parts = []
    for (name, w) in zip(FORMULAS, WEIGHTS):
        v = pl.col(name).fill_nan(None)
        r = v.rank("average").over("date")
        z = ((r - r.mean().over("date")) / r.std(ddof=0).over("date")).fill_null(0.0)
        parts.append(z * w)
    want = table.select("date", "symbol", pl.sum_horizontal(parts).alias("want"))
    both = got.join(want, on=["date", "symbol"], how="inner")
    assert both.height == got.height == want.height > 0
    np.testing.assert_allclose(both["score"].to_numpy(), both["want"].to_numpy(), atol=1e-9)


def test_backtest_runs_on_a_pools_combined_score(sim_home: Path, tmp_path: Path) -> None:
    path = _pool_file(tmp_path / "p.toml", universe="all")
    runner = CliRunner()
    res = runner.invoke(app, ["backtest", "--factor-set", str(path), "--combined", "--start", "2019-01-02",
                              "--end", "2019-12-31", "--k", "20", "--home", str(sim_home)])
    assert res.exit_code == 0, res.output
    assert "combined score: 2 weighted factor(s)" in res.output and "universe all" in res.output
    assert "per year" in res.output
    alone = runner.invoke(app, ["backtest", "--factor-set", str(path), "--home", str(sim_home)])
    assert isinstance(alone.exception, FlyerError) and "--combined" in str(alone.exception)
    ev = runner.invoke(app, ["factors", "eval", "--set", str(path), "--horizon", "5", "--home", str(sim_home)])
    assert ev.exit_code == 0, ev.output
    assert "mined_001" in ev.output
