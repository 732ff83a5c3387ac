"""The benchmark's webhook receiver: one asyncio HTTP/1.1 keep-alive server in its own process.

Every system measured posts to it. It answers each POST with ``200`` at once and records, per
request, the event token found in the body (the ``"name"`` field) and the time of receipt, and
counts distinct deliveries (path and token: one listener's copy of one event) apart from POSTs,
so that a repeated delivery never inflates a rate. The benchmark reads and clears the record
through ``GET /_stats`` and ``POST /_reset``.

Two paths behave like real endpoints: ``/slow...`` answers after ``SLOW`` seconds (100 ms; the
stats report the most requests in flight at once), ``/hole...`` accepts the request and never
answers (a black hole; not recorded), and ``/flaky...`` answers after ``FLAKY`` seconds (1 ms) and
fails the first POST of every 5th event it sees with ``500`` (not recorded; counted in
``flaky_failures``).

Run: ``python bench/receiver.py PORT``.
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

TOKEN = re.compile(rb'"name": ?"([^"]*)"')
OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
SLOW = 0.1
FLAKY = 0.001


class State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.tokens: list[tuple[str, float]] = []
        self.seen: set[tuple[bytes, bytes]] = set()  # (path, token): one listener's copy of one event
        self.in_flight = 0
        self.max_in_flight = 0
        self.busy_seconds = 0.0  # sum of the slow path's request durations: mean in flight = busy / elapsed
        self.hole_hits = 0
        self.flaky_seen: set[bytes] = set()
        self.flaky_failures = 0

    def record(self, path: bytes, body: bytes) -> None:
        """Count a POST; ``distinct``, ``first`` and ``last`` count each event per listener once."""
        now = time.time()
        self.count += 1
        m = TOKEN.search(body)
        token = m.group(1) if m else b""
        self.tokens.append((token.decode(), now))
        if (path, token) in self.seen:
            return  # a duplicate: it adds nothing to the throughput
        if not self.seen:
            self.first = now
        self.seen.add((path, token))
        self.last = now

    def stats(self, with_tokens: bool) -> bytes:
        data = {
            "count": self.count,
            "distinct": len(self.seen),
            "first": self.first,
            "last": self.last,
            "max_in_flight": self.max_in_flight,
            "busy_seconds": self.busy_seconds,
            "hole_hits": self.hole_hits,
            "flaky_failures": self.flaky_failures,
        }
        if with_tokens:
            data["tokens"] = self.tokens
        return json.dumps(data).encode()


STATE = State()


class Http(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            self.handle(head.split(b" ", 2), body)

    def handle(self, request_line: list[bytes], body: bytes) -> None:
        method, path = request_line[0], request_line[1]
        if path.startswith(b"/_stats"):
            payload = STATE.stats(b"tokens" in path)
            self.transport.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(payload)
                + payload
            )
        elif path.startswith(b"/_reset"):
            STATE.reset()
            self.transport.write(OK)
        elif path.startswith(b"/hole"):
            STATE.hole_hits += 1  # and never answer
        elif path.startswith(b"/flaky"):
            asyncio.get_running_loop().call_later(FLAKY, self.answer_flaky, method, path, body)
        elif path.startswith(b"/slow"):
            STATE.in_flight += 1
            STATE.max_in_flight = max(STATE.max_in_flight, STATE.in_flight)
            asyncio.get_running_loop().call_later(SLOW, self.answer_slow, method, path, body)
        else:
            if method == b"POST":
                STATE.record(path, body)
            self.transport.write(OK)

    def answer_flaky(self, method: bytes, path: bytes, body: bytes) -> None:
        m = TOKEN.search(body)
        token = m.group(1) if m else b""
        fail = method == b"POST" and token not in STATE.flaky_seen and len(STATE.flaky_seen) % 5 == 4
        STATE.flaky_seen.add(token)
        if fail:
            STATE.flaky_failures += 1
            reply = b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n"
        else:
            if method == b"POST":
                STATE.record(path, body)
            reply = OK
        if not self.transport.is_closing():
            self.transport.write(reply)

    def answer_slow(self, method: bytes, path: bytes, body: bytes) -> None:
        STATE.in_flight -= 1
        STATE.busy_seconds += SLOW
        if method == b"POST":
            STATE.record(path, body)
        if not self.transport.is_closing():
            self.transport.write(OK)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
