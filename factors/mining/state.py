"""The miner's settings, pool entries, per-generation reports and checkpoint files.

``SearchConfig`` is frozen and serialisable; with the data's description it is the identity a
checkpoint is written for (``save_checkpoint`` / ``load_checkpoint``, atomic JSON), so a rerun
of the same command resumes and a different one starts afresh. Floats round-trip exactly
through JSON, so a resumed run continues bit for bit.
"""
from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flyer.factors.mining.grammar import Grammar
from flyer.factors.mining.pool import DEFAULT_RIDGE, PoolStats

from flyer.core.errors import FlyerError

CHECKPOINT_VERSION = 2
OBJECTIVES = ("pool", "single")


@dataclass(frozen=True)
class SearchConfig:
    """Budget, genetic operators, objective and acceptance settings of a search.

    ``objective``: ``pool`` (fitness = gain in the pool's combined training IC; accepted when the
    validation IC rises too) or ``single`` (fitness = the formula's |training ICIR| discounted by
    its correlation with the pool; accepted on thresholds). ``None`` settings take the
    objective's default (``penalty``, ``corr_bound``).
    """

    objective: str = "pool"
    population: int = 100
    generations: int = 10
    seed: int = 0
    tournament: int = 4
    elite: int = 4
    p_crossover: float = 0.5
    p_subtree: float = 0.25            # the rest is point mutation
    complexity_penalty: float | None = None   # fitness per node (pool: 1e-4 IC, single: 0.005 ICIR)
    max_corr: float | None = None      # reject a candidate this correlated with a member (pool 0.9, single 0.7)
    max_pool: int = 20
    accept_per_generation: int = 2
    norm: str = "rank"                 # per-date standardisation: rank | zscore
    ridge: float = DEFAULT_RIDGE
    min_valid_gain: float = 0.0        # pool: the validation IC must rise by more than this
    corr_penalty: float = 1.0          # single
    min_train_icir: float = 0.15       # single
    min_valid_ratio: float = 0.3       # single
    grammar: Grammar = field(default_factory=Grammar)
    seeds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise FlyerError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.population < 2 or self.generations < 1 or self.tournament < 1:
            raise FlyerError("population must be >= 2, generations >= 1, tournament >= 1")
        if not 0 <= self.elite < self.population:
            raise FlyerError("elite must be in [0, population)")
        if self.max_pool < 1 or self.accept_per_generation < 1:
            raise FlyerError("max_pool and accept_per_generation must be >= 1")
        if self.norm not in ("rank", "zscore"):
            raise FlyerError(f"norm must be rank or zscore, got {self.norm!r}")

    @property
    def penalty(self) -> float:
        if self.complexity_penalty is not None:
            return self.complexity_penalty
        return 1e-4 if self.objective == "pool" else 0.005

    @property
    def corr_bound(self) -> float:
        if self.max_corr is not None:
            return self.max_corr
        return 0.9 if self.objective == "pool" else 0.7

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass(frozen=True)
class PoolEntry:
    """A pool member. ``formula`` is what the pool combines (single objective: sign-adjusted so
    that higher is better; pool objective: as found, its weight carries the sign); ``key`` is the
    canonical text of the candidate as found. ICs are mean daily ICs of the standardised formula
    with the standardised label (rank norm: RankICs), fractions; ``generation`` is 0-based."""

    name: str
    formula: str
    key: str
    train_ic: float
    train_icir: float
    valid_ic: float
    valid_icir: float
    nodes: int
    generation: int
    coverage: float


@dataclass(frozen=True)
class GenerationReport:
    """What happened in one generation (deterministic: serial and parallel runs agree).

    ``train_ic``/``valid_ic``: the pool's combined IC after the generation (closed form)."""

    generation: int
    evaluated: int
    failed: int
    best_fitness: float
    best_formula: str
    accepted: tuple[str, ...]
    dropped: tuple[str, ...]
    pool_size: int
    train_ic: float
    valid_ic: float


@dataclass
class SearchState:
    """Everything a resumed run needs (see ``save_checkpoint``)."""

    generation: int
    population: list[str]
    pool: list[PoolEntry]
    stats: PoolStats
    next_id: int
    rng_state: Any
    seen: set[str]
    history: list[GenerationReport] = field(default_factory=list)


def save_checkpoint(path: Path, state: SearchState, identity: dict[str, Any]) -> None:
    """Write the state as JSON atomically (temp file + rename in the same folder)."""
    doc = {"version": CHECKPOINT_VERSION, "identity": identity, "generation": state.generation,
           "population": state.population, "pool": [dataclasses.asdict(p) for p in state.pool],
           "stats": state.stats.to_json(), "next_id": state.next_id,
           "rng_state": state.rng_state, "seen": sorted(state.seen),
           "history": [dataclasses.asdict(h) for h in state.history]}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(doc, allow_nan=True), encoding="utf-8")
    os.replace(tmp, path)


def load_checkpoint(path: Path, identity: dict[str, Any]) -> SearchState | None:
    """The saved state if ``path`` exists and was written for the same identity, else None."""
    if not path.exists():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if doc.get("version") != CHECKPOINT_VERSION or doc.get("identity") != jsonable(identity):
        return None
    rs = doc["rng_state"]
    hist = [GenerationReport(**{**h, "accepted": tuple(h["accepted"]), "dropped": tuple(h["dropped"])})
            for h in doc["history"]]
    return SearchState(doc["generation"], doc["population"], [PoolEntry(**p) for p in doc["pool"]],
                       PoolStats.from_json(doc["stats"]), doc["next_id"], (rs[0], tuple(rs[1]), rs[2]),
                       set(doc["seen"]), hist)


def jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))
