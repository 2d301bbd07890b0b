"""Evaluators: candidate batches scored in this process or by Ray actors on a cluster.

Both split the formulas into the same batches of ``batch_size`` and return results in order;
evaluation is deterministic and independent of what a cache holds, so both give identical
results. ``RayEvaluator`` puts the ``MiningData`` into Ray's object store once and starts one
actor per CPU (``workers``; by default every CPU of the cluster); each actor keeps its own
``Scorer`` (node cache and pool vectors) for the whole run, so a worker reuses what it
computed in earlier generations.

Ray runs as ``flyer.core.ray_local`` starts it: a local instance on loopback only (every
process of it, no dashboard), or a cluster ``address`` checked with a TCP connection first, so
an unreachable one fails in one line.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, Self

from flyer.factors.mining.evaluate import DEFAULT_CACHE_MB, EvalResult, Scorer
from flyer.factors.mining.nodes import CacheStats
from flyer.factors.mining.panel import MiningData

from flyer.core.errors import FlyerError
from flyer.core.ray_local import (  # noqa: F401 - LOOPBACK, local_ray, check_reachable: this module's API too
    CONNECT_TIMEOUT_S,
    LOOPBACK,
    WORKER_ENV,
    check_reachable,
    first_line,
    init_ray,
    local_ray,
)

Progress = Callable[[int, int], None]


def batches(items: list[str], size: int) -> list[list[str]]:
    """Consecutive chunks of ``size`` (the last may be shorter)."""
    size = max(1, size)
    return [items[i:i + size] for i in range(0, len(items), size)]


class SerialEvaluator:
    """Evaluates in this process, batch after batch (tests, debugging, one core)."""

    def __init__(self, data: MiningData, batch_size: int = 16, norm: str = "rank",
                 cache_mb: int = DEFAULT_CACHE_MB) -> None:
        self.local = Scorer(data, norm, cache_mb)
        self.batch_size = batch_size
        self.workers = 1

    def evaluate(self, formulas: list[str], pool: tuple[str, ...] = (),
                 progress: Progress | None = None) -> list[EvalResult]:
        out: list[EvalResult] = []
        for chunk in batches(formulas, self.batch_size):
            out.extend(self.local.evaluate(chunk, pool))
            if progress:
                progress(len(out), len(formulas))
        return out

    def cache_stats(self) -> CacheStats:
        return self.local.cache_stats()

    def describe(self) -> str:
        return "serial (this process)"

    def close(self) -> None:
        pass

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _Worker:
    """The Ray actor: one ``Scorer`` on the shared data for the evaluator's lifetime."""

    def __init__(self, data: MiningData, norm: str, cache_mb: int) -> None:
        self.scorer = Scorer(data, norm, cache_mb)

    def evaluate(self, formulas: list[str], pool: tuple[str, ...]) -> list[EvalResult]:
        return self.scorer.evaluate(formulas, pool)

    def cache_stats(self) -> CacheStats:
        return self.scorer.cache_stats()

    def node(self) -> str:
        import ray

        return ray.get_runtime_context().get_node_id()


class RayEvaluator:
    """Evaluates batches on Ray actors, on a local Ray (``workers`` CPUs) or a cluster (``address``).

    Starts Ray only when it is not running yet, and shuts it down in ``close`` only then. With
    ``address`` the cluster's nodes must be able to import flyer (install it on each machine).
    ``local`` (re-evaluations during acceptance) runs in this process with ``driver_cache_mb``.
    """

    def __init__(self, data: MiningData, *, workers: int | None = None, address: str | None = None,
                 batch_size: int = 16, norm: str = "rank", cache_mb: int = DEFAULT_CACHE_MB,
                 driver_cache_mb: int = 256) -> None:
        if address:
            check_reachable(address)    # before Ray is imported: nothing of Ray's on the terminal
        import ray
        from ray.util import ActorPool

        self._ray = ray
        self.batch_size = batch_size
        self._owns = not ray.is_initialized()
        if self._owns:
            init_ray(ray, workers, address)
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        ref = ray.put(data)
        actor = ray.remote(num_cpus=1, max_restarts=0)(_Worker)
        self._actors: list[Any] = [actor.options(runtime_env={"env_vars": WORKER_ENV}).remote(ref, norm, cache_mb)
                                   for _ in range(n)]
        self._pool = ActorPool(self._actors)
        self.workers = n
        self.local = Scorer(data, norm, driver_cache_mb)
        self._nodes = self._call(lambda: ray.get([a.node.remote() for a in self._actors]))

    def evaluate(self, formulas: list[str], pool: tuple[str, ...] = (),
                 progress: Progress | None = None) -> list[EvalResult]:
        chunks = batches(formulas, self.batch_size)
        out: list[EvalResult] = []

        def run() -> None:
            for part in self._pool.map(lambda a, c: a.evaluate.remote(c, pool), chunks):
                out.extend(part)
                if progress:
                    progress(len(out), len(formulas))
        self._call(run)
        return out

    def cache_stats(self) -> CacheStats:
        parts = self._call(lambda: self._ray.get([a.cache_stats.remote() for a in self._actors]))
        total = CacheStats(0, 0, 0, 0, 0)
        for p in parts:
            total = total + p
        return total

    def describe(self) -> str:
        nodes = len(set(self._nodes))
        return f"Ray: {self.workers} worker(s) on {nodes} node(s)"

    def _call(self, fn: Callable[[], Any]) -> Any:
        try:
            return fn()
        except self._ray.exceptions.RayError as exc:  # a worker died or cannot import flyer
            raise FlyerError(f"Ray evaluation failed: {first_line(exc)}") from exc

    def close(self) -> None:
        for a in getattr(self, "_actors", []):
            self._ray.kill(a)
        self._actors = []
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_evaluator(data: MiningData, mode: str = "serial", *, workers: int | None = None,
                   address: str | None = None, batch_size: int = 16, norm: str = "rank",
                   cache_mb: int = DEFAULT_CACHE_MB) -> SerialEvaluator | RayEvaluator:
    """``serial`` or ``ray`` evaluator (``address`` implies ray)."""
    if mode == "serial" and not address:
        return SerialEvaluator(data, batch_size, norm, cache_mb)
    if mode in ("ray", "serial"):
        return RayEvaluator(data, workers=workers, address=address, batch_size=batch_size, norm=norm,
                            cache_mb=cache_mb)
    raise FlyerError(f"unknown mode {mode!r}; use ray or serial")
