"""Fault-injecting servers on 127.0.0.1 for the network tests (nothing here reaches the internet).

``HttpFaults``: an HTTP server whose answer per path is set by the test: a JSON or text body,
``STALL`` (read the request, never answer), ``RESET`` (close with a TCP reset), ``SHORT`` (a
Content-Length larger than the body, then close). ``redirect(server)`` sends every ``requests``
call (any host, http or https) to it, keeping the path and query: akshare's own functions, with
their hard-coded vendor URLs, then talk to this server.

``BaostockFaults``: a TCP server speaking BaoStock 0.9.4's wire format (a 21-byte header
``version\\1type\\1length``, fields split by ``\\1``, each answer ending ``<![CDATA[]]>\\n``) for
``login``, ``logout`` and ``query_trade_dates`` (2,000 rows a page), with the same faults.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import socket
import socketserver
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Iterator
from urllib.parse import urlsplit, urlunsplit

STALL, RESET, SHORT = "stall", "reset", "short"
HOLD_S = 20.0  # how long a stalled answer waits before the server gives up (tests time out long before)


def _reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP RST (SO_LINGER 0) instead of a FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


# ----------------------------------------------------------------------------- HTTP
class HttpFaults:
    """An HTTP server on 127.0.0.1; ``answers[path]`` is a body (str/bytes/dict) or a fault, or a
    callable ``(query) -> body``; ``log`` holds ``(path, query, monotonic time)`` per request."""

    def __init__(self) -> None:
        self.answers: dict[str, Any] = {}
        self.log: list[tuple[str, str, float]] = []
        self.stop = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server interface
                parts = urlsplit(self.path)
                outer.log.append((parts.path, parts.query, time.monotonic()))
                answer = outer.answers.get(parts.path, outer.answers.get("*", {"error": "no answer set"}))
                if callable(answer):
                    answer = answer(parts.query)
                if answer == STALL:
                    outer.stop.wait(HOLD_S)
                    return
                if answer == RESET:
                    _reset(self.connection)
                    return
                if answer == SHORT:  # a body cut short of its Content-Length, then the connection closed
                    body, length = b'{"data": {"klines": ["2024-01-02,1', 1000
                else:
                    body = answer if isinstance(answer, bytes) else (
                        answer.encode() if isinstance(answer, str) else json.dumps(answer).encode())
                    length = len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)
                self.wfile.flush()
                if answer == SHORT:
                    self.close_connection = True

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def paths(self) -> list[str]:
        return [p for p, _, _ in self.log]

    def __enter__(self) -> HttpFaults:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def redirect(server: HttpFaults) -> Iterator[None]:
    """Within the block every ``requests`` send goes to ``server`` (path and query kept)."""
    from requests.adapters import HTTPAdapter

    original = HTTPAdapter.send

    def send(self: HTTPAdapter, request: Any, **kwargs: Any) -> Any:
        parts = urlsplit(request.url)
        request.url = urlunsplit(("http", f"127.0.0.1:{server.port}", parts.path, parts.query, ""))
        return original(self, request, **kwargs)

    HTTPAdapter.send = send  # type: ignore[method-assign]
    try:
        yield
    finally:
        HTTPAdapter.send = original  # type: ignore[method-assign]


# ----------------------------------------------------------------------------- BaoStock
SPLIT, END = "\x01", "<![CDATA[]]>\n"


def _answer(body_fields: list[str]) -> bytes:
    body = SPLIT.join(body_fields) + SPLIT + END
    return f"00.9.40{SPLIT}01{SPLIT}{len(body):010d}{body}".encode()


class BaostockFaults:
    """A BaoStock server on 127.0.0.1. ``fault``: None (answer), ``STALL`` / ``RESET`` at login,
    or ``SHORT``: the second page of ``query_trade_dates`` is cut mid-answer and the connection
    closed. ``days``: the calendar dates it reports in the span asked (every one a trading day);
    ``log``: the methods asked, in order."""

    def __init__(self, fault: str | None = None, days: list[dt.date] | None = None) -> None:
        self.fault, self.log = fault, []  # type: ignore[var-annotated]
        self.days = days or [dt.date(2010, 1, 1) + dt.timedelta(k) for k in range(6000)]
        self.stop = threading.Event()
        outer = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                buf = b""
                while not outer.stop.is_set():
                    try:
                        chunk = self.request.recv(65536)
                    except OSError:
                        return
                    if not chunk:
                        return
                    buf += chunk
                    while b"\n" in buf:
                        line, buf = buf.split(b"\n", 1)
                        if not outer.reply(self.request, line.decode()):
                            return

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def reply(self, sock: socket.socket, message: str) -> bool:
        """Answer one request line; False when the connection is to be dropped."""
        fields = message[21:].split(SPLIT)
        method = fields[0]
        self.log.append(method)
        if method == "login":
            if self.fault == STALL:
                self.stop.wait(HOLD_S)
                return False
            if self.fault == RESET:
                _reset(sock)
                return False
            sock.sendall(_answer(["0", "success", "login", "anonymous"]))
        elif method == "logout":
            sock.sendall(_answer(["0", "success", "logout", "anonymous"]))
        elif method == "query_trade_dates":
            page, first, last = int(fields[2]), dt.date.fromisoformat(fields[4]), dt.date.fromisoformat(fields[5])
            days = [d for d in self.days if first <= d <= last]
            rows = [[str(d), "1"] for d in days[(page - 1) * 2000: page * 2000]]
            data = json.dumps({"record": rows})
            out = _answer(["0", "success", method, "anonymous", str(page), "2000", data, fields[4], fields[5],
                           "calendar_date,is_trading_day"])
            if self.fault == SHORT and page == 2:
                sock.sendall(out[: len(out) // 3])  # cut mid-answer, then close
                sock.close()
                return False
            sock.sendall(out)
        else:
            sock.sendall(_answer(["10004011", f"unsupported in the test server: {method}"]))
        return True

    def __enter__(self) -> BaostockFaults:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.server.shutdown()
        self.server.server_close()


def finishes_within(seconds: float, fn: Callable[[], Any]) -> tuple[Any, BaseException | None, float]:
    """Run ``fn`` in a thread; (result, exception, elapsed). AssertionError when it is still
    running after ``seconds`` (a call that blocks forever fails the test instead of hanging it)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["out"] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            box["exc"] = exc

    t0 = time.monotonic()
    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(seconds)
    elapsed = time.monotonic() - t0
    assert not worker.is_alive(), f"still blocked after {seconds}s: a network call without a bound"
    return box.get("out"), box.get("exc"), elapsed
