"""Test helpers: ``capture()`` (the events a site's code sends, like Django's ``mail.outbox``), a
real HTTP receiver on loopback that records what it gets, a guard that keeps a test suite on
loopback (``forbid_network``), and fixed DNS answers (``FixedResolver``).

>>> with capture() as events:
...     Person.objects.create(name="Jim")
>>> [(e.hook, e.payload["name"]) for e in events]
[('person', 'Jim')]

>>> with Receiver() as receiver:
...     receiver.respond(500, times=2)   # then 200
...     receiver.allow_origin("*")       # agree to the endpoint validation handshake (OPTIONS)
...     ...                               # deliver to receiver.url
...     receiver.wait_for(1)

Receivers listen on loopback, which durian's SSRF defence refuses unless the test settings allow
it: ``DURIAN_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]``.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core.event import Event


@contextmanager
def capture(commit: bool = False, using: str = "default") -> Iterator[list[Event]]:
    """Yield a list of the events that would leave the site while the block runs; send nothing.

    Events are added when their transaction commits, as in production (at once in autocommit;
    never for a rolled-back change). Each has ``.hook`` and ``.payload``. Django's ``TestCase``
    never commits: there pass ``commit=True``, which runs the on-commit callbacks of the block
    when it ends, as ``TestCase.captureOnCommitCallbacks(execute=True)`` does.
    """
    from .pipeline import dispatch

    events: list[Event] = []
    with dispatch.capturing(events):
        if commit:
            from django.test import TestCase

            with TestCase.captureOnCommitCallbacks(using=using, execute=True):
                yield events
        else:
            yield events


@dataclass
class Request:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.time)
    peer: tuple[str, int] = ("", 0)  # the sender's address and port

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Response:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class _Server(ThreadingHTTPServer):
    #: Connections waiting to be accepted (socketserver's default is 5): a worker opens up to
    #: ``DURIAN_DELIVERY_CONCURRENCY`` at once, and a real server's backlog is in the hundreds.
    request_queue_size = 1024


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class Receiver:
    """A threaded HTTP/1.1 server on loopback (``127.0.0.1``, or ``::1``) that records requests and
    answers as told."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[Request] = []
        #: Validation handshakes (``OPTIONS``) it got; answered with ``allowed_origin`` (``allow_origin``).
        self.handshakes: list[Request] = []
        self.allowed_origin: str | None = None
        self.handshake_status = 200
        self.default = Response()
        self._script: deque[Response] = deque()
        self._cond = threading.Condition()
        self.in_flight = 0  # requests being answered now
        self.max_in_flight = 0  # the most at once since the start
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:  # the sender stopped mid-body (killed): no request to answer
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                req = Request(self.command, self.path, headers, body, peer=tuple(self.client_address[:2]))
                response = receiver._next()
                receiver._begin()
                try:
                    if response.delay:
                        time.sleep(response.delay)
                finally:
                    receiver._end()
                # Recorded before the answer goes out, so a test that saw the sender finish sees the
                # request too (the sender may still fail to read the answer: it then tries again).
                receiver._record(req, response)
                self.send_response(response.status)
                for k, v in response.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)

            do_PUT = do_POST  # noqa: N815

            def do_OPTIONS(self) -> None:  # noqa: N802
                """The CloudEvents validation handshake: 200, with ``WebHook-Allowed-Origin`` when allowed."""
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, allowed = receiver.handshake_status, receiver.allowed_origin
                req = Request(self.command, self.path, headers, b"", status=status, peer=tuple(self.client_address[:2]))
                with receiver._cond:
                    receiver.handshakes.append(req)
                    receiver._cond.notify_all()
                self.send_response(status)
                if allowed is not None:
                    self.send_header("WebHook-Allowed-Origin", allowed)
                self.send_header("Allow", "POST, OPTIONS")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server_class = _IPv6Server if ":" in host else _Server
        self.server = server_class((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="durian-test-receiver", daemon=True)

    # -- life cycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://[{host}]:{port}/hook" if ":" in host else f"http://{host}:{port}/hook"

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ------------------------------------------------------------------------------

    def respond(
        self, status: int, times: int = 1, body: bytes = b"", headers: dict[str, str] | None = None, delay: float = 0.0
    ) -> None:
        """Answer the next ``times`` requests with ``status`` (then fall back to the default)."""
        for _ in range(times):
            self._script.append(Response(status, body, headers or {}, delay))

    def allow_origin(self, origin: str | None = "*", status: int = 200) -> None:
        """Answer validation handshakes with ``status`` and ``WebHook-Allowed-Origin: <origin>`` (``*``:
        any) from now on; ``None``: without that header (not agreeing), as before any call."""
        self.allowed_origin, self.handshake_status = origin, status

    def wait_for_handshakes(self, count: int, timeout: float = 30.0) -> list[Request]:
        """Wait until ``count`` validation handshakes have arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.handshakes) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(self.handshakes)} handshake(s), expected {count}")
                self._cond.wait(left)
            return list(self.handshakes)

    def always(self, status: int, body: bytes = b"", delay: float = 0.0) -> None:
        """Answer every request from now on with ``status`` (after ``delay`` seconds)."""
        self._script.clear()
        self.default = Response(status, body, delay=delay)

    def _begin(self) -> None:
        with self._cond:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)

    def _end(self) -> None:
        with self._cond:
            self.in_flight -= 1

    def _next(self) -> Response:
        try:
            return self._script.popleft()
        except IndexError:
            return self.default

    def _record(self, req: Request, response: Response) -> None:
        with self._cond:
            req.status = response.status
            self.requests.append(req)
            self._cond.notify_all()

    # -- what it got ----------------------------------------------------------------------------

    @property
    def delivered(self) -> list[Request]:
        """Requests answered with 2xx."""
        return [r for r in self.requests if 200 <= r.status < 300]

    def bodies(self) -> list[Any]:
        """JSON bodies of the delivered requests."""
        return [r.json() for r in self.delivered]

    def wait_for(self, count: int, timeout: float = 30.0, delivered: bool = True) -> list[Request]:
        """Wait until ``count`` requests (2xx only, unless ``delivered=False``) have arrived."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                got = self.delivered if delivered else list(self.requests)
                if len(got) >= count:
                    return got
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"receiver got {len(got)} request(s), expected {count} within {timeout} s")
                self._cond.wait(left)


