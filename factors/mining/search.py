"""The genetic-programming driver: populations, selection, the accepted pool and checkpoints.

Algorithm (``mine``), one generation at a time:
  1. ``initial_population``: seed formulas, then ramped half-and-half random trees, deduplicated
     by canonical key;
  2. evaluate the candidates not seen in memory yet (``Evaluator.evaluate``; serial or Ray, see
     ``flyer.factors.mining.parallel``) -> ``EvalResult`` per formula;
  3. ``fitness``: |train RankIC ICIR| x (1 - corr_penalty x max |corr| with the pool)
     - complexity_penalty x nodes; failed candidates get -inf;
  4. ``accept``: the fittest candidates that pass on training (|ICIR| >= min_train_icir) and on
     validation (same sign, |valid IC| >= min_valid_ratio x |train IC|) and are not too close to
     the pool (max |corr| < max_corr) join it, sign-flipped so that higher is better;
  5. ``breed``: elites by fitness, then offspring by tournament selection and crossover /
     subtree / point mutation, never repeating a formula seen before in the run;
  6. write the checkpoint (``save_checkpoint``, atomic): generation, population, pool, RNG state
     and seen keys; a rerun with the same identity resumes from it (``generations`` is not part
     of the identity, so a finished run can be extended).

All randomness lives here, in one ``random.Random`` seeded by ``SearchConfig.seed``; evaluation
is deterministic, so serial and parallel runs and resumed runs give the same pool.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

import numpy as np

from flyer.factors.expr import Expr
from flyer.factors.mining.evaluate import EvalResult
from flyer.factors.mining.grammar import (Grammar, canonical, crossover, is_valid, point_mutation,
                                    ramped_population, random_tree, size_of, subtree_mutation)
from flyer.factors.parser import parse
from flyer.errors import FlyerError

CHECKPOINT_VERSION = 1


@dataclass(frozen=True)
class SearchConfig:
    """Budget, genetic operators, fitness and acceptance settings of a search."""

    population: int = 100
    generations: int = 10
    seed: int = 0
    tournament: int = 4
    elite: int = 4
    p_crossover: float = 0.5
    p_subtree: float = 0.25          # the rest is point mutation
    complexity_penalty: float = 0.005  # fitness per node
    corr_penalty: float = 1.0
    min_train_icir: float = 0.15
    min_valid_ratio: float = 0.3
    max_corr: float = 0.7
    max_pool: int = 20
    accept_per_generation: int = 2
    grammar: Grammar = field(default_factory=Grammar)
    seeds: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.population < 2 or self.generations < 1 or self.tournament < 1:
            raise FlyerError("population must be >= 2, generations >= 1, tournament >= 1")
        if not 0 <= self.elite < self.population:
            raise FlyerError("elite must be in [0, population)")

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self)))


@dataclass(frozen=True)
class PoolEntry:
    """An accepted factor: ``formula`` is sign-adjusted (higher is better); ``key`` is the
    canonical text of the candidate as found. ICs are mean daily rank ICs (fractions)."""

    name: str
    formula: str
    key: str
    train_ic: float
    train_icir: float
    valid_ic: float
    valid_icir: float
    nodes: int
    generation: int


@dataclass(frozen=True)
class GenerationReport:
    """What happened in one generation (``generation`` is 0-based)."""

    generation: int
    evaluated: int
    failed: int
    best_fitness: float
    best_formula: str
    accepted: tuple[str, ...]
    pool_size: int


@dataclass
class SearchState:
    """Everything a resumed run needs (see ``save_checkpoint``)."""

    generation: int
    population: list[str]
    pool: list[PoolEntry]
    rng_state: Any
    seen: set[str]
    history: list[GenerationReport] = field(default_factory=list)


@dataclass(frozen=True)
class MiningResult:
    pool: tuple[PoolEntry, ...]
    history: tuple[GenerationReport, ...]
    evaluated: int
    resumed_from: int = 0    # generations already done in the checkpoint this run started from


class Evaluator(Protocol):
    def evaluate(self, formulas: list[str],
                 progress: Callable[[int, int], None] | None = None) -> list[EvalResult]: ...


# ----------------------------------------------------------------------------- 1. init
def initial_population(rng: random.Random, cfg: SearchConfig) -> list[Expr]:
    """Seeds (canonical, invalid ones kept: they are tried once) then random trees, no repeats."""
    pop: dict[str, Expr] = {}
    for text in cfg.seeds:
        e = canonical(parse(text))
        pop.setdefault(e.key, e)
    attempts = 0
    while len(pop) < cfg.population and attempts < cfg.population * 20:
        for e in ramped_population(rng, cfg.grammar, cfg.population - len(pop)):
            pop.setdefault(e.key, e)
        attempts += cfg.population
    return list(pop.values())[:max(cfg.population, len(cfg.seeds))]


# ----------------------------------------------------------------------------- 3. fitness
def max_corr(sig: np.ndarray | None, pool_sigs: np.ndarray) -> float:
    """Max |mean daily rank correlation| of a signature (K, N) with the pool's (P, K, N)."""
    if sig is None or pool_sigs.shape[0] == 0:
        return 0.0
    corr = np.einsum("kn,pkn->p", sig.astype(np.float64), pool_sigs) / sig.shape[0]
    return float(np.abs(corr).max())


