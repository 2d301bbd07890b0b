"""``flyer backtest`` end to end on the small sim store."""
from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.cli import app
from flyer.core.errors import FlyerError


@pytest.fixture(scope="module")
def scores_file(sim_home: Path, tmp_path_factory) -> Path:
    """20-day momentum of the sim market as [date, symbol, score] (Parquet)."""
    from flyer.data.store import MarketStore

    with MarketStore.open(sim_home, read_only=True) as store:
        bars = store.bars()
    df = bars.sort("symbol", "date").with_columns(
        (pl.col("close") / pl.col("close").shift(20).over("symbol") - 1).alias("score")
    ).filter(pl.col("date") >= pl.date(2020, 1, 1)).select("date", "symbol", "score").drop_nulls()
    path = tmp_path_factory.mktemp("scores") / "scores.parquet"
    df.write_parquet(path)
    return path


def test_cli_backtest_writes_report(sim_home: Path, scores_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.html"
    res = CliRunner().invoke(app, ["backtest", "--scores", str(scores_file), "--strategy", "topk", "--k", "10",
                                   "--n-drop", "2", "--deal-price", "open", "--start", "2020-01-02",
                                   "--end", "2020-06-30", "--benchmark", "000905.SH", "--report", str(out),
                                   "--home", str(sim_home)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    assert "Sharpe ratio" in res.output and "report saved" in res.output and out.exists()  # labels with units


def test_cli_config_file_and_errors(sim_home: Path, scores_file: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "bt.toml"
    cfg.write_text(f'[backtest]\nscores = "{scores_file}"\nk = 5\nn_drop = 1\nstart = "2020-03-02"\n'
                   f'end = "2020-04-30"\ndeal_price = "close"\n')
    res = CliRunner().invoke(app, ["backtest", "--config", str(cfg), "--home", str(sim_home)])
    assert res.exit_code == 0, res.output + repr(res.exception)
    bad = tmp_path / "bad.csv"
    pl.DataFrame({"date": ["2020-01-02"], "symbol": ["600000.SH"]}).write_csv(bad)
    res = CliRunner().invoke(app, ["backtest", "--scores", str(bad), "--home", str(sim_home)])
    assert isinstance(res.exception, FlyerError) and "missing column" in str(res.exception)
    res = CliRunner().invoke(app, ["backtest", "--scores", str(scores_file), "--benchmark", "000001.SH",
                                   "--home", str(sim_home)])
    assert isinstance(res.exception, FlyerError) and "unknown benchmark" in str(res.exception)
