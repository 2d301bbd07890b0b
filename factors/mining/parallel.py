"""Evaluators: candidate batches scored in this process or by Ray actors on a cluster.

Both split the formulas into the same batches of ``batch_size`` and return results in order;
evaluation is deterministic and independent of what a cache holds, so both give identical
results. ``RayEvaluator`` puts the ``MiningData`` into Ray's object store once and starts one
actor per CPU (``workers``; by default every CPU of the cluster); each actor keeps its own
``Scorer`` (node cache and pool vectors) for the whole run, so a worker reuses what it
computed in earlier generations.

A local instance (``local_ray``) listens on 127.0.0.1 only, every process of it (GCS, raylet,
agents, workers, the driver's own server), and starts no dashboard: Ray 2.60 binds its servers to
127.0.0.1 only when the node address is 127.0.0.1, and rewrites 127.0.0.1 to the machine's
interface address unless its loopback-only mode (``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, the
mode Ray uses on laptops) is on; its API server (``dashboard.py``, started even with
``include_dashboard=False``) is skipped. ``tests/mining/test_mining_ray.py`` lists the listening
sockets of every Ray process. A cluster ``address`` is checked with a TCP connection of
``CONNECT_TIMEOUT_S`` seconds before Ray is touched, so an unreachable one fails in one line.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any, Self

from flyer.factors.mining.evaluate import DEFAULT_CACHE_MB, EvalResult, Scorer
from flyer.factors.mining.nodes import CacheStats
from flyer.factors.mining.panel import MiningData

from flyer.core.errors import FlyerError

Progress = Callable[[int, int], None]
#: the address of a local Ray instance (see the module docstring)
LOOPBACK = "127.0.0.1"
#: Ray's loopback-only mode, read by every Ray process at start (children inherit it)
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
#: seconds to wait for a TCP connection to a cluster's address before giving up
CONNECT_TIMEOUT_S = 5.0
#: each actor computes single-threaded: parallelism comes from the actors
WORKER_ENV = {"POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


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
            _init_ray(ray, workers, address)
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
            raise FlyerError(f"Ray evaluation failed: {_first_line(exc)}") from exc

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


def _init_ray(ray: Any, workers: int | None, address: str | None) -> None:
    """Quiet ``ray.init``: a local loopback instance (``local_ray``) or a connection to ``address``."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    opts: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False,
                            "configure_logging": True}
    try:
        if address:
            ray.init(address=address, **_loopback(address), **opts)
        else:
            with local_ray(ray):
                ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                         _node_ip_address=LOOPBACK, **opts)
    except Exception as exc:
        raise FlyerError(f"cannot start Ray{' at ' + address if address else ''}: {_first_line(exc)}") from exc


@contextlib.contextmanager
def local_ray(ray: Any) -> Iterator[None]:
    """Around ``ray.init`` of a local instance: Ray's loopback-only mode (for this driver and the
    processes it starts) and no API server (see the module docstring); restored afterwards."""
    from ray._private import node as ray_node
    from ray._private import ray_constants

    def no_api_server(self: Any, *, include_dashboard: bool | None, raise_on_failure: bool) -> None:
        self._webui_url = ""

    saved_env = {k: os.environ.get(k) for k in LOOPBACK_ENV}
    saved = ray_constants.ENABLE_RAY_CLUSTER, ray_node.Node.start_api_server
    os.environ.update(LOOPBACK_ENV)
    ray_constants.ENABLE_RAY_CLUSTER = False
    setattr(ray_node.Node, "start_api_server", no_api_server)  # noqa: B010 - a method swapped for the block
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = saved[0]
        setattr(ray_node.Node, "start_api_server", saved[1])  # noqa: B010
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def check_reachable(address: str, timeout: float = CONNECT_TIMEOUT_S) -> None:
    """``FlyerError`` in one line unless a TCP connection to ``address`` (``host:port`` or
    ``ray://host:port``) opens within ``timeout`` seconds; Ray itself would retry for minutes."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit():
        raise FlyerError(f"--address must be HOST:PORT (a Ray head's GCS address), got {address!r}")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise FlyerError(f"cannot reach a Ray cluster at {address}: {why} within {timeout:.0f} s "
                         "(is `ray start --head` running there, and is the port open?)") from None


def _loopback(address: str) -> dict[str, str]:
    """A driver connecting to a cluster on a loopback address stays on it (``_node_ip_address``)."""
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    host = LOOPBACK if host == "localhost" else host
    try:
        return {"_node_ip_address": host} if ipaddress.ip_address(host).is_loopback else {}
    except ValueError:      # a host name: Ray resolves it
        return {}


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


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
