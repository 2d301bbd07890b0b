"""Run identity by content: the id hashes the whole config with the factor set's content key;
a folder is never overwritten by another config; the same config reuses its run; a run scores
later days from the formulas it saved; no import cycles inside flyer.models."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.core.errors import FlyerError
from flyer.models.config import Params, from_dict, make_config, to_dict
from flyer.models.pipeline import train
from flyer.models.predict import predict_day
from flyer.models.runs import list_runs, load_run
from models_kit import D, config

FORMULAS = 'ROC5 = "Ref($close, 5)/$close"\nSTD10 = "Std($close, 10)/$close"\nVMA5 = "Mean($volume, 5)/($volume+1)"\n'
SHORT = {"train": (D(2019, 1, 1), D(2019, 12, 31)), "valid": (D(2020, 1, 1), D(2020, 3, 31)),
         "test": (D(2020, 4, 1), D(2020, 6, 30))}


def _cfg(path: Path, **kw):
    return config("linear", factors=str(path), lookback=0, **SHORT, **kw)


def test_config_is_hashable_and_round_trips(tmp_path: Path) -> None:
    a = config("lgbm", params={"num_leaves": 7, "eval_at": [10, 50]})
    assert isinstance(a.model.params, Params) and a.model.params["eval_at"] == (10, 50)
    assert a.model.params == dict(a.model.params) and hash(a) == hash(config("lgbm", params={"eval_at": [10, 50], "num_leaves": 7}))
    assert len({a, config("lgbm", params={"num_leaves": 7, "eval_at": [10, 50]}), config("lgbm")}) == 2
    back = from_dict(json.loads(json.dumps(to_dict(a))))
    assert back == a and back.key() == a.key()


def test_id_hashes_content_not_name_or_path(tmp_path: Path) -> None:
    f1, f2 = tmp_path / "one.toml", tmp_path / "sub" / "two.toml"
    f2.parent.mkdir()
    f1.write_text(FORMULAS)
    f2.write_text(FORMULAS.replace('"Ref($close, 5)/$close"', '"Ref( $close,5 ) / $close"'))  # same formula
    a, b = _cfg(f1), _cfg(f2)
    assert a.data.factors != b.data.factors and a.data.factor_key == b.data.factor_key and a.key() == b.key()
    f2.write_text(FORMULAS.replace("Std($close, 10)", "Std($close, 20)"))
    assert _cfg(f2).key() != a.key()  # an edited formula
    assert _cfg(f1, params={"alpha": 2.0}).key() != a.key() and _cfg(f1, seed=1).key() != a.key()
    assert _cfg(f1, label_horizon=2).key() != a.key()
    made = _cfg(f2)
    f2.write_text(FORMULAS)
    with pytest.raises(FlyerError, match="changed since this config was made"):  # edited under a made config
        train(None, made, home=tmp_path)
    gru = make_config("gru", SHORT["train"], SHORT["valid"], SHORT["test"], factors="no such file")
    assert gru.data.factor_key == "none"  # OHLCV windows read no factor set


def test_edit_gives_new_run_and_same_config_reuses(mstore, tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(FORMULAS)
    first = train(mstore, _cfg(f), home=tmp_path)
    assert not first.reused and (first.path / "factors.json").exists()
    saved = json.loads((first.path / "factors.json").read_text())
    assert saved["key"] == first.config.data.factor_key and [n for n, _ in saved["formulas"]] == ["ROC5", "STD10", "VMA5"]
    created = first.meta["created"]
    again = train(mstore, _cfg(f), home=tmp_path)
    assert again.reused and again.id == first.id and again.meta["created"] == created
    forced = train(mstore, _cfg(f), home=tmp_path, force=True)
    assert not forced.reused and forced.id == first.id
    assert forced.predictions().equals(first.predictions())  # deterministic retrain into the same id
    f.write_text(FORMULAS.replace("Std($close, 10)", "Std($close, 20)"))
    edited = train(mstore, _cfg(f), home=tmp_path)
    assert edited.id != first.id and not edited.reused
    assert sorted(list_runs(tmp_path)["id"].to_list()) == sorted([first.id, edited.id])
    # the old run scores from the formulas it saved, not from the edited file
    day = first.predictions()["date"].max()
    old = predict_day(load_run(tmp_path, first.id), mstore, day)
    ref = first.predictions().filter(pl.col("date") == day)
    j = ref.join(old, on=["date", "symbol"], how="inner")
    assert j.height == ref.height and np.allclose(j["score"], j["score_right"], atol=1e-6)


def test_tampered_config_is_refused(mstore, tmp_path: Path) -> None:
    f = tmp_path / "mine.toml"
    f.write_text(FORMULAS)
    cfg = _cfg(f)
    run = train(mstore, cfg, home=tmp_path)
    raw = json.loads((run.path / "config.json").read_text())
    raw["data"]["label_horizon"] = 5
    (run.path / "config.json").write_text(json.dumps(raw))
    with pytest.raises(FlyerError, match=f"run {run.id}: its config.json and data.json hash to"):
        load_run(tmp_path, run.id)
    with pytest.raises(FlyerError, match=r"different config or data .*data.label_horizon: 5 in the folder, 1 now"):
        train(mstore, cfg, home=tmp_path)
    with pytest.raises(FlyerError, match="different config or data"):
        train(mstore, cfg, home=tmp_path, force=True)
    assert json.loads((run.path / "config.json").read_text())["data"]["label_horizon"] == 5  # left as it was


def test_cli_reuse_message_force_and_runs_table(models_home: Path, tmp_path: Path,
                                                console_width: Callable[[int], None]) -> None:
    import shutil

    from flyer.cli import app

    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(models_home / "market.duckdb", home / "market.duckdb")
    args = ["train", "--model", "linear", "--factors", "basic", "--train", "2019-01-01:2019-12-31",
            "--valid", "2020-01-01:2020-03-31", "--test", "2020-04-01:2020-06-30", "--home", str(home)]
    r1 = CliRunner().invoke(app, args)
    assert r1.exit_code == 0, r1.output
    (rid,) = list_runs(home)["id"].to_list()
    r2 = CliRunner().invoke(app, args)
    assert r2.exit_code == 0 and f"run {rid} exists with the same config and data: reused" in r2.output
    r3 = CliRunner().invoke(app, [*args, "--force"])
    assert r3.exit_code == 0 and "reused" not in r3.output and rid in r3.output
    console_width(100)
    r = CliRunner().invoke(app, ["runs", "--home", str(home)])
    assert r.exit_code == 0, r.output
    row = list_runs(home).row(0, named=True)
    line = next(x for x in r.output.splitlines() if x.startswith(rid))
    assert row["created"][2:16].replace("T", " ") in line and f"{row['RankIC']:.3f}" in line  # nothing cut
    fit = f"-/{min(round(row['distinct'] * 100), 99)}"
    assert line.rstrip().split()[-3:] == ["-", "-", fit]  # no backtest yet (excess, IR); a ridge: no trees
    table = [x for x in r.output.splitlines() if not x.startswith("excess / yr")]  # the footnote is prose: it wraps
    assert max(len(x) for x in table) <= 100
    console_width(80)
    narrow = CliRunner().invoke(app, ["runs", "--home", str(home)])
    table = [x for x in narrow.output.splitlines() if not x.startswith("excess / yr")]
    assert max(len(x) for x in table) <= 80 and "(2/2)" in narrow.output  # split, not cut


def _imports(path: Path) -> set[str]:
    """Every ``flyer.models.*`` module a file imports, at module level or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("flyer.models"):
            names = [f"{node.module}.{a.name}" for a in node.names]
            out |= {n for n in names if (MODELS / f"{n.rsplit('.', 1)[1]}.py").exists()} or {node.module}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("flyer.models")}
    return {m for m in out if m != "flyer.models"}


