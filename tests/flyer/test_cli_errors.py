"""Every CLI failure is one line with the right exit code: the table of bad inputs.

Add new bad inputs to ``CASES`` (args, expected exit code, a regex the one stderr line matches).
``{home}`` is an empty flyer home, ``{store}`` a home holding the small sim market, ``{examples}`` the
examples/ folder.
"""
from __future__ import annotations

import re
import sys
import types
from pathlib import Path

import pytest

from flyer.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

CASES = [
    # usage: exit 2
    (["nope"], 2, r"^error: No such command 'nope'"),
    (["factors", "eval", "--bogus", "x"], 2, r"^error: No such option: --bogus .*flyer factors eval --help"),
    (["ingest", "--stocks", "ten"], 2, r"^error: Invalid value for '--stocks'"),
    (["ingest", "--source", "nope"], 2, r"^error: unknown source 'nope'"),
    (["ingest", "--source", "sim", "--symbols", "600000"], 2, r"^error: --source sim does not take --symbols"),
    (["backtest", "--run", "x", "--start", "2020-13-01"], 2, r"^error: bad --start '2020-13-01'"),
    (["train", "--train", "2020"], 2, r"^error: bad --train '2020'"),
    (["capacity", "--run", "x", "--capitals", "1e7"], 2, r"^error: bad --capitals '1e7': need at least two"),
    (["capacity", "--run", "x", "--capitals", "ten,1e8"], 2, r"^error: bad --capitals 'ten,1e8': expected comma"),
    (["train", "--model", "ensemble", "--members", "lgbm"], 2, r"^error: an ensemble needs at least two --members"),
    (["train", "--model", "ensemble", "--members", "lgbm,xgb"], 2, r"^error: --members: .*\(not xgb\)"),
    (["train", "--model", "lgbm", "--horizons", "1,5"], 2, r"^error: --members and --horizons apply to"),
    (["train", "--model", "stack", "--members", "lgbm", "--horizons", "5"], 2, r"^error: --horizons needs at least two"),
    (["train", "--model", "ensemble", "--members", "lgbm,linear", "--combine", "mean"], 2, r"^error: --combine must be"),
    (["train", "--model", "linear", "--epochs", "3"], 2, r"^error: --epochs applies to torch models"),
    (["train", "--model", "lgbm", "--preset", "fast", "--home", "{store}"], 1, r"^error: unknown preset 'fast' for lgbm"),
    # user errors: exit 1
    (["info", "--home", "{home}"], 1, r"^error: no market store at "),
    (["ingest", "--source", "files", "--path", "{home}/missing.csv", "--home", "{home}"], 1, r"^error: .*missing\.csv"),
    (["backtest", "--run", "nosuchrun", "--home", "{store}"], 1, r"^error: run 'nosuchrun' has no predictions"),
    (["factors", "eval", "--formula", "Meen($close, 5)", "--home", "{store}"], 1,
     r"^error: bad formula 'Meen\(\$close, 5\)' \(f1\): unknown operator 'Meen' at column 1"),
    (["factors", "eval", "--formula", "x=Mean($close, ", "--home", "{store}"], 1, r"^error: .*column"),
    (["run", "{home}/missing.toml", "--home", "{home}"], 1, r"^error: workflow file not found: .*missing\.toml"),
    (["run", "{examples}/research.toml", "--set", "models.7.k=1", "--home", "{home}"], 1,
     r"^error: workflow: override 'models.7.k=1': '7' is not an index of a list of 2"),
    (["run", "{examples}/research.toml", "--set", "data.sotcks=5", "--home", "{home}"], 1,
     r"^error: config: \[data\]: source 'sim' has no setting\(s\) sotcks"),
    (["compare", "nope1", "nope2", "--home", "{home}"], 1, r"^error: 'nope1' is neither a saved backtest"),
    (["runs", "export", "--home", "{home}"], 1, r"^error: give --csv FILE and/or --mlflow DIR"),
    (["backtest", "--run", "x", "--participation", "1.5", "--home", "{store}"], 1,
     r"^error: bad backtest settings: participation must be in \[0, 1\]"),
    (["backtest", "--run", "x", "--impact", "linear", "--home", "{store}"], 1,
     r"^error: bad backtest settings: impact must be one of"),
    (["capacity", "--run", "nosuchrun", "--home", "{store}"], 1, r"^error: run 'nosuchrun' has no predictions"),
]


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ex:
        main(args)
    return int(ex.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("args,code,pattern", CASES, ids=[" ".join(c[0])[:40] for c in CASES])
def test_failure_is_one_line(args: list[str], code: int, pattern: str, fresh_home: Path, sim_home: Path,
                             capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLYER_DEBUG", raising=False)
    args = [a.format(home=fresh_home, store=sim_home, examples=EXAMPLES) for a in args]
    got, err = _run(args, capsys)
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]


def test_unexpected_error_is_one_line_unless_debug(sim_home: Path, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from flyer.data.store import MarketStore

    def boom(self: MarketStore) -> dict:
        raise ZeroDivisionError("injected")

    monkeypatch.setattr(MarketStore, "info", boom)
    monkeypatch.delenv("FLYER_DEBUG", raising=False)
    code, err = _run(["info", "--home", str(sim_home)], capsys)
    assert code == 1 and err.strip() == ("error: unexpected ZeroDivisionError: injected "
                                         "(run with FLYER_DEBUG=1 for the traceback)")
    monkeypatch.setenv("FLYER_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["info", "--home", str(sim_home)])


def test_akshare_offline_is_one_line_and_writes_nothing(fresh_home: Path, capsys: pytest.CaptureFixture[str],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: one line naming the source, the call and what to do; exit 1; no bars stored;
    ``--symbols`` limits the work to that symbol (no stock-list call)."""
    import requests

    calls: list[str] = []

    def unreachable(name: str):
        def call(**kwargs: object) -> None:
            calls.append(name)
            raise requests.exceptions.ConnectionError("Failed to resolve 'push2his.eastmoney.com'")
        return call

    fake = types.ModuleType("akshare")
    fake.__getattr__ = unreachable  # type: ignore[attr-defined]  # every akshare function fails
    monkeypatch.setitem(sys.modules, "akshare", fake)
    monkeypatch.setattr("time.sleep", lambda s: None)
    monkeypatch.delenv("FLYER_DEBUG", raising=False)
    code, err = _run(["ingest", "--source", "akshare", "--symbols", "600000", "--start", "2024-01-02",
                      "--end", "2024-01-10", "--home", str(fresh_home)], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert re.match(r"^error: akshare: no vendor answered for 600000.SH: stock_zh_a_hist\(600000\) failed 3x.*"
                    r"\(ConnectionError.*check the network or retry later", err.strip()), err
    # only the symbol asked for (no stock list), from each fallback vendor in turn
    assert set(calls) == {"stock_zh_a_hist", "stock_zh_a_daily", "stock_zh_a_hist_tx"}
    from flyer.data.store import MarketStore

    with MarketStore.open(fresh_home, read_only=True) as store:
        assert store.bars().height == 0
