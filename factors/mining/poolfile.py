"""The mined pool on disk: a factor-set TOML file with its weights and how it was mined.

Layout (``flyer.factors.library.load`` reads ``[factors]`` and ``[weights]``; older readers
ignore the other tables)::

    # flyer mine ... (comments: the run and each member's statistics)
    [factors]
    mined_001 = "Corr($close, $volume, 10)"
    [weights]
    mined_001 = -0.4127
    [pool]
    universe = "csi500"      # whose point-in-time members the cross sections rank over
    norm = "rank"            # per-date standardisation before weighting
    horizon = 20
    ...

An empty pool is a valid file with empty ``[factors]`` and ``[weights]`` tables; loading it
gives an empty factor set.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flyer.factors.factorset import FactorSet
from flyer.factors.mining.state import PoolEntry

from flyer.core.atomic import atomic_text
from flyer.core.errors import FlyerError


@dataclass(frozen=True)
class PoolFile:
    """A loaded pool: its factor set (with weights) and the ``[pool]`` table (may be empty)."""

    factor_set: FactorSet
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def weights(self) -> tuple[float, ...]:
        return self.factor_set.weights or ()

    @property
    def universe(self) -> str:
        return str(self.meta.get("universe", "all"))

    @property
    def norm(self) -> str:
        return str(self.meta.get("norm", "rank"))


def _toml_value(v: Any) -> str:
    """A TOML literal: booleans, integers, floats (``repr``: exact; nan/inf are TOML too), strings."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    return json.dumps(str(v))


def write_pool(path: Path, pool: tuple[PoolEntry, ...] | list[PoolEntry], weights: tuple[float, ...] | list[float],
               meta: dict[str, Any], header: str = "") -> None:
    """Save the pool (see module docstring) atomically; stats of each member as comments."""
    if len(weights) != len(pool):
        raise ValueError(f"{len(weights)} weights for {len(pool)} pool members")
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    lines.append("[factors]")
    for p in pool:
        lines.append(f"# train IC {p.train_ic:.4f} ICIR {p.train_icir:.3f} | valid IC {p.valid_ic:.4f} "
                     f"ICIR {p.valid_icir:.3f} | {p.nodes} nodes, generation {p.generation + 1}")
        lines.append(f"{p.name} = {json.dumps(p.formula)}")
    lines += ["", "[weights]"] + [f"{p.name} = {float(w)!r}" for p, w in zip(pool, weights)]
    lines += ["", "[pool]"] + [f"{k} = {_toml_value(v)}" for k, v in meta.items()]
    atomic_text("\n".join(lines) + "\n", path)


def read_pool(path: Path) -> PoolFile:
    """A pool file (or any factor file with ``[weights]``); FlyerError when it has no weights."""
    from flyer.factors.library import load

    fs = load(path)
    if len(fs) and fs.weights is None:
        raise FlyerError(f"{path}: no [weights] table: a combined score needs a weighted pool (flyer mine writes one)")
    from flyer.core.config import read_file

    doc = read_file(path, what="factor pool")
    meta = doc.get("pool")
    return PoolFile(fs, dict(meta) if isinstance(meta, dict) else {})
