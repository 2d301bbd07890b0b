"""The genetic-programming driver: populations, fitness, the weighted pool and checkpoints.

Algorithm (``mine``), one generation at a time:
  1. ``initial_population``: seed formulas, then ramped half-and-half random trees, deduplicated
     by canonical key;
  2. evaluate the candidates against the current pool (``Evaluator.evaluate``, serial or Ray,
     ``flyer.factors.mining.parallel``; a result is reused while the pool is unchanged);
  3. fitness (``fitness``), on training statistics only:
     - ``pool`` objective: the gain in the pool's combined training IC when the candidate joins
       (weights refitted, the weakest member leaving when full; ``flyer.factors.mining.pool``)
       minus ``penalty`` x nodes; a candidate correlated above ``corr_bound`` with a member
       gets -inf;
     - ``single``: |training ICIR| x (1 - corr_penalty x max |corr| with the pool) - penalty x nodes;
  4. acceptance (``accept``), the fittest first, each candidate re-evaluated against the pool
     as it stands: ``pool`` needs the training IC gain to beat the penalty *and* the combined
     validation IC to rise (by > ``min_valid_gain``); ``single`` needs |ICIR| >= min_train_icir,
     a validation IC of the same sign and >= min_valid_ratio of the training one, and joins
     sign-flipped (higher is better). Either way the pool's weights are refitted on training;
  5. ``breed``: elites by fitness, then offspring by tournament selection and crossover /
     subtree / point mutation, never repeating a formula seen before in the run;
  6. write the checkpoint (``flyer.factors.mining.state``); a rerun with the same identity
     resumes (``generations`` is not part of the identity, so a finished run can be extended).

The test period is never read here. All randomness lives in one ``random.Random`` seeded by
``SearchConfig.seed``; evaluation is deterministic, so serial, parallel and resumed runs give
the same pool.
"""
from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from flyer.factors.expr import Expr
from flyer.factors.mining.evaluate import EvalResult, Scorer
from flyer.factors.mining.grammar import (
    canonical,
    crossover,
    is_valid,
    point_mutation,
    ramped_population,
    random_tree,
    subtree_mutation,
)
from flyer.factors.mining.nodes import CacheStats
from flyer.factors.mining.pool import PoolStats, max_corr, trial
from flyer.factors.mining.state import (
    GenerationReport,
    PoolEntry,
    SearchConfig,
    SearchState,
    jsonable,
    load_checkpoint,
    save_checkpoint,
)
from flyer.factors.parser import parse


class Evaluator(Protocol):
    """Serial or parallel evaluation; ``local`` is a scorer in this process (re-evaluations)."""

    local: Scorer

    def evaluate(self, formulas: list[str], pool: tuple[str, ...] = (),
                 progress: Callable[[int, int], None] | None = None) -> list[EvalResult]: ...

    def cache_stats(self) -> CacheStats: ...


@dataclass(frozen=True)
class GenerationTiming:
    """Throughput of one generation (not part of the deterministic history); ``cache``: the node
    cache's lookups during the generation."""

    seconds: float
    evaluated: int
    cache: CacheStats

    @property
    def per_second(self) -> float:
        return self.evaluated / self.seconds if self.seconds > 0 else math.nan


@dataclass(frozen=True)
class MiningResult:
    pool: tuple[PoolEntry, ...]
    weights: tuple[float, ...]
    stats: PoolStats
    history: tuple[GenerationReport, ...]
    evaluated: int
    seconds: float
    cache: CacheStats
    resumed_from: int = 0    # generations already done in the checkpoint this run started from

    @property
    def per_second(self) -> float:
        return self.evaluated / self.seconds if self.seconds > 0 else math.nan


# ----------------------------------------------------------------------------- 1. init
def initial_population(rng: random.Random, cfg: SearchConfig) -> list[Expr]:
    """Seeds (canonical; invalid ones kept: they are tried once) then random trees, no repeats."""
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
def pool_ic(stats: PoolStats, cfg: SearchConfig) -> tuple[float, float]:
    """The pool's combined (training, validation) IC with its training weights."""
    w = stats.weights(cfg.ridge)
    return stats.ic(w, 0), stats.ic(w, 1)