MODELS = Path(__file__).resolve().parents[2] / "models"


def test_models_has_no_import_cycles_even_through_lazy_imports() -> None:
    graph = {f"flyer.models.{p.stem}": _imports(p) for p in MODELS.glob("*.py") if p.stem != "__init__"}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, f"import cycle: {' -> '.join([*path, node, nxt])}"
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for mod in graph:
        if mod not in state:
            visit(mod, [])
    assert "flyer.models.predict" not in graph["flyer.models.runs"]
    assert "flyer.models.torch_learner" not in graph["flyer.models.registry"]


def test_registry_maps_every_kind_without_importing_torch() -> None:
    code = ("import sys; from flyer.models.registry import LEARNERS; from flyer.models.config import MODEL_KINDS; "
            "assert list(LEARNERS) == list(MODEL_KINDS); assert 'torch' not in sys.modules and 'lightgbm' not in sys.modules; "
            "assert LEARNERS['linear'].__name__ == 'RidgeLearner' and 'torch' not in sys.modules; "
            "assert LEARNERS['gru'].__name__ == 'TorchLearner'; print('ok')")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


def test_which_runs_score_from_stored_values(mstore, tmp_path: Path) -> None:
    """Cross-sectional factors of a universe-restricted run are computed over that universe, so
    such a run (like a built-in feature set or a sequence model) is scored from bars."""
    from flyer.models.predict import stored_set

    f = tmp_path / "cs.toml"
    f.write_text('R5 = "CSRank(Ref($close, 5)/$close)"\nS = "Std($close, 10)/$close"\n')
    whole = train(mstore, _cfg(f), home=tmp_path)
    fs, why = stored_set(whole)
    assert fs is not None and fs.key() == whole.config.data.factor_key and why == ""
    csi = train(mstore, _cfg(f, universe="csi500"), home=tmp_path)
    assert stored_set(csi) == (None, "cross-sectional factors over universe csi500 differ from whole-market values")
    basic = train(mstore, config("linear", **SHORT), home=tmp_path)
    assert stored_set(basic) == (None, "built-in feature set 'basic' is not stored")
