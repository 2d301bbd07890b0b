"""Factor set content keys and the key-named storage layout: edited formulas, the qlib-compat
mode and the engine version each get their own folder; old name-keyed folders are never read."""
from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from flyer.data.store import MarketStore
from flyer.core.errors import FlyerError
from flyer.factors import FactorSet, factorset, storage
from flyer.factors.library import load
from flyer.factors.pipeline import factor_values, update

D0, D1, D2 = dt.date(2020, 6, 1), dt.date(2020, 6, 12), dt.date(2020, 6, 19)


@pytest.fixture()
def home(sim_home: Path, tmp_path: Path) -> Path:
    dst = tmp_path / "home"
    dst.mkdir()
    shutil.copy(sim_home / "market.duckdb", dst / "market.duckdb")
    return dst


def test_key_is_content_not_name() -> None:
    a = FactorSet.from_formulas("a", {"M5": "Mean($close, 5)/$close", "R": "Ref($close,1)"})
    assert a.key() == FactorSet.from_formulas("other_name", {"M5": "Mean( $close,5 ) / $close", "R": "Ref($close, 1)"}).key()
    assert len(a.key()) == 12
    assert a.key() != FactorSet.from_formulas("a", {"R": "Ref($close,1)", "M5": "Mean($close, 5)/$close"}).key()  # order
    assert a.key() != FactorSet.from_formulas("a", {"M5x": "Mean($close, 5)/$close", "R": "Ref($close,1)"}).key()  # names
    assert a.key() != FactorSet.from_formulas("a", {"M5": "Mean($close, 6)/$close", "R": "Ref($close,1)"}).key()
    assert a.key() != a.key(qlib_compat=True)


def test_engine_version_is_part_of_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    fs = load("alpha158")
    before = fs.key()
    monkeypatch.setattr(factorset, "ENGINE_VERSION", factorset.ENGINE_VERSION + 1)
    assert fs.key() != before


def test_modes_and_edits_get_their_own_folders(home: Path, tmp_path: Path) -> None:
    toml = tmp_path / "mine.toml"
    toml.write_text('ROC5 = "Ref($close, 5)/$close"\nSTD10 = "Std($close, 10)/$close"\n')
    with MarketStore.open(home, read_only=True) as store:
        plain = update(store, home, load(toml), D0, D1)
        compat = update(store, home, load(toml), D0, D1, qlib_compat=True)
        assert plain.root != compat.root and plain.dates_written == compat.dates_written == 10
        toml.write_text('ROC5 = "Ref($close, 5)/$close"\nSTD10 = "Std($close, 20)/$close"\n')  # edited
        edited = update(store, home, load(toml))  # continues only its own folder: from the start
    assert len({plain.root, compat.root, edited.root}) == 3
    assert edited.first == store_first(home) and storage.stored_dates(Path(plain.root))[-1] == D1
    for rep, compat_mode in ((plain, False), (compat, True)):
        man = json.loads((Path(rep.root) / storage.MANIFEST).read_text())
        assert man["name"] == "mine" and man["qlib_compat"] is compat_mode and man["key"] == Path(rep.root).name
        assert list(man["formulas"]) == ["ROC5", "STD10"] and man["engine"] == factorset.ENGINE_VERSION
    a = storage.read(Path(plain.root), D0, D1)
    b = storage.read(Path(compat.root), D0, D1)
    assert a.shape == b.shape and not a.equals(b)  # float32 rounding in qlib mode


def store_first(home: Path) -> dt.date:
    with MarketStore.open(home, read_only=True) as store:
        return store.calendar()[0]


def test_manifest_guards_the_folder(home: Path) -> None:
    fs = FactorSet.from_formulas("s", {"R": "Ref($close, 1)/$close"})
    root = storage.set_root(home, fs)
    with MarketStore.open(home, read_only=True) as store:
        update(store, home, fs, D0, D1)
        man = json.loads((root / storage.MANIFEST).read_text())
        man["formulas"]["R"] = "Ref($close, 2)/$close"
        (root / storage.MANIFEST).write_text(json.dumps(man))
        with pytest.raises(FlyerError, match="describes other factors"):
            update(store, home, fs, D1, D2)
    with pytest.raises(FlyerError, match="no manifest"):
        storage.write(pl.DataFrame({"date": [D0], "symbol": ["x"], "R": [1.0]}), home / "factors" / "nope")


def test_old_layout_is_not_read(home: Path) -> None:
    fs = load("alpha158").select(["KMID", "ROC5"])
    with MarketStore.open(home, read_only=True) as store:
        update(store, home, fs, D0, D1)
        fresh = factor_values(store, home, fs, D0, D1)
        # an old name-keyed folder holding wrong values for the same dates
        legacy = home / "factors" / fs.name
        shutil.copytree(storage.set_root(home, fs), legacy)
        (legacy / storage.MANIFEST).unlink()
        part = legacy / f"date={D0}" / storage.PART
        pl.read_parquet(part).with_columns(pl.lit(99.0).alias("KMID")).write_parquet(part)
        assert storage.stored_dates(legacy) == []
        assert factor_values(store, home, fs, D0, D1).equals(fresh)
    listed = {s.root.name: s for s in storage.list_sets(home)}
    assert listed[fs.name].legacy and not listed[fs.key()].legacy
    from flyer.cli import app

    r = CliRunner().invoke(app, ["factors", "list", "--home", str(home)])
    assert r.exit_code == 0, r.output
    assert load("alpha158").key() in r.output and fs.key() in r.output
    assert f"factors/{fs.name}/" in r.output and "old layout" in r.output