def fitness(res: EvalResult | None, stats: PoolStats, cfg: SearchConfig, base_train_ic: float) -> float:
    """Step 3 (rounded to 1e-9 so that float noise never reorders candidates)."""
    if res is None or not res.ok or res.train is None or not math.isfinite(res.train.icir):
        return -math.inf
    corr = max_corr(res, stats)
    if cfg.objective == "single":
        return round(abs(res.train.icir) * (1.0 - cfg.corr_penalty * corr) - cfg.penalty * res.nodes, 9)
    if corr >= cfg.corr_bound:
        return -math.inf
    t = trial(stats, res, cfg.max_pool, cfg.ridge)
    gain = 0.0 if t.dropped == res.formula else t.train_ic - base_train_ic
    return round(gain - cfg.penalty * res.nodes, 9)


# ----------------------------------------------------------------------------- 4. accept
def passes_single(res: EvalResult, cfg: SearchConfig) -> bool:
    """Training and validation thresholds of the single objective."""
    tr, va = res.train, res.valid
    if not res.ok or tr is None or va is None or not all(math.isfinite(x) for x in (tr.ic, tr.icir, va.ic)):
        return False
    same_sign = math.copysign(1.0, tr.ic) == math.copysign(1.0, va.ic)
    return (abs(tr.icir) >= cfg.min_train_icir and same_sign
            and abs(va.ic) >= cfg.min_valid_ratio * abs(tr.ic))


def _entry(state: SearchState, res: EvalResult, formula: str, key: str, sign: float) -> PoolEntry:
    tr, va = res.train, res.valid
    assert tr is not None and va is not None
    vir = sign * va.icir if math.isfinite(va.icir) else math.nan
    entry = PoolEntry(f"mined_{state.next_id:03d}", formula, key, sign * tr.ic, sign * tr.icir, sign * va.ic,
                      vir, res.nodes, state.generation, res.coverage)
    state.next_id += 1
    return entry


def _try_pool(state: SearchState, res: EvalResult, key: str, cfg: SearchConfig) -> tuple[PoolEntry, str | None] | None:
    """Pool objective: the entry and the name of the member that left, if the candidate is accepted."""
    if max_corr(res, state.stats) >= cfg.corr_bound:
        return None
    base_tr, base_va = pool_ic(state.stats, cfg)
    t = trial(state.stats, res, cfg.max_pool, cfg.ridge)
    if t.dropped == key or t.train_ic - base_tr <= cfg.penalty * res.nodes or t.valid_ic - base_va <= cfg.min_valid_gain:
        return None
    entry = _entry(state, res, key, key, 1.0)
    gone = next((p.name for p in state.pool if p.formula == t.dropped), None)
    state.stats = t.stats
    state.pool = [p for p in state.pool if p.formula != t.dropped] + [entry]
    return entry, gone


def _try_single(state: SearchState, res: EvalResult, key: str, cfg: SearchConfig) -> PoolEntry | None:
    """Single objective: the entry (sign-flipped so that higher is better), if accepted."""
    if len(state.pool) >= cfg.max_pool or not passes_single(res, cfg) or max_corr(res, state.stats) >= cfg.corr_bound:
        return None
    assert res.train is not None and res.valid is not None
    sign = 1.0 if res.train.ic > 0 else -1.0
    formula = key if sign > 0 else str(-parse(key))
    tr, va = (res.train, res.valid) if sign > 0 else (res.train.flipped(), res.valid.flipped())
    entry = _entry(state, res, formula, key, sign)
    state.stats = state.stats.with_member(formula, tr, va)
    state.pool.append(entry)
    return entry


def accept(pop: list[Expr], fit: list[float], results: dict[str, EvalResult], state: SearchState,
           cfg: SearchConfig, local: Scorer) -> tuple[list[PoolEntry], list[str]]:
    """Step 4: accepted entries and the names of the members that left; updates ``state.pool``/``stats``.

    Candidates are tried fittest first while their fitness is positive (pool) or finite
    (single). A try against the pool the candidate was evaluated with costs a closed form only;
    once the pool has changed, a candidate is re-evaluated against it first, at most
    ``3 x accept_per_generation`` times per generation.
    """
    new: list[PoolEntry] = []
    dropped: list[str] = []
    keys_in = {p.key for p in state.pool}
    refreshes = 0
    for i in sorted(range(len(pop)), key=lambda i: (-fit[i], i)):
        if len(new) >= cfg.accept_per_generation:
            break
        key = pop[i].key
        if not math.isfinite(fit[i]) or (cfg.objective == "pool" and fit[i] <= 0):
            break
        if key in keys_in:
            continue
        res = results[key]
        if res.pool != state.stats.keys:        # the pool moved since: against the pool as it is now
            if refreshes >= 3 * cfg.accept_per_generation:
                break
            refreshes += 1
            res = local.evaluate([key], state.stats.keys)[0]
        if cfg.objective == "pool":
            done = _try_pool(state, res, key, cfg)
            if done:
                new.append(done[0])
                dropped += [done[1]] if done[1] else []
        else:
            entry = _try_single(state, res, key, cfg)
            new += [entry] if entry else []
        keys_in = {p.key for p in state.pool}
    return new, dropped


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