class BlackHole:
    """A server on 127.0.0.1 that accepts connections, reads what comes, and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(1024)
        self.connections: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name="durian-test-black-hole", daemon=True)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def __enter__(self) -> BlackHole:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.sock.close()
        for conn in self.connections:
            conn.close()


# -- loopback only -----------------------------------------------------------------------------

_LOCAL_NAMES = ("localhost", "localhost.", "ip6-localhost")
_guard = {"on": False, "installed": False, "blocked": []}


def _is_local_host(host: object) -> bool:
    if host is None or isinstance(host, bytes) and not host:
        return True
    name = host.decode() if isinstance(host, bytes) else str(host)
    if name in _LOCAL_NAMES or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_numeric_host(host: object) -> bool:
    name = host.decode() if isinstance(host, bytes) else str(host)
    try:
        ipaddress.ip_address(name.split("%")[0])
        return True
    except ValueError:
        return False


def _audit(event: str, args: tuple) -> None:
    if not _guard["on"]:
        return
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg") and len(args) > 1:
        address = args[1]
        if isinstance(address, tuple) and address and not _is_local_host(address[0]):
            _guard["blocked"].append(address)
            raise PermissionError(f"durian tests reach loopback only; refused a connection to {address!r}")
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex") and args:
        host = args[0]
        if not (_is_local_host(host) or _is_numeric_host(host)):
            _guard["blocked"].append(host)
            raise PermissionError(f"durian tests make no DNS queries; refused to resolve {host!r}")


def forbid_network(on: bool = True) -> list:
    """Refuse, in this process, every connection off loopback and every DNS query for a name.

    For test suites: a bug that would send traffic elsewhere raises ``PermissionError`` (an
    ``OSError``, so it looks like a network failure) instead. ``localhost`` and numeric hosts
    still resolve, without DNS. Returns the list that records what was refused.
    """
    if not _guard["installed"]:
        sys.addaudithook(_audit)
        _guard["installed"] = True
    _guard["on"] = on
    return _guard["blocked"]


class FixedResolver:
    """A ``DURIAN_RESOLVER`` with fixed answers, for tests: ``FixedResolver({"a.test": ["10.0.0.1"]})``.

    A name may map to a list of answers per call (``[["1.2.3.4"], ["127.0.0.1"]]``: the first
    lookup gets the first, then the next...; the last repeats). ``calls`` records every lookup.
    Unknown names fail like an unknown domain.
    """

    def __init__(self, answers: dict[str, Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []
        self._lock = threading.Lock()

    def __call__(self, host: str, port: int) -> list[str]:
        with self._lock:
            self.calls.append(host)
            if host not in self.answers:
                raise OSError(f"unknown test host {host!r}")
            answer = self.answers[host]
            if answer and isinstance(answer[0], (list, tuple)):
                n = self.calls.count(host)
                return list(answer[min(n, len(answer)) - 1])
            return list(answer)
