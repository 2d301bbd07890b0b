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

Local Ray runs on the loopback address ``LOOPBACK`` (127.0.0.2: Ray 2.60 rewrites 127.0.0.1 to
the machine's interface address), with ``workers`` CPUs and no dashboard. ``address`` connects to
an existing cluster (every node must import flyer and read the store at the same path): it is
probed with a TCP connect first (``CONNECT_TIMEOUT_S``), so an unreachable address fails at once
in one line instead of after Ray's minute of retries; a loopback address keeps the driver on
loopback. Ray is started only when it is not running, and ``close`` shuts it down only then (the
rules of ``flyer.factors.mining.parallel``, whose evaluators share ``LOOPBACK`` and ``WORKER_ENV``).
"""
from __future__ import annotations

import ipaddress
import logging
import os
import socket
from typing import Any, Callable, Protocol, Sequence, TypeVar

from flyer.core.errors import FlyerError, UsageError

S = TypeVar("S")
I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")

#: a local Ray's address: loopback, but not 127.0.0.1 (Ray rewrites that one to the interface address)
LOOPBACK = "127.0.0.2"
#: each task computes single-threaded: the parallelism comes from the tasks
WORKER_ENV = {"POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}
CONNECT_TIMEOUT_S = 3.0
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
            probe(address)
        self._ray = ray
        self._owns = not ray.is_initialized()
        if self._owns:
            start_ray(ray, workers, address)
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
            raise FlyerError(f"a Ray task failed: {_first_line(cause or exc)}") from exc
        except ray.exceptions.RayError as exc:  # a worker died, or cannot import flyer
            raise FlyerError(f"Ray failed: {_first_line(exc)}") from exc

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


def start_ray(ray: Any, workers: int | None, address: str | None) -> None:
    """A quiet local Ray on ``LOOPBACK`` without dashboard, or a connection to ``address``
    (probed first); a ``FlyerError`` in one line when neither works."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    opts: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False, "configure_logging": True}
    try:
        if address:
            ray.init(address=address, **_loopback(address), **opts)
        else:
            ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False, _node_ip_address=LOOPBACK,
                     **opts)
    except Exception as exc:  # noqa: BLE001 - connection problems are user errors
        raise FlyerError(f"cannot start Ray{' at ' + address if address else ''}: {_first_line(exc)}") from exc


def host_port(address: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` or ``ray://HOST:PORT`` (a ``UsageError`` otherwise)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--address must be HOST:PORT of a Ray cluster (e.g. 10.0.0.5:6379), not {address!r}")
    return host.strip("[]"), int(port)


def probe(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """Connect to ``address`` once (``timeout`` seconds): a ``FlyerError`` naming it when nothing answers."""
    host, port = host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise FlyerError(f"cannot reach the Ray cluster at {address}: {_first_line(exc)} "
                         f"(nothing answered within {timeout:g} s)") from None


def _loopback(address: str) -> dict[str, str]:
    """A driver connecting to a cluster on a loopback address stays on it (``_node_ip_address``)."""
    host = host_port(address)[0]
    host = LOOPBACK if host == "localhost" else host
    try:
        return {"_node_ip_address": host} if ipaddress.ip_address(host).is_loopback else {}
    except ValueError:      # a host name: Ray resolves it
        return {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def make_runner(mode: str = "serial", workers: int | None = None, address: str | None = None) -> SerialRunner | RayRunner:
    """``serial`` (default) or ``ray`` (local, or the cluster at ``address``, which implies ray)."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}: use {' or '.join(MODES)}")
    if workers is not None and workers < 1:
        raise UsageError(f"workers must be >= 1, not {workers}")
    if mode == "serial" and not address:
        return SerialRunner()
    return RayRunner(workers, address)
