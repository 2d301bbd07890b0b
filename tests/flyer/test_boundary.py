"""Validate at the boundary (issue 23): every workflow, config and CLI value is checked when it is
loaded, before any ingest or training; one line naming the field; damaged folders never break a
listing; every id a user types is id-shaped and stays inside its folder."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from flyer.cli import main
from flyer.core.errors import FlyerError, UsageError
from flyer.core.names import resolve_id, safe_name

BASE = """[data]
source = "sim"
stocks = 60
seed = 42
start = 2019-01-01
end = 2020-12-31
"""
MODEL = """
[[models]]
name = "m"
model = "linear"
factors = "basic"
train = "2019-03-01:2019-12-31"
valid = "2020-01-01:2020-03-31"
test = "2020-04-01:2020-12-31"
"""
FACTORS = '[[factors]]\nset = "alpha158"\n'
WORKFLOWS = [  # (name, file text, regex of the one stderr line) - all exit 2, nothing ingested
    ("horizon_abc", BASE + FACTORS + 'horizon = "abc"\n', r"\[\[factors\]\] 0 horizon: must be an integer, got 'abc'"),
    ("horizon_huge", BASE + FACTORS + "horizon = 1e30\n", r"horizon: must be an integer, got 1e\+30"),
    ("horizon_inf", BASE + FACTORS + "horizon = inf\n", r"horizon: must be an integer, got inf"),
    ("horizon_0", BASE + FACTORS + "horizon = 0\n", r"horizon: must be in 1..250, got 0"),
    ("quantiles_0", BASE + FACTORS + "quantiles = 0\n", r"quantiles: must be in 2..20, got 0"),
    ("markup_model", BASE + MODEL.replace('name = "m"', 'name = "[/]m"'), r"bad \[\[models\]\] 0 name '\[/\]m'"),
    ("markup_workflow", 'name = "[/]m"\n' + BASE + MODEL, r"bad name '\[/\]m'"),
    ("nul_name", 'name = "a\\u0000b"\n' + BASE + MODEL, r"bad name 'a\\x00b'"),
    ("slash_backtest", BASE + MODEL + '[[backtests]]\nname = "../x"\nk = 5\n', r"bad \[\[backtests\]\] 0 name '\.\./x'"),
    ("slash_model", BASE + MODEL.replace('name = "m"', 'name = "a/b"'), r"bad \[\[models\]\] 0 name 'a/b'"),
    ("k_five", BASE + MODEL + '[[backtests]]\nk = "five"\n', r"\[\[backtests\]\] 0.k: must be an integer, got 'five'"),
    ("k_inf", BASE + MODEL + "[[backtests]]\nk = inf\n", r"\[\[backtests\]\] 0.k: must be an integer, got inf"),
    ("stocks_negative", BASE.replace("stocks = 60", "stocks = -5") + MODEL, r"stocks must be in \[10, 5000\], got -5"),
    ("factor_dotdot", BASE + '[[factors]]\nname = "f"\n[factors.formulas]\n".." = "$close"\n', r"bad factor name '\.\.'"),
    ("long_name", 'name = "' + "a" * 100_000 + '"\n' + BASE + MODEL, r"at most 128 characters, got 100,000"),
    ("params_type", BASE + MODEL + 'params = { alpha = "strong" }\n', r"params.alpha: must be a number, got 'strong'"),
    ("retrain_abc", BASE + MODEL.replace('test = "2020', 'retrain_months = "abc"\ntest = "2020'),
     r"split.retrain_months: must be an integer, got 'abc'"),
    ("deep", "a = " + "[" * 50_000 + "]" * 50_000 + "\n", r"nested more than 24 levels deep"),
]


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    with pytest.raises(SystemExit) as ex:
        main(args)
    out = capsys.readouterr()
    return int(ex.value.code or 0), out.err.strip()


@pytest.mark.parametrize("name, text, pattern", WORKFLOWS, ids=[w[0] for w in WORKFLOWS])
def test_bad_workflow_values_are_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                         name: str, text: str, pattern: str) -> None:
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    home = tmp_path / "home"
    code, err = _cli(["run", str(path), "--home", str(home)], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and re.search(pattern, err), err
    assert not (home / "market.duckdb").exists() and not (home / "experiments").exists()


@pytest.mark.parametrize("payload, pattern", [(b"\x00\x01\x02\xff" * 10, r"is not UTF-8 text"),
                                              ('name = "caf\xe9"\n'.encode("latin-1"), r"is not UTF-8 text \(byte 11\)"),
                                              (b'name = "x"\n\x00', r"holds a NUL byte")])
def test_binary_and_latin1_workflow_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], payload: bytes,
                                          pattern: str) -> None:
    path = tmp_path / "w.toml"
    path.write_bytes(payload)
    code, err = _cli(["run", str(path), "--home", str(tmp_path / "home")], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and re.search(pattern, err), err


@pytest.mark.parametrize("capitals", ["nan,1e8", "1e7,inf", "-1e7,1e8", "0,1e8"])
def test_capacity_levels_must_be_finite_and_positive(capitals: str, capsys: pytest.CaptureFixture[str],
                                                     tmp_path: Path) -> None:
    code, err = _cli(["capacity", "--run", "x", "--capitals", capitals, "--home", str(tmp_path)], capsys)
    assert code == 2 and err.startswith("error: bad --capitals") and len(err.splitlines()) == 1, err


def test_safe_names_and_the_id_resolver(tmp_path: Path) -> None:
    for bad in ("", "..", "../x", "/etc", "a/b", "a\x00b", "[/]m", "x" * 129, ".hidden", "a b"):
        with pytest.raises(UsageError):
            safe_name(bad)
    base = tmp_path / "runs"
    (base / "abc123").mkdir(parents=True)
    (base / "abd999").mkdir()
    (tmp_path / "outside").mkdir()
    (base / "escape").symlink_to(tmp_path / "outside")
    assert resolve_id(base, "abc", "run") == base / "abc123"
    with pytest.raises(FlyerError, match="ambiguous"):
        resolve_id(base, "ab", "run")
    with pytest.raises(FlyerError, match="no run 'zzz'"):
        resolve_id(base, "zzz", "run")
    for hostile in ("/etc", "../runs/abc123", "..", "abc/.."):
        with pytest.raises(UsageError):
            resolve_id(base, hostile, "run")
    with pytest.raises(UsageError, match="leads outside"):
        resolve_id(base, "escape", "run")


@pytest.mark.parametrize("ident", ["/etc", "../runs/abc", "/any/dir"])
def test_compare_refuses_paths_for_ids(ident: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "backtests").mkdir()
    code, err = _cli(["compare", ident, "x", "--home", str(tmp_path)], capsys)
    assert code == 2 and len(err.splitlines()) == 1 and "use letters, digits" in err, err


def test_one_damaged_experiment_never_breaks_the_listing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = tmp_path / "experiments"
    good, bad, odd = base / "aaa111", base / "bbb222", base / "ccc333"
    for p in (good, bad, odd):
        p.mkdir(parents=True)
    (good / "summary.json").write_text(json.dumps({"name": "ok", "created": "2026-01-01", "backtests": []}))
    (bad / "summary.json").write_text("{not json")
    (odd / "summary.json").write_text(json.dumps({"backtests": "not a list of tables"}))
    code, out = _cli(["experiments", "--home", str(tmp_path)], capsys)
    printed = capsys.readouterr()
    from flyer.experiments import list_experiments

    rows = {r["id"]: r["status"] for r in list_experiments(tmp_path).iter_rows(named=True)}
    assert rows == {"aaa111": "complete", "bbb222": "damaged", "ccc333": "damaged"}
    code, err = _cli(["compare", "bbb222", "aaa111", "--home", str(tmp_path)], capsys)
    assert code == 1 and "summary.json unreadable" in err and len(err.splitlines()) == 1, err
    del printed, out
