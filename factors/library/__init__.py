"""Factor libraries: ``alpha158``, ``alpha360``, ``wq101`` and user files of ``name = formula``.

``load(name_or_path) -> FactorSet``: a built-in name, or a path to a ``.toml`` file
(``NAME = "formula"`` lines, optionally under a ``[factors]`` table) or a ``.yaml``/``.yml`` file
(a mapping, optionally under a ``factors`` key). A file with a ``[factors]`` table may also have a
``[weights]`` table (``NAME = number`` for every factor: a mined pool's combination weights,
``FactorSet.weights``); an explicit but empty ``[factors]`` table is an empty set (an empty pool).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from flyer.factors.factorset import FactorSet

from flyer.core.errors import FlyerError

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
    formulas, weights = read_formula_file(path), read_weights(path)
    if weights is not None and set(weights) != set(formulas):
        odd = sorted(set(weights) ^ set(formulas))
        raise FlyerError(f"{path}: [weights] must name exactly the factors (differs on {', '.join(odd)})")
    return FactorSet.from_formulas(path.stem, formulas, weights=weights)


def _read_doc(path: Path) -> object:
    from flyer.core.config import read_file

    return read_file(path, what="factor file")


def read_formula_file(path: Path) -> dict[str, str]:
    """``{name: formula}`` from a TOML or YAML file (see module docstring)."""
    data = _read_doc(path)
    if isinstance(data, dict) and isinstance(data.get("factors"), dict):
        if not data["factors"]:
            return {}
        data = data["factors"]
    if not isinstance(data, dict) or not data:
        raise FlyerError(f"{path}: expected a mapping of name = formula")
    bad = [k for k, v in data.items() if not isinstance(v, (str, int, float))]
    if bad:
        raise FlyerError(f"{path}: factor {bad[0]!r} is not a formula string")
    return {str(k): str(v) for k, v in data.items()}


def read_weights(path: Path) -> dict[str, float] | None:
    """``{name: weight}`` from the ``[weights]`` table (``weights`` key) of a factor file, or None."""
    data = _read_doc(path)
    table = data.get("weights") if isinstance(data, dict) and isinstance(data.get("factors"), dict) else None
    if table is None:
        return None
    bad = [k for k, v in table.items() if isinstance(v, bool) or not isinstance(v, (int, float))] \
        if isinstance(table, dict) else ["weights"]
    if bad:
        raise FlyerError(f"{path}: weight {bad[0]!r} is not a number")
    return {str(k): float(v) for k, v in table.items()}
