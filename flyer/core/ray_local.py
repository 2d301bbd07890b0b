"""Ray for flyer's parallel work (factor mining, research runs): a local instance on loopback
only, or a connection to a cluster checked before Ray is touched.

A local instance (``init_ray`` without an address) listens on 127.0.0.1 only, every process of
it (GCS, raylet, agents, workers, the driver's own server), and starts no dashboard: Ray 2.60
binds its servers to 127.0.0.1 only when the node address is 127.0.0.1, and rewrites 127.0.0.1
to the machine's interface address unless its loopback-only mode
(``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0``, the mode Ray uses on laptops) is on; its API server
(``dashboard.py``, started even with ``include_dashboard=False``) is skipped
(``tests/mining/test_mining_ray.py`` lists the listening sockets of every Ray process). A
cluster ``address`` is checked with a TCP connection of ``CONNECT_TIMEOUT_S`` seconds first
(``check_reachable``), so an unreachable one fails in one line instead of after Ray's minute of
retries; a driver connecting on a loopback address stays on loopback.
"""
from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
from collections.abc import Iterator
from typing import Any

from flyer.core.errors import FlyerError, UsageError

#: the address of a local Ray instance (see the module docstring)
LOOPBACK = "127.0.0.1"
#: what a local instance's processes read at start (children inherit it): Ray's loopback-only
#: mode, and workers at the driver's priority (the raylet otherwise starts them at nice 15, so any
#: other job on the machine, even a niced one, halves their speed: measured 2x per fold)
LOCAL_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_worker_niceness": "0"}
#: seconds to wait for a TCP connection to a cluster's address before giving up
CONNECT_TIMEOUT_S = 5.0
#: each task or actor computes single-threaded: the parallelism comes from the workers
WORKER_ENV = {"POLARS_MAX_THREADS": "1", "NUMBA_NUM_THREADS": "1", "OMP_NUM_THREADS": "1"}


def host_port(address: str) -> tuple[str, int]:
    """(host, port) of ``HOST:PORT`` or ``ray://HOST:PORT``; a ``UsageError`` otherwise."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"--address must be HOST:PORT (a Ray head's GCS address, e.g. 10.0.0.5:6379), "
                         f"got {address!r}")
    return host.strip("[]"), int(port)


def init_ray(ray: Any, workers: int | None, address: str | None) -> None:
    """Quiet ``ray.init``: a local loopback instance (``local_ray``) or a connection to ``address``."""
    os.environ.setdefault("RAY_DEDUP_LOGS", "0")
    opts: dict[str, Any] = {"logging_level": logging.ERROR, "log_to_driver": False,
                            "configure_logging": True}
    try:
        if address:
            ray.init(address=address, **loopback_opts(address), **opts)
        else:
            with local_ray(ray):
                ray.init(num_cpus=workers or os.cpu_count() or 1, include_dashboard=False,
                         _node_ip_address=LOOPBACK, **opts)
    except Exception as exc:  # noqa: BLE001 - starting or reaching Ray: the user's setup
        raise FlyerError(f"cannot start Ray{' at ' + address if address else ''}: {first_line(exc)}") from exc


@contextlib.contextmanager
def local_ray(ray: Any) -> Iterator[None]:
    """Around ``ray.init`` of a local instance: Ray's loopback-only mode and workers at the
    driver's priority (``LOCAL_ENV``, for this driver and the processes it starts) and no API
    server (see the module docstring); restored afterwards."""
    from ray._private import node as ray_node
    from ray._private import ray_constants

    def no_api_server(self: Any, *, include_dashboard: bool | None, raise_on_failure: bool) -> None:
        self._webui_url = ""

    saved_env = {k: os.environ.get(k) for k in LOCAL_ENV}
    saved = ray_constants.ENABLE_RAY_CLUSTER, ray_node.Node.start_api_server
    os.environ.update(LOCAL_ENV)
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
    host, port = host_port(address)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or type(exc).__name__)
        raise FlyerError(f"cannot reach a Ray cluster at {address}: {why} within {timeout:.0f} s "
                         "(is `ray start --head` running there, and is the port open?)") from None


def loopback_opts(address: str) -> dict[str, str]:
    """A driver connecting to a cluster on a loopback address stays on it (``_node_ip_address``)."""
    host = address.removeprefix("ray://").rsplit(":", 1)[0]
    host = LOOPBACK if host == "localhost" else host
    try:
        return {"_node_ip_address": host} if ipaddress.ip_address(host).is_loopback else {}
    except ValueError:      # a host name: Ray resolves it
        return {}


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