def fitness(res: EvalResult | None, nodes: int, pool_sigs: np.ndarray, cfg: SearchConfig) -> float:
    """Step 3 (rounded to 1e-9 so that float noise never reorders candidates)."""
    if res is None or not res.ok or not math.isfinite(res.train_icir):
        return -math.inf
    penalty = 1.0 - cfg.corr_penalty * max_corr(res.signature, pool_sigs)
    return round(abs(res.train_icir) * penalty - cfg.complexity_penalty * nodes, 9)


# ----------------------------------------------------------------------------- 4. accept
def passes(res: EvalResult, cfg: SearchConfig) -> bool:
    """Training and validation tests of step 4 (the pool test is separate)."""
    if not res.ok or not all(math.isfinite(x) for x in (res.train_ic, res.train_icir, res.valid_ic)):
        return False
    same_sign = math.copysign(1.0, res.train_ic) == math.copysign(1.0, res.valid_ic)
    return (abs(res.train_icir) >= cfg.min_train_icir and same_sign
            and abs(res.valid_ic) >= cfg.min_valid_ratio * abs(res.train_ic))


def accept(pop: list[Expr], fit: list[float], results: dict[str, EvalResult],
           state: SearchState, sigs: dict[str, np.ndarray], cfg: SearchConfig) -> list[PoolEntry]:
    """Step 4: add the passing candidates to ``state.pool`` (fittest first) and return them."""
    new: list[PoolEntry] = []
    in_pool = {p.key for p in state.pool}
    for i in sorted(range(len(pop)), key=lambda i: (-fit[i], i)):
        if len(new) >= cfg.accept_per_generation or len(state.pool) >= cfg.max_pool:
            break
        e, res = pop[i], results.get(pop[i].key)
        if res is None or e.key in in_pool or not math.isfinite(fit[i]) or not passes(res, cfg):
            continue
        if max_corr(res.signature, _stack(state.pool, sigs)) >= cfg.max_corr:
            continue
        s = 1.0 if res.train_ic > 0 else -1.0
        entry = PoolEntry(f"mined_{len(state.pool) + 1:03d}", str(e if s > 0 else -e), e.key,
                          s * res.train_ic, s * res.train_icir, s * res.valid_ic,
                          s * res.valid_icir if math.isfinite(res.valid_icir) else math.nan,
                          size_of(e), state.generation)
        state.pool.append(entry)
        sigs[e.key] = res.signature  # type: ignore[assignment]
        in_pool.add(e.key)
        new.append(entry)
    return new


def _stack(pool: list[PoolEntry], sigs: dict[str, np.ndarray]) -> np.ndarray:
    if not pool:
        return np.zeros((0, 0, 0))
    return np.stack([sigs[p.key].astype(np.float64) for p in pool])


# ----------------------------------------------------------------------------- 5. breed
def tournament(rng: random.Random, fit: list[float], k: int) -> int:
    """Index of the fittest of ``k`` uniformly drawn candidates (ties: the first drawn)."""
    picks = [rng.randrange(len(fit)) for _ in range(k)]
    return max(picks, key=lambda i: fit[i])


def breed(rng: random.Random, pop: list[Expr], fit: list[float], state: SearchState,
          cfg: SearchConfig) -> list[Expr]:
    """Step 5: the next population (elites first); new formulas are added to ``state.seen``."""
    order = sorted(range(len(pop)), key=lambda i: (-fit[i], i))
    nxt = [pop[i] for i in order[:cfg.elite] if math.isfinite(fit[i])]
    keys = {e.key for e in nxt}
    g = cfg.grammar
    for _ in range(cfg.population * 20):
        if len(nxt) >= cfg.population:
            break
        u = rng.random()
        a = pop[tournament(rng, fit, cfg.tournament)]
        if u < cfg.p_crossover:
            child = crossover(rng, g, a, pop[tournament(rng, fit, cfg.tournament)])
        elif u < cfg.p_crossover + cfg.p_subtree:
            child = subtree_mutation(rng, g, a)
        else:
            child = point_mutation(rng, g, a)
        if child.key in state.seen or child.key in keys:
            child = random_tree(rng, g, rng.randint(2, g.max_depth))
        if child.key in state.seen or child.key in keys or not is_valid(child, g):
            continue
        nxt.append(child)
        keys.add(child.key)
        state.seen.add(child.key)
    return nxt


