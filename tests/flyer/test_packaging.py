"""Packaging: one ``flyer`` namespace that a user's own ``models.py`` or ``data/`` cannot shadow,
every package folder installed, a wheel that works on its own, and no bare imports left."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"flyer": "flyer", "flyer.data": "data", "flyer.factors": "factors", "flyer.models": "models",
           "flyer.backtest": "backtest", "flyer.risk": "risk"}


def _py(code: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.fixture()
def research_folder(tmp_path: Path) -> Path:
    """A typical research folder: files and packages named like flyer's areas."""
    (tmp_path / "models.py").write_text("raise ImportError('the user models.py was imported')\n")
    (tmp_path / "factors.py").write_text("raise ImportError('the user factors.py was imported')\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "__init__.py").write_text("raise ImportError('the user data/ was imported')\n")
    (tmp_path / "backtest").mkdir()
    (tmp_path / "backtest" / "strategy.py").write_text("X = 1\n")
    return tmp_path


def test_user_modules_do_not_shadow_flyer(research_folder: Path, tmp_path: Path) -> None:
    code = ("from flyer import models, data, factors, backtest\n"
            "from flyer.data.store import MarketStore\n"
            "from flyer.models import make_config\n"
            "from flyer.backtest import BacktestConfig\n"
            "import flyer.factors.library as lib\n"
            "print(models.__name__, data.__name__, factors.__name__, backtest.__name__, len(lib.load('alpha158')))")
    r = _py(code, research_folder)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["flyer.models", "flyer.data", "flyer.factors", "flyer.backtest", "158"]
    home = tmp_path / "home"
    r = subprocess.run([sys.executable, "-m", "flyer", "ingest", "--source", "sim", "--stocks", "20", "--start",
                        "2020-01-01", "--end", "2020-04-30", "--home", str(home)], cwd=research_folder,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([sys.executable, "-m", "flyer", "info", "--home", str(home)], cwd=research_folder,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "000905.SH" in r.stdout, r.stderr


def test_every_package_folder_is_installed() -> None:
    """Each folder with an ``__init__.py`` under the mapped roots is listed in pyproject.toml."""
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == FOLDERS
    found = set()
    for pkg, folder in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).parts
            found.add(".".join((pkg, *rel)))
    assert found == set(tool["packages"])


def test_no_bare_imports_of_the_areas() -> None:
    bare = re.compile(r"^\s*\"?\s*(from|import) (data|models|factors|backtest)\b")
    hits = []
    for path in ROOT.rglob("*"):
        if path.suffix not in (".py", ".ipynb") or ".venv" in path.parts or "build" in path.parts:
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if bare.search(line):
                hits.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()}")
    assert not hits, hits


@pytest.mark.slow
def test_wheel_installs_and_runs_on_its_own(tmp_path: Path, research_folder: Path) -> None:
    """``pip wheel .`` -> install into a folder -> the CLI and the API run from the wheel's files
    (the dependencies come from this environment)."""
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(wheels)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    (wheel,) = wheels.glob("flyer-*.whl")
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    env = {"PYTHONPATH": str(target)}
    r = _py("import flyer, flyer.data.store, flyer.models, flyer.backtest.engine, flyer.factors.mining;"
            "print(flyer.__file__, flyer.data.store.__file__)", research_folder, env)
    assert r.returncode == 0, r.stderr
    assert all(p.startswith(str(target)) for p in r.stdout.split()), r.stdout
    home = tmp_path / "home"
    r = subprocess.run([sys.executable, "-m", "flyer", "ingest", "--source", "sim", "--stocks", "20", "--start",
                        "2020-01-01", "--end", "2020-04-30", "--home", str(home)], cwd=research_folder,
                       capture_output=True, text=True, timeout=300, env={**os.environ, **env})
    assert r.returncode == 0, r.stderr
