"""CLI output people read: tables that fit (at 100 columns no number is cut, no '…'; headers
wrap instead; wide tables split into stacked parts repeating their key column; wide matrices
print as compact heatmap rows), the commands that print tables (capacity, backtest with its
stress tables, factors eval) holding to it, and --help free of markup."""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

from flyer.cli import app
from flyer.commands import common

WIDTH = 100


def _render(renderable: object, width: int = WIDTH) -> str:
    out = Console(file=io.StringIO(), width=width, soft_wrap=True, color_system=None)
    out.print(renderable)
    return out.file.getvalue()  # type: ignore[attr-defined]


def test_fitted_table_never_cuts_a_cell() -> None:
    headers = ["capital (CNY)", "excess / yr", "IR", "return / yr", "impact drag / yr", "cost drag / yr",
               "turnover / yr, x NAV", "avg participation", "fill rate", "unfilled days", "another long header"]
    rows = [[f"{10 ** k:,}", "-10.25%", "-0.997", "-20.14%", "20.77%", "26.14%", "35.505", "1.93%", "97.46%",
             "25.93%", "123,456.789"] for k in range(7, 11)]
    text = _render(common.fitted_table(headers, rows, title="capacity", width=WIDTH))
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= WIDTH
    for r in rows:
        for cell in r:
            assert cell in text, cell
    assert "(1/2)" in text and text.count("10,000,000,000") == 2  # split: the key column repeats


def test_long_text_keys_wrap_and_values_stay_whole() -> None:
    rows = [["excess return per year (arithmetic: mean daily difference x days)", "3.08%"],
            ["total-return benchmark", "000905.SH + members' cash dividends (estimated total return)"]]
    text = _render(common.fitted_table(["metric", "value"], rows, width=WIDTH))
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= WIDTH
    assert "000905.SH + members' cash dividends (estimated total return)" in text and "3.08%" in text


def test_a_wide_matrix_prints_as_heatmap_rows() -> None:
    rng = np.random.default_rng(0)
    names = [f"ALPHA158_FACTOR_{i}" for i in range(25)]
    m = np.clip(rng.normal(0, 0.5, (25, 25)), -1, 1)
    text = common.matrix_rows(names, m.tolist(), "baseline: correlation matrix", width=WIDTH)
    assert "…" not in text and max(len(line) for line in text.splitlines()) <= WIDTH
    assert text.count("ALPHA158_FACTOR_24") == 1 and "value x 10" in text  # 25 names fit one block
    row = next(line for line in text.splitlines() if line.startswith(" 3 ALPHA158_FACTOR_2 "))
    cells = row.split()[2:]
    assert len(cells) == 25 and cells[2] == "·" and cells[3] == f"{int(round(m[2, 3] * 10)):+d}".replace("+0", "0")
    wide = common.matrix_rows([f"F{i}" for i in range(60)], np.zeros((60, 60)).tolist(), "m", width=WIDTH)
    assert max(len(line) for line in wide.splitlines()) <= WIDTH and wide.count(" 1 F0") == 2  # two blocks


@pytest.fixture()
def narrow(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's console at 100 columns (as COLUMNS=100 gives it)."""
    monkeypatch.setattr(common.console, "_width", WIDTH)


@pytest.fixture(scope="module")
def scores_file(tmp_path_factory: pytest.TempPathFactory, sim_home: Path) -> Path:
    from flyer import data, factors

    with data.open_store(sim_home) as store:
        vals = factors.values(store, {"rev5": "-1 * ($close / Ref($close, 5) - 1)"}, universe="csi500",
                              start=dt.date(2019, 1, 1))
    path = tmp_path_factory.mktemp("scores") / "scores.parquet"
    vals.select("date", "symbol", pl.col("rev5").alias("score")).write_parquet(path)
    return path


def _tables_fit(output: str) -> None:
    assert "…" not in output, output
    table_lines = [line for line in output.splitlines() if "  " in line.strip() and not line.startswith("note")]
    too_wide = [line for line in table_lines if len(line) > WIDTH]
    assert not too_wide, too_wide


def test_commands_print_tables_that_fit(narrow: None, sim_home: Path, scores_file: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    home = ["--home", str(sim_home)]
    res = runner.invoke(app, ["capacity", "--scores", str(scores_file), "--k", "20", "--n-drop", "2",
                              "--start", "2020-01-02", "--end", "2020-12-31", "--capitals", "1e6,1e8,1e10", *home])
    assert res.exit_code == 0, res.output
    _tables_fit(res.output)
    assert "10,000,000,000" in res.output and "capital (CNY)" in res.output and "excess_an" not in res.output
    res = runner.invoke(app, ["backtest", "--scores", str(scores_file), "--k", "10", "--n-drop", "2", "--stress",
                              "--start", "2019-06-03", "--end", "2020-12-31", *home])
    assert res.exit_code == 0, res.output
    _tables_fit(res.output)
    assert "stress windows" in res.output and "regimes" in res.output
    res = runner.invoke(app, ["factors", "eval", "--formula", "rev5=-Delta($close, 5)", "--formula",
                              "vol20=Std($close / Ref($close, 1), 20)", "--universe", "csi500", *home])
    assert res.exit_code == 0, res.output
    _tables_fit(res.output)


def test_help_is_free_of_markup() -> None:
    """Every command's --help: no RST (``x``, :func:`x`), paragraphs joined (the terminal wraps)."""
    from typer.main import get_command

    from flyer.cli import plain_help

    assert plain_help("Run ``ensemble`` / :func:`train`\n  on two\n  lines.\n\nNext.") == \
        "Run ensemble / train on two lines.\n\nNext."
    paths: list[list[str]] = []

    def walk(cmd: object, path: list[str]) -> None:  # typer's click command tree (typer vendors click)
        paths.append(path)
        if hasattr(cmd, "commands"):
            for name, sub in cmd.commands.items():
                walk(sub, [*path, name])

    walk(get_command(app), [])
    assert len(paths) > 20
    runner = CliRunner()
    for path in paths:
        res = runner.invoke(app, [*path, "--help"])
        assert res.exit_code == 0 and "``" not in res.output and ":func:" not in res.output, (path, res.output)