# ----------------------------------------------------------------------------- 6. checkpoint
def save_checkpoint(path: Path, state: SearchState, identity: dict[str, Any]) -> None:
    """Write the state as JSON atomically (temp file + rename in the same folder)."""
    doc = {"version": CHECKPOINT_VERSION, "identity": identity, "generation": state.generation,
           "population": state.population, "pool": [dataclasses.asdict(p) for p in state.pool],
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
    if doc.get("version") != CHECKPOINT_VERSION or doc.get("identity") != _jsonable(identity):
        return None
    rs = doc["rng_state"]
    hist = [GenerationReport(**{**h, "accepted": tuple(h["accepted"])}) for h in doc["history"]]
    return SearchState(doc["generation"], doc["population"], [PoolEntry(**p) for p in doc["pool"]],
                       (rs[0], tuple(rs[1]), rs[2]), set(doc["seen"]), hist)


def _jsonable(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


# ----------------------------------------------------------------------------- driver
def mine(evaluator: Evaluator, cfg: SearchConfig, *, checkpoint: Path | None = None,
         identity: dict[str, Any] | None = None,
         on_generation: Callable[[GenerationReport], None] | None = None,
         progress: Callable[[int, int, int], None] | None = None,
         stop_after: int | None = None) -> MiningResult:
    """Run the search (module docstring); returns the pool and per-generation reports.

    ``identity``: what the data was (universe, horizon, spans...); with ``cfg`` it decides
    whether ``checkpoint`` belongs to this run. ``progress(generation, done, total)`` is called
    as evaluation batches finish. ``stop_after``: stop after that many generations of this call
    (to simulate an interruption in tests).
    """
    search = {k: v for k, v in cfg.to_dict().items() if k != "generations"}  # a rerun may extend a run
    ident = _jsonable({"data": identity or {}, "search": search})
    state = load_checkpoint(checkpoint, ident) if checkpoint else None
    if state is None:
        rng = random.Random(cfg.seed)
        pop0 = initial_population(rng, cfg)
        state = SearchState(0, [str(e) for e in pop0], [], rng.getstate(), {e.key for e in pop0})
    rng = random.Random()
    rng.setstate(state.rng_state)
    results: dict[str, EvalResult] = {}
    sigs: dict[str, np.ndarray] = {}
    evaluated = _restore_pool(evaluator, state, sigs)
    resumed_from = state.generation
    done_here = 0
    while state.generation < cfg.generations and (stop_after is None or done_here < stop_after):
        pop = [canonical(parse(t)) for t in state.population]
        todo = [e.key for e in pop if e.key not in results]
        cb = (lambda d, n, g=state.generation: progress(g, d, n)) if progress else None
        for key, res in zip(todo, evaluator.evaluate(todo, cb)):
            results[key] = res
        evaluated += len(todo)
        report = _generation(rng, pop, results, state, sigs, cfg, len(todo))
        state.history.append(report)
        state.rng_state = rng.getstate()
        if checkpoint:
            save_checkpoint(checkpoint, state, ident)
        keep = set(state.population) | {p.key for p in state.pool}
        results = {k: v for k, v in results.items() if k in keep}
        done_here += 1
        if on_generation:
            on_generation(report)
    return MiningResult(tuple(state.pool), tuple(state.history), evaluated, resumed_from)


def _generation(rng: random.Random, pop: list[Expr], results: dict[str, EvalResult],
                state: SearchState, sigs: dict[str, np.ndarray], cfg: SearchConfig,
                n_eval: int) -> GenerationReport:
    """Steps 3-5 for one evaluated population; advances ``state`` to the next generation."""
    sizes = [size_of(e) for e in pop]
    fit = [fitness(results.get(e.key), s, _stack(state.pool, sigs), cfg) for e, s in zip(pop, sizes)]
    new = accept(pop, fit, results, state, sigs, cfg)
    if new:
        pool_sigs = _stack(state.pool, sigs)
        fit = [fitness(results.get(e.key), s, pool_sigs, cfg) for e, s in zip(pop, sizes)]
    best = max(range(len(pop)), key=lambda i: (fit[i], -i))
    failed = sum(1 for e in pop if not results[e.key].ok)
    nxt = breed(rng, pop, fit, state, cfg)
    state.generation += 1
    state.population = [str(e) for e in nxt]
    return GenerationReport(state.generation - 1, n_eval, failed, fit[best], str(pop[best]),
                            tuple(p.name for p in new), len(state.pool))


def _restore_pool(evaluator: Evaluator, state: SearchState, sigs: dict[str, np.ndarray]) -> int:
    """Signatures of a resumed pool (re-evaluated: evaluation is deterministic)."""
    keys = [p.key for p in state.pool]
    if not keys:
        return 0
    for key, res in zip(keys, evaluator.evaluate(keys)):
        if res.signature is None:
            raise FlyerError(f"checkpoint pool formula no longer evaluates: {key}: {res.error}")
        sigs[key] = res.signature
    return len(keys)


def write_pool(path: Path, pool: tuple[PoolEntry, ...] | list[PoolEntry], header: str = "") -> None:
    """Save the pool as a TOML formula file (``name = "formula"``, stats in comments), atomically."""
    lines = [f"# {line}" for line in header.splitlines()] if header else []
    for p in pool:
        lines.append(f"# train RankIC {p.train_ic:.4f} ICIR {p.train_icir:.3f} | valid RankIC "
                     f"{p.valid_ic:.4f} ICIR {p.valid_icir:.3f} | {p.nodes} nodes, generation {p.generation + 1}")
        lines.append(f"{p.name} = {json.dumps(p.formula)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)