# ----------------------------------------------------------------------------- driver
def _start(cfg: SearchConfig, checkpoint: Path | None, ident: dict[str, Any]) -> SearchState:
    state = load_checkpoint(checkpoint, ident) if checkpoint else None
    if state is None:
        rng = random.Random(cfg.seed)
        pop0 = initial_population(rng, cfg)
        state = SearchState(0, [str(e) for e in pop0], [], PoolStats(), 1, rng.getstate(), {e.key for e in pop0})
    return state


def mine(evaluator: Evaluator, cfg: SearchConfig, *, checkpoint: Path | None = None,
         identity: dict[str, Any] | None = None,
         on_generation: Callable[[GenerationReport, GenerationTiming], None] | None = None,
         progress: Callable[[int, int, int], None] | None = None,
         stop_after: int | None = None) -> MiningResult:
    """Run the search (module docstring); returns the weighted pool and per-generation reports.

    ``identity``: what the data was (universe, horizon, spans...); with ``cfg`` it decides
    whether ``checkpoint`` belongs to this run. ``progress(generation, done, total)`` is called
    as evaluation batches finish. ``stop_after``: stop after that many generations of this call
    (to simulate an interruption in tests).
    """
    search = {k: v for k, v in cfg.to_dict().items() if k != "generations"}  # a rerun may extend a run
    ident = jsonable({"data": identity or {}, "search": search})
    state = _start(cfg, checkpoint, ident)
    rng = random.Random()
    rng.setstate(state.rng_state)
    results: dict[str, EvalResult] = {}
    resumed_from, done_here, evaluated, t_run = state.generation, 0, 0, time.perf_counter()
    while state.generation < cfg.generations and (stop_after is None or done_here < stop_after):
        t0, cache0 = time.perf_counter(), evaluator.cache_stats()
        pop = [canonical(parse(t)) for t in state.population]
        todo = [e.key for e in pop if e.key not in results or results[e.key].pool != state.stats.keys]
        cb = (lambda d, n, g=state.generation: progress(g, d, n)) if progress else None
        for key, res in zip(todo, evaluator.evaluate(todo, state.stats.keys, cb)):
            results[key] = res
        evaluated += len(todo)
        report = _generation(rng, pop, results, state, cfg, len(todo), evaluator.local)
        state.history.append(report)
        state.rng_state = rng.getstate()
        if checkpoint:
            save_checkpoint(checkpoint, state, ident)
        keep = set(state.population)
        results = {k: v for k, v in results.items() if k in keep}
        done_here += 1
        if on_generation:
            timing = GenerationTiming(time.perf_counter() - t0, len(todo), evaluator.cache_stats().since(cache0))
            on_generation(report, timing)
    w = state.stats.weights(cfg.ridge)
    return MiningResult(tuple(state.pool), tuple(float(x) for x in w), state.stats, tuple(state.history),
                        evaluated, time.perf_counter() - t_run, evaluator.cache_stats(), resumed_from)


def _generation(rng: random.Random, pop: list[Expr], results: dict[str, EvalResult], state: SearchState,
                cfg: SearchConfig, n_eval: int, local: Scorer) -> GenerationReport:
    """Steps 3-5 for one evaluated population; advances ``state`` to the next generation."""
    base = pool_ic(state.stats, cfg)[0]
    fit = [fitness(results.get(e.key), state.stats, cfg, base) for e in pop]
    new, dropped = accept(pop, fit, results, state, cfg, local)
    best = max(range(len(pop)), key=lambda i: (fit[i], -i))
    failed = sum(1 for e in pop if not results[e.key].ok)
    nxt = breed(rng, pop, fit, state, cfg)
    state.generation += 1
    state.population = [str(e) for e in nxt]
    tr, va = pool_ic(state.stats, cfg)
    return GenerationReport(state.generation - 1, n_eval, failed, fit[best], str(pop[best]),
                            tuple(p.name for p in new), tuple(dropped), len(state.pool), round(tr, 12), round(va, 12))


def weights_of(result: MiningResult) -> dict[str, float]:
    """``{member name: weight}`` of a result."""
    return {p.name: w for p, w in zip(result.pool, result.weights)}
