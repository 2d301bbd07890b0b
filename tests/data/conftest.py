"""Data tests never reach the internet: a connection (or a name lookup) to anything but this
machine fails at once, so a source that would call a real vendor fails its test instead of
waiting on the network (the fault-injecting servers of ``faults.py`` listen on 127.0.0.1)."""
from __future__ import annotations

import socket
from typing import Any

import pytest

_LOCAL = ("127.", "::1", "localhost")


def _local(host: object) -> bool:
    return isinstance(host, str) and host.startswith(_LOCAL)


@pytest.fixture(autouse=True)
def no_internet(monkeypatch: pytest.MonkeyPatch) -> None:
    connect, lookup = socket.socket.connect, socket.getaddrinfo

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(host):
            raise ConnectionRefusedError(f"tests may not connect to {address!r}")
        return connect(self, address)

    def guarded_lookup(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not _local(host):
            raise socket.gaierror(socket.EAI_NONAME, f"tests may not look up {host!r}")
        return lookup(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_lookup)
