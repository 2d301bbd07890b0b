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
    (["train", "--model", "linear", "--mode", "threads", "--home", "{store}"], 2, r"^error: unknown mode 'threads'"),
    (["train", "--model", "linear", "--workers", "-1", "--home", "{store}"], 2, r"^error: --workers must be >= 0"),
    (["train", "--model", "linear", "--address", "nowhere", "--home", "{store}"], 2, r"^error: .*HOST:PORT"),
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
    (["factors", "eval", "--formula", "Meen($close, 5)", "--home", "{store}"], 2,
     r"^error: bad formula 'Meen\(\$close, 5\)' \(f1\): unknown operator 'Meen' at column 1"),
    (["factors", "eval", "--formula", "x=Mean($close, ", "--home", "{store}"], 2, r"^error: .*column"),
    (["run", "{home}/missing.toml", "--home", "{home}"], 1, r"^error: workflow file not found: .*missing\.toml"),
    (["run", "{examples}/research.toml", "--set", "models.7.k=1", "--home", "{home}"], 2,
     r"^error: workflow: override 'models.7.k=1': '7' is not an index of a list of 2"),
    (["run", "{examples}/research.toml", "--set", "data.sotcks=5", "--home", "{home}"], 2,
     r"^error: config: \[data\]: source 'sim' has no setting\(s\) sotcks"),
    (["compare", "nope1", "nope2", "--home", "{home}"], 1, r"^error: 'nope1' is neither a saved backtest"),
    (["runs", "export", "--home", "{home}"], 1, r"^error: give --csv FILE and/or --mlflow DIR"),
    (["backtest", "--run", "x", "--participation", "1.5", "--home", "{store}"], 2,
     r"^error: backtest.participation: must be in \[0, 1\]"),
    (["backtest", "--run", "x", "--impact", "linear", "--home", "{store}"], 2,
     r"^error: backtest.costs.impact: must be one of"),
    (["capacity", "--run", "nosuchrun", "--home", "{store}"], 1, r"^error: run 'nosuchrun' has no predictions"),
    # finding 5: --home pointing at a file; a read-only command on a missing home creates nothing
    (["info", "--home", "{bad}/a_file"], 2, r"^error: flyer home .*a_file is a file, not a folder"),
    (["ingest", "--home", "{bad}/a_file"], 2, r"^error: flyer home .*a_file is a file, not a folder"),
    (["info", "--home", "{bad}/nonexistent/home"], 1, r"^error: no market store at .*nonexistent"),
    # finding 5/6: nightly config values of the wrong type, out of range, a config that is a folder
    (["nightly", "--config", "{bad}/k_ten.toml", "--home", "{home}"], 2,
     r"^error: config: portfolio\.k: must be an integer, got 'ten'"),
    (["nightly", "--config", "{bad}/runs5.toml", "--home", "{home}"], 2, r"^error: config: runs must be a list of run ids"),
    (["nightly", "--config", "{bad}/capital.toml", "--home", "{home}"], 2,
     r"^error: config: portfolio.capital: must be > 0 CNY, got -5"),
    (["nightly", "--config", "{bad}/ndrop.toml", "--home", "{home}"], 2, r"^error: config: portfolio.n_drop: must be in \[0, k"),
    (["nightly", "--config", "{bad}/dir.toml", "--home", "{home}"], 2, r"^error: config .*dir\.toml is a folder"),
    (["nightly", "--config", "{bad}/nosuchrun.toml", "--home", "{home}"], 1, r"^error: no run 'abc123'"),
    (["nightly", "--config", "{bad}/bigk.toml", "--home", "{nightly}"], 1,
     r"^error: config: portfolio\.k = 5000 exceeds the \d+ stocks trading on"),
    # finding 8: run ids stay inside runs/
    (["backtest", "--run", "../../evil", "--home", "{store}"], 2, r"^error: bad run id '\.\./\.\./evil'"),
    (["backtest", "--run", "..", "--home", "{store}"], 2, r"^error: bad run id '\.\.'"),
    (["predict", "--run", "../x", "--date", "2020-06-01", "--home", "{store}"], 2, r"^error: bad run id '\.\./x'"),
    (["predict", "--run", "/etc", "--date", "2020-06-01", "--home", "{store}"], 2, r"^error: bad run id '/etc'"),
    (["nightly", "--config", "{bad}/escape.toml", "--home", "{home}"], 2, r"^error: config: runs: bad run id '\.\./\.\./x'"),
    # finding 5: a garbage .parquet
    (["ingest", "--source", "files", "--path", "{bad}/garbage.parquet", "--home", "{home}"], 1,
     r"^error: .*garbage\.parquet: malformed Parquet"),
    (["backtest", "--scores", "{bad}/garbage.parquet", "--home", "{store}"], 1, r"^error: cannot read scores .*garbage"),
    # findings 1, 2: bad rows are never stored; an ingest whose every bar row is rejected exits 2
    (["ingest", "--source", "files", "--path", "{bad}/inf.csv", "--home", "{home}"], 2,
     r"^error: files: every bar row was rejected .*non_finite"),
    (["ingest", "--source", "files", "--path", "{bad}/huge.csv", "--home", "{home}"], 2,
     r"^error: files: every bar row was rejected .*implausible"),
    (["ingest", "--source", "files", "--path", "{bad}/future.csv", "--home", "{home}"], 2,
     r"^error: files: every bar row was rejected .*future_date"),
    # findings 1, 4: formula limits
    (["factors", "eval", "--set", "{bad}/deep.toml", "--home", "{store}"], 2, r"^error: .*formula too deep"),
    (["factors", "eval", "--set", "{bad}/sum.toml", "--home", "{store}"], 2, r"^error: .*formula too deep"),
    (["factors", "eval", "--set", "{bad}/window.toml", "--home", "{store}"], 2, r"^error: .*window 1000000000 is too long"),
    (["factors", "eval", "--set", "{bad}/span.toml", "--home", "{store}"], 2,
     r"^error: factor LONG: its windows need 5,000 trading days, the store holds \d"),
    # finding 6: k larger than the market
    (["backtest", "--scores", "{bad}/scores.parquet", "--k", "100000", "--home", "{store}"], 2,
     r"^error: k = 100000 exceeds the \d+ tradable stocks scored on any date"),
    # finding 7: a date past the known calendar is refused, never taken for a holiday
    (["nightly", "--date", "2027-01-04", "--home", "{home}"], 1, r"^error: calendar ends on 2026-12-31: update it"),
]


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory, sim_home: Path) -> Path:
    """A folder of bad inputs (files, configs, formulas), one per case above."""
    import polars as pl

    from flyer.data.store import MarketStore

    d = tmp_path_factory.mktemp("bad")
    (d / "a_file").write_text("not a folder")
    configs = {"k_ten": '[portfolio]\nk = "ten"\n', "runs5": "runs = 5\n", "capital": "[portfolio]\ncapital = -5\n",
               "ndrop": "[portfolio]\nk = 5\nn_drop = 9\n", "escape": 'runs = ["../../x"]\n',
               "nosuchrun": 'runs = ["abc123"]\n', "bigk": '[portfolio]\nk = 5000\n[retrain]\nschedule = "monthly"\n'}
    for name, text in configs.items():
        (d / f"{name}.toml").write_text(text)
    (d / "dir.toml").mkdir()
    (d / "garbage.parquet").write_bytes(b"PAR1 this is not parquet at all \x00\x01")
    head = "symbol,date,open,high,low,close,volume\n"
    (d / "inf.csv").write_text(head + "600000.SH,2024-01-02,10,inf,9,10,1000\n")
    (d / "huge.csv").write_text(head + "600000.SH,2024-01-02,1e308,1e308,1e308,1e308,1000\n")
    (d / "future.csv").write_text(head + "600000.SH,2030-01-02,10,11,9,10,1000\n")
    (d / "deep.toml").write_text('F = "' + "Abs(" * 500 + "$close" + ")" * 500 + '"\n')
    (d / "sum.toml").write_text('F = "' + " + ".join(["$close"] * 500) + '"\n')
    (d / "window.toml").write_text('F = "Mean($close, 1000000000)"\n')
    (d / "span.toml").write_text('LONG = "Mean($close, 5000)"\n')
    with MarketStore.open(sim_home, read_only=True) as store:
        days = store.calendar()[-60:]
        bars = store.bars(days[0], days[-1], columns=["close"])
    bars.select("date", "symbol", pl.col("close").alias("score")).write_parquet(d / "scores.parquet")
    return d


