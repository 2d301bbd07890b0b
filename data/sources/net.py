"""Network calls that end: timeouts, per-request hooks, an offline probe, library output captured.

The vendor libraries flyer calls (akshare, baostock) open connections flyer never sees: most
akshare functions call ``requests.get`` without a timeout, a few take one, BaoStock keeps a
raw socket. Three tools bound them from outside, for the duration of one call:

  1. ``bounded_requests(timeout, before_request)``: every HTTP request made through
     ``requests`` (any session, any host) gets ``timeout`` seconds to connect and ``timeout``
     seconds per read where the caller gave none, and ``before_request`` runs before each
     request (the pacing hook: vendors throttle per request, not per library call); sockets
     opened outside ``requests`` get the same default timeout;
  2. ``require_online(source, hosts)``: a fast, bounded check before a run creates anything:
     when no vendor host resolves (or none accepts a connection) the run fails in seconds with
     one line, instead of retrying every vendor with backoff;
  3. ``captured_output(logger)``: what a library prints (baostock's ``login success!`` and
     its Chinese error lines, akshare's progress bars) goes to the ``logging`` logger
     ``flyer.data.vendor.<name>`` (DEBUG), never to the user's stdout; the lines are returned so
     a failure can quote the last one.
The hooks patch ``requests.adapters.HTTPAdapter.send`` while a call runs and restore it after
(flyer's ingest is single-threaded); they nest.
"""
from __future__ import annotations

import contextlib
import functools
import io
import logging
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from flyer.core.errors import FlyerError

DEFAULT_TIMEOUT = 30.0
PROBE_TIMEOUT = 5.0


class OfflineError(FlyerError):
    """No vendor host can be reached: nothing was fetched and nothing written (one line)."""


@dataclass
class Requests:
    """What ``bounded_requests`` saw: the number of HTTP requests sent."""

    sent: int = 0
    urls: list[str] = field(default_factory=list)


@contextlib.contextmanager
def bounded_requests(timeout: float = DEFAULT_TIMEOUT,
                     before_request: Callable[[], None] | None = None) -> Iterator[Requests]:
    """Within the block, every ``requests`` call without a timeout gets ``timeout`` seconds
    (connect and each read), and ``before_request()`` runs before each request (step 1)."""
    from requests.adapters import HTTPAdapter

    seen = Requests()
    original = HTTPAdapter.send

    def send(self: HTTPAdapter, request: Any, stream: bool = False, timeout: Any = None, **kwargs: Any) -> Any:
        if before_request is not None:
            before_request()
        seen.sent += 1
        seen.urls.append(str(getattr(request, "url", "")))
        return original(self, request, stream=stream, timeout=_filled(timeout, limit), **kwargs)

    limit = float(timeout)
    old_default = socket.getdefaulttimeout()
    # patched for the block only; requests' stubs type ``send`` precisely, the wrapper forwards it all
    HTTPAdapter.send = send  # type: ignore[method-assign,assignment]
    socket.setdefaulttimeout(limit)
    try:
        yield seen
    finally:
        HTTPAdapter.send = original  # type: ignore[method-assign]
        socket.setdefaulttimeout(old_default)


def _filled(given: Any, limit: float) -> Any:
    """``given`` with every missing part (None) replaced by ``limit``."""
    if given is None:
        return (limit, limit)
    if isinstance(given, tuple):
        return tuple(limit if part is None else part for part in given)
    return given


# ------------------------------------------------------------------------- offline probe
def resolve(host: str, port: int) -> list[tuple[str, int]]:
    """The addresses of ``host`` (``socket.getaddrinfo``; tests replace this function)."""
    return [(str(info[4][0]), int(info[4][1])) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)]


def connect(address: tuple[str, int], timeout: float) -> None:
    """Open and close one TCP connection to ``address`` (tests replace this function)."""
    with socket.create_connection(address, timeout=timeout):
        pass


def _bounded(fn: Callable[[], Any], timeout: float) -> Any:
    """``fn()`` in a daemon thread, TimeoutError after ``timeout`` seconds (getaddrinfo has no timeout)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            box["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(timeout)
    if worker.is_alive():
        raise TimeoutError(f"no answer in {timeout:g}s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


def require_online(source: str, hosts: tuple[tuple[str, int], ...], timeout: float = PROBE_TIMEOUT) -> None:
    """``OfflineError`` naming the hosts when none of ``hosts`` (host, port) resolves, or none
    of the first two that resolve accepts a TCP connection, each within ``timeout`` seconds."""
    problems: list[str] = []
    reachable = 0
    for host, port in hosts:
        try:
            addresses = _bounded(functools.partial(resolve, host, port), timeout)
        except (OSError, TimeoutError) as exc:
            problems.append(f"{host}: {_reason(exc)}")
            continue
        try:
            _bounded(functools.partial(connect, addresses[0], timeout), timeout + 1)
            return
        except (OSError, TimeoutError, IndexError) as exc:
            problems.append(f"{host}:{port}: {_reason(exc)}")
            reachable += 1
            if reachable >= 2:
                break
    raise OfflineError(f"{source}: offline? no vendor host answered ({'; '.join(problems[:4])}): check the network "
                       "and retry; nothing was fetched or written")


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


# ------------------------------------------------------------------------- library output
@contextlib.contextmanager
def captured_output(logger: str) -> Iterator[list[str]]:
    """What the block prints to stdout/stderr, as lines logged at DEBUG to ``logger`` and
    yielded (filled when the block ends), instead of reaching the user's terminal."""
    lines: list[str] = []
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield lines
    finally:
        log = logging.getLogger(logger)
        for text in (out.getvalue(), err.getvalue()):
            for line in text.replace("\r", "\n").splitlines():
                if line.strip():
                    lines.append(line.strip())
                    log.debug("%s", line.strip())
