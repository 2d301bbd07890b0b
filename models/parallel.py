"""Research tasks in parallel: the same work serial, on a local Ray, or on a Ray cluster.

A runner maps a function over items that share one input: ``runner.map(fn, items, shared)``
returns ``[fn(shared, item) for item in items]``, in order:
  * ``SerialRunner``: in this process, one after another (the reference, and the default);
  * ``RayRunner``: one Ray task per item (``num_cpus=1``, single-threaded: ``WORKER_ENV``).
    ``shared`` (a training panel, a prepared market) is put in Ray's object store once per
    ``map``: every task gets a reference, not a pickled copy, and the NumPy arrays inside it are
    read in place from shared memory by every worker of a node.
Callers (``flyer.models.pipeline``: walk-forward folds, ensemble members, horizons;
``flyer.backtest.grid``: sweeps and capacity ladders) make each task a pure computation with
its thread count in the item, so a Ray run returns exactly what the serial run returns (tested).

Ray runs as ``flyer.core.ray_local`` starts it (as for factor mining): a local instance on
loopback only with ``workers`` CPUs and no dashboard, or the cluster at ``address`` (every node
must import flyer and read the store at the same path), checked with a TCP connection first so
an unreachable address fails at once in one line. Ray is started only when it is not running,
and ``close`` shuts it down only then.
"""
from __future__ import annotations

from typing import Any, Callable, Protocol, Sequence, TypeVar

from flyer.core.errors import FlyerError, UsageError
from flyer.core.ray_local import WORKER_ENV, check_reachable, first_line, init_ray

S = TypeVar("S")
I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")

MODES = ("serial", "ray")


class Runner(Protocol):
    """Maps ``fn(shared, item)`` over ``items`` (see the module docstring)."""

    workers: int

    def map(self, fn: Callable[[S, I], R], items: Sequence[I], shared: S) -> list[R]: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...


class SerialRunner:
    """In this process, item after item."""

    workers = 1

    def map(self, fn: Callable[[S, I], R], items: Sequence[I], shared: S) -> list[R]:
        return [fn(shared, item) for item in items]

    def describe(self) -> str:
        return "serial (this process)"

    def close(self) -> None:
        pass

    def __enter__(self) -> SerialRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _call(fn: Callable[[Any, Any], Any], shared: Any, item: Any) -> Any:
    """A Ray task: ``fn(shared, item)`` (Ray resolves ``shared`` from the object store)."""
    return fn(shared, item)


def _node(_: Any, __: Any) -> str:
    import ray

    return str(ray.get_runtime_context().get_node_id())


class RayRunner:
    """One Ray task per item on a local Ray (``workers`` CPUs, default all) or a cluster (``address``)."""

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        import ray

        if address:
            check_reachable(address)
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            init_ray(ray, workers, address)
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._task = ray.remote(num_cpus=1, max_retries=0)(_call).options(runtime_env={"env_vars": WORKER_ENV})

    def map(self, fn: Callable[[S, I], R], items: Sequence[I], shared: S) -> list[R]:
        ray = self._ray
        try:
            ref = ray.put(shared)
            out: list[R] = ray.get([self._task.remote(fn, ref, item) for item in items])
            return out
        except ray.exceptions.RayTaskError as exc:  # the task raised: raise what it raised
            cause = exc.cause if isinstance(getattr(exc, "cause", None), BaseException) else None
            if isinstance(cause, FlyerError):
                raise cause from None
            raise FlyerError(f"a Ray task failed: {first_line(cause or exc)}") from exc
        except ray.exceptions.RayError as exc:  # a worker died, or cannot import flyer
            raise FlyerError(f"Ray failed: {first_line(exc)}") from exc

    def nodes(self) -> int:
        """The number of nodes that ran a probe task per worker."""
        return len(set(self.map(_node, list(range(self.workers)), None)))

    def describe(self) -> str:
        return f"Ray: {self.workers} worker(s) on {self.nodes()} node(s)"

    def close(self) -> None:
        if self._owns and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayRunner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def make_runner(mode: str = "serial", workers: int | None = None, address: str | None = None) -> SerialRunner | RayRunner:
    """``serial`` (default) or ``ray`` (local, or the cluster at ``address``, which implies ray)."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}: use {' or '.join(MODES)}")
    if workers is not None and workers < 1:
        raise UsageError(f"workers must be >= 1, not {workers}")
    if mode == "serial" and not address:
        return SerialRunner()
    return RayRunner(workers, address)
