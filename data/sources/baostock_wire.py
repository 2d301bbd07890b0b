"""BaoStock's socket, bounded: what baostock 0.9.4 does on a bad connection, and what flyer adds.

baostock keeps one TCP socket (``baostock.common.context.default_socket``, opened by
``SocketUtil.connect`` at login) and reads each answer with ``recv`` until the message's end
marker. Its failure modes, read in ``baostock/util/socketutil.py`` and ``data/resultset.py``:
  - no timeout anywhere: a stalled server blocks ``connect`` or ``recv`` forever;
  - a connection closed mid-answer makes ``recv`` return ``b""`` forever: ``send_msg`` loops
    without end;
  - any exception inside ``send_msg`` is printed and swallowed (``None`` returned); when that
    happens while ``ResultData.next()`` fetches a later page, ``next()`` returns False with
    ``error_code`` still "0": a history cut at a 2,000-row page looks complete.
``guarded(bs, timeout)`` (for the duration of a session) replaces ``SocketUtil.connect`` with one
that opens a ``GuardedSocket``: ``timeout`` seconds to connect and per ``recv``/``send``, a
close mid-answer raised as ``ConnectionResetError``, and every such failure recorded in
``Wire.failures``, so ``Session.query`` can tell a cut page from the end of the data.
"""
from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Wire:
    """Socket failures seen during a session (each one line), in order."""

    failures: list[str] = field(default_factory=list)


class GuardedSocket(socket.socket):
    """A TCP socket with a timeout whose failures are recorded; ``recv`` of a closed
    connection raises instead of returning ``b""`` (baostock would loop on it)."""

    wire: Wire

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        try:
            data = super().recv(bufsize, flags)
        except OSError as exc:
            self.wire.failures.append(f"recv: {type(exc).__name__}: {exc}")
            raise
        if not data:
            self.wire.failures.append("recv: the server closed the connection mid-answer")
            raise ConnectionResetError("BaoStock closed the connection mid-answer")
        return data

    def send(self, data: Any, flags: int = 0) -> int:
        try:
            return super().send(data, flags)
        except OSError as exc:
            self.wire.failures.append(f"send: {type(exc).__name__}: {exc}")
            raise


def open_socket(address: tuple[str, int], timeout: float, wire: Wire) -> GuardedSocket:
    """A connected ``GuardedSocket`` (``ConnectionError`` naming the server when it cannot connect)."""
    sock = GuardedSocket(socket.AF_INET, socket.SOCK_STREAM)
    sock.wire = wire
    sock.settimeout(timeout)
    try:
        sock.connect(address)
    except OSError as exc:
        sock.close()
        wire.failures.append(f"connect {address[0]}:{address[1]}: {exc}")
        raise ConnectionError(f"cannot connect to BaoStock at {address[0]}:{address[1]}: {exc}") from exc
    return sock


@contextlib.contextmanager
def guarded(bs: Any, timeout: float) -> Iterator[Wire]:
    """Within the block, logins of the real ``baostock`` module ``bs`` open a ``GuardedSocket``
    (module docstring); a stand-in module without baostock's internals is left as it is."""
    wire = Wire()
    try:
        from baostock.common import contants as cons
        from baostock.common import context
        from baostock.util import socketutil
    except ImportError:  # pragma: no cover - baostock is optional; a stand-in needs no guard
        yield wire
        return
    if getattr(bs, "login", None) is None or getattr(bs.login, "__module__", "").split(".")[0] != "baostock":
        yield wire  # a recorded stand-in
        return

    def connect(self: Any, api_key: str) -> None:
        host = cons.BAOSTOCK_VIP_SERVER_IP if str(api_key).startswith("bs-") else cons.BAOSTOCK_SERVER_IP
        context.default_socket = open_socket((host, int(cons.BAOSTOCK_SERVER_PORT)), timeout, wire)

    original = socketutil.SocketUtil.connect
    socketutil.SocketUtil.connect = connect
    try:
        yield wire
    finally:
        socketutil.SocketUtil.connect = original
