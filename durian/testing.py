"""Test helpers: a real HTTP receiver on loopback that records what it gets.

>>> with Receiver() as receiver:
...     receiver.respond(500, times=2)   # then 200
...     ...                               # deliver to receiver.url
...     receiver.wait_for(1)
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Request:
    """One request the receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int = 0
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Response:
    status: int = 200
    body: bytes = b"ok"
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class Receiver:
    """A threaded HTTP/1.1 server on 127.0.0.1 that records requests and answers as told."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.requests: list[Request] = []
        self.default = Response()
        self._script: deque[Response] = deque()
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # no 40 ms delayed-ACK stalls on keep-alive

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                response = receiver._next()
                if response.delay:
                    time.sleep(response.delay)
                self.send_response(response.status)
                for k, v in response.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(response.body)))
                self.end_headers()
                self.wfile.write(response.body)
                receiver._record(req, response)

            do_PUT = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="durian-test-receiver", daemon=True)

    # -- life cycle ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}/hook"

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

    def always(self, status: int, body: bytes = b"") -> None:
        """Answer every request from now on with ``status``."""
        self._script.clear()
        self.default = Response(status, body)

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

    def wait_for(self, count: int, timeout: float = 10.0, delivered: bool = True) -> list[Request]:
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