@pytest.fixture(scope="module")
def nightly_home(tmp_path_factory: pytest.TempPathFactory, sim_home: Path) -> Path:
    """A writable copy of the sim home (the nightly opens its store for writing)."""
    import shutil

    return Path(shutil.copytree(sim_home, tmp_path_factory.mktemp("nh") / "home"))


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ex:
        main(args)
    return int(ex.value.code or 0), capsys.readouterr().err


@pytest.mark.parametrize("args,code,pattern", CASES, ids=[" ".join(c[0])[:60] for c in CASES])
def test_failure_is_one_line(args: list[str], code: int, pattern: str, fresh_home: Path, sim_home: Path, bad: Path,
                             nightly_home: Path, capsys: pytest.CaptureFixture[str],
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLYER_DEBUG", raising=False)
    monkeypatch.setenv("FLYER_TODAY", "2026-12-01")  # the fake clock (future dates, calendar end)
    args = [a.format(home=fresh_home, store=sim_home, examples=EXAMPLES, bad=bad, nightly=nightly_home) for a in args]
    got, err = _run(args, capsys)
    lines = err.strip().splitlines()
    assert got == code, err
    assert len(lines) == 1 and "Traceback" not in err, err
    assert re.search(pattern, lines[0]), lines[0]
    assert not (bad / "nonexistent").exists()  # a read-only command creates no folder


def test_rejected_rows_leave_nothing_behind(fresh_home: Path, bad: Path, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 2: a one-row file whose only row is rejected adds no calendar day, no instrument
    and no bar; only its reject records remain (and the ingest log says so)."""
    from flyer.data.store import MarketStore

    monkeypatch.setenv("FLYER_TODAY", "2026-12-01")
    code, _ = _run(["ingest", "--source", "files", "--path", str(bad / "future.csv"), "--home", str(fresh_home)], capsys)
    assert code == 2
    with MarketStore.open(fresh_home, read_only=True) as store:
        assert store.calendar().len() == 0 and store.instruments().height == 0 and store.bars().height == 0
        assert set(store.rejects()["rule"]) >= {"future_date"}
        assert store.ingest_log().row(0, named=True)["status"] == "rejected"


@pytest.mark.parametrize("where", ["upsert", "factors"])
def test_disk_full_is_one_line_and_changes_nothing(where: str, sim_home: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 5: ENOSPC during the store's upsert and during factor compute: one line, exit 1,
    the store and the stored factor values as they were (no temp file left)."""
    import errno
    import shutil

    import polars as pl

    from flyer.data.store import MarketStore

    home = Path(shutil.copytree(sim_home, tmp_path / "home"))
    monkeypatch.delenv("FLYER_DEBUG", raising=False)
    full = OSError(errno.ENOSPC, "No space left on device")
    if where == "upsert":
        def boom(self, table, df):  # noqa: ANN001
            raise full
        monkeypatch.setattr(MarketStore, "_upsert", boom)
        args = ["ingest", "--source", "sim", "--stocks", "150", "--seed", "7", "--start", "2018-01-01",
                "--end", "2020-12-31", "--home", str(home)]
    else:
        real = pl.DataFrame.write_parquet
        calls = {"n": 0}

        def flaky(self, file, *a, **kw):  # noqa: ANN001 - the third date's write finds the disk full
            calls["n"] += 1
            if calls["n"] == 3:
                Path(file).write_bytes(b"half")
                raise full
            return real(self, file, *a, **kw)
        monkeypatch.setattr(pl.DataFrame, "write_parquet", flaky)
        (tmp_path / "f.toml").write_text('M5 = "Mean($close, 5)"\n')
        args = ["factors", "compute", "--set", str(tmp_path / "f.toml"), "--start", "2020-06-01", "--home", str(home)]
    with MarketStore.open(home, read_only=True) as store:
        before = (store.bars().height, store.ingest_log().height)
    code, err = _run(args, capsys)
    lines = err.strip().splitlines()
    assert code == 1 and len(lines) == 1 and "No space left on device" in lines[0], err
    with MarketStore.open(home, read_only=True) as store:
        assert store.bars().height == before[0]
    if where == "factors":
        from flyer.factors import storage
        from flyer.factors.library import load

        root = storage.set_root(home, load(tmp_path / "f.toml"))
        assert len(storage.stored_dates(root)) == 2
        assert not list(root.rglob("*.tmp")) and all((p / "part.parquet").exists() for p in root.glob("date=*"))


def test_nightly_on_a_read_only_home_is_one_line(fresh_home: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Finding 5: the nightly on a read-only home (simulated: tests run as root, where chmod
    does not bite) fails in one line naming the lock and what to do."""
    import errno
    import os

    def read_only(*a: object, **kw: object) -> None:
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(os, "link", read_only)
    monkeypatch.delenv("FLYER_DEBUG", raising=False)
    code, err = _run(["nightly", "--date", "2020-06-01", "--home", str(fresh_home)], capsys)
    assert code == 1 and err.strip().splitlines() == [
        f"error: cannot create the lock {fresh_home / 'nightly.lock'}: Read-only file system "
        "(the flyer home must be writable)"]


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
    """Vendors that fail after the network check passed: one line naming the source, the call and
    what to do; exit 1; nothing left behind (no store); ``--symbols`` limits the work to that
    symbol (no stock-list call). (Offline, the network check fails first: tests/data/test_network.py.)"""
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
    monkeypatch.setattr("flyer.data.sources.net.require_online", lambda *a, **k: None)  # no DNS from tests
    monkeypatch.delenv("FLYER_DEBUG", raising=False)
    code, err = _run(["ingest", "--source", "akshare", "--symbols", "600000", "--start", "2024-01-02",
                      "--end", "2024-01-10", "--home", str(fresh_home)], capsys)
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert re.match(r"^error: akshare: no vendor answered for 600000.SH: stock_zh_a_hist\(600000\) failed 3x.*"
                    r"\(ConnectionError.*check the network or retry later", err.strip()), err
    # only the symbol asked for (no stock list), from each fallback vendor in turn
    assert set(calls) == {"stock_zh_a_hist", "stock_zh_a_daily", "stock_zh_a_hist_tx"}
    assert not (fresh_home / "market.duckdb").exists()
