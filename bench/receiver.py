"""The benchmark's webhook receiver: one asyncio HTTP/1.1 keep-alive server in its own process.

Every system measured posts to it. It answers each POST with ``200`` at once and records, per
request, the event token found in the body (the ``"name"`` field) and the time of receipt. The
benchmark reads and clears the record through ``GET /_stats`` and ``POST /_reset``.

Two paths behave like real endpoints: ``/slow...`` answers after ``SLOW`` seconds (100 ms; the
stats report the most requests in flight at once), and ``/hole...`` accepts the request and never
answers (a black hole; not recorded).

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


class State:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0
        self.tokens: list[tuple[str, float]] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.hole_hits = 0

    def record(self, body: bytes) -> None:
        now = time.time()
        if not self.count:
            self.first = now
        self.count += 1
        self.last = now
        m = TOKEN.search(body)
        self.tokens.append((m.group(1).decode() if m else "", now))

    def stats(self, with_tokens: bool) -> bytes:
        data = {
            "count": self.count,
            "first": self.first,
            "last": self.last,
            "max_in_flight": self.max_in_flight,
            "hole_hits": self.hole_hits,
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
        elif path.startswith(b"/slow"):
            STATE.in_flight += 1
            STATE.max_in_flight = max(STATE.max_in_flight, STATE.in_flight)
            asyncio.get_running_loop().call_later(SLOW, self.answer_slow, method, body)
        else:
            if method == b"POST":
                STATE.record(body)
            self.transport.write(OK)

    def answer_slow(self, method: bytes, body: bytes) -> None:
        STATE.in_flight -= 1
        if method == b"POST":
            STATE.record(body)
        if not self.transport.is_closing():
            self.transport.write(OK)


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Http, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1])))
