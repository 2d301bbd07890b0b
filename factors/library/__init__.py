"""Factor libraries: ``alpha158``, ``alpha360``, ``wq101`` and user files of ``name = formula``.

``load(name_or_path) -> FactorSet``: a built-in name, or a path to a ``.toml`` file
(``NAME = "formula"`` lines, optionally under a ``[factors]`` table) or a ``.yaml``/``.yml`` file
(a mapping, optionally under a ``factors`` key).
"""
from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Callable

import yaml

from flyer.factors.factorset import FactorSet
from flyer.errors import FlyerError

from . import alpha158, alpha360, wq101

BUILTIN: dict[str, Callable[[], dict[str, str]]] = {
    "alpha158": alpha158.formulas,
    "alpha360": alpha360.formulas,
    "wq101": wq101.formulas,
}


def names() -> list[str]:
    """Names of the built-in libraries."""
    return sorted(BUILTIN)


def load(name_or_path: str | Path) -> FactorSet:
    """A built-in factor set by name, or a user's TOML/YAML file of ``name = formula``."""
    key = str(name_or_path)
    if key.lower() in BUILTIN:
        return FactorSet.from_formulas(key.lower(), BUILTIN[key.lower()]())
    path = Path(key).expanduser()
    if not path.exists():
        raise FlyerError(f"unknown factor set {key!r}: not one of {', '.join(names())} and no such file")
    return FactorSet.from_formulas(path.stem, read_formula_file(path))


def read_formula_file(path: Path) -> dict[str, str]:
    """``{name: formula}`` from a TOML or YAML file (see module docstring)."""
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            data = yaml.safe_load(text) or {}
        else:
            raise FlyerError(f"{path}: factor files must be .toml, .yaml or .yml")
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise FlyerError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from exc
    if isinstance(data, dict) and isinstance(data.get("factors"), dict):
        data = data["factors"]
    if not isinstance(data, dict) or not data:
        raise FlyerError(f"{path}: expected a mapping of name = formula")
    bad = [k for k, v in data.items() if not isinstance(v, (str, int, float))]
    if bad:
        raise FlyerError(f"{path}: factor {bad[0]!r} is not a formula string")
    return {str(k): str(v) for k, v in data.items()}
