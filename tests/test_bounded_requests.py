"""Bounded requests: a total deadline per attempt and a cap on the response bytes read.

The receivers here are raw sockets on loopback, so they can misbehave in ways an HTTP server
library would not: send 50 MB, or drip one byte a second.
"""

import socket
import threading
import time

import pytest

from durian.transport import delivery

pytestmark = pytest.mark.timeout(60)

FIFTY_MB = 50 * 1024 * 1024


class RawServer:
    """A loopback TCP server; ``behave(conn, server)`` answers each request on a connection."""

    def __init__(self, behave):
        self.behave = behave
        self.connections = 0
        self.requests = 0
        self.sent = 0
        self.done = threading.Event()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/hook"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            try:
                while self._read_request(conn):
                    self.requests += 1
                    self.behave(conn, self)
            except OSError:  # the client hung up on us: what these tests expect
                pass
            finally:
                self.done.set()

    @staticmethod
    def _read_request(conn):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = conn.recv(65536)
            if not chunk:
                return False
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = next(
            (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
            0,
        )
        while len(body) < length:
            body += conn.recv(65536)
        return True

    def send(self, conn, data):
        conn.sendall(data)
        self.sent += len(data)

    def close(self):
        self.sock.close()


@pytest.fixture
def serve():
    servers = []

    def start(behave):
        servers.append(RawServer(behave))
        return servers[-1]

    yield start
    for s in servers:
        s.close()


def fifty_megabytes(status):
    def behave(conn, server):
        server.send(conn, f"HTTP/1.1 {status} X\r\nContent-Length: {FIFTY_MB}\r\n\r\n".encode())
        chunk = b"x" * 65536
        while server.sent < FIFTY_MB:
            server.send(conn, chunk)

    return behave


def drip(prefix, then):
    """Send ``prefix`` at once, then ``then`` one byte a second."""

    def behave(conn, server):
        server.send(conn, prefix)
        for byte in then:
            server.send(conn, bytes([byte]))
            time.sleep(1.0)

    return behave


@pytest.mark.parametrize("status", [500, 200])
def test_a_receiver_sending_50_mb_is_cut_off_at_the_byte_cap(serve, settings, status):
    settings.DURIAN_RESPONSE_MAX_BYTES = 256 * 1024
    settings.DURIAN_RESPONSE_EXCERPT_BYTES = 100
    server = serve(fifty_megabytes(status))
    outcome = delivery.post(server.url, b"{}", {})
    assert outcome.status_code == status and outcome.ok is (status == 200)
    assert outcome.excerpt == ("x" * 100 if status == 500 else "")
    assert server.done.wait(10), "the receiver never noticed the connection was closed"
    assert server.sent < FIFTY_MB // 2  # the rest was never read


def test_a_redirect_with_a_50_mb_body_is_cut_off_too(serve, settings):
    settings.DURIAN_RESPONSE_MAX_BYTES = 256 * 1024

    def behave(conn, server):
        server.send(conn, f"HTTP/1.1 302 Found\r\nLocation: /x\r\nContent-Length: {FIFTY_MB}\r\n\r\n".encode())
        while server.sent < FIFTY_MB:
            server.send(conn, b"x" * 65536)

    server = serve(behave)
    outcome = delivery.post(server.url, b"{}", {})
    assert outcome.status_code == 302 and not outcome.ok
    assert server.done.wait(10)
    assert server.sent < FIFTY_MB // 2


def test_a_receiver_dripping_its_headers_is_cut_off_at_the_deadline(serve, settings):
    settings.DURIAN_TOTAL_TIMEOUT = 1.5  # the read timeout (5 s in tests) never fires: a byte comes every second
    server = serve(drip(b"", b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    started = time.monotonic()
    outcome = delivery.post(server.url, b"{}", {})
    elapsed = time.monotonic() - started
    assert not outcome.ok and outcome.status_code is None
    assert outcome.error.startswith("No complete answer within the 1.5 s deadline")
    assert 1.5 <= elapsed < 5


def test_a_receiver_dripping_its_body_is_cut_off_at_the_deadline(serve, settings):
    settings.DURIAN_TOTAL_TIMEOUT = 1.5
    server = serve(drip(b"HTTP/1.1 503 Busy\r\nContent-Length: 100\r\n\r\n", b"slow" * 25))
    started = time.monotonic()
    outcome = delivery.post(server.url, b"{}", {})
    elapsed = time.monotonic() - started
    assert outcome.status_code == 503 and not outcome.ok
    assert 0 < len(outcome.excerpt) < 5  # the bytes that came before the deadline
    assert 1.5 <= elapsed < 5


def test_well_behaved_receivers_keep_their_connection_between_deliveries(serve):
    def behave(conn, server):
        server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    server = serve(behave)
    for _ in range(3):
        assert delivery.post(server.url, b"{}", {}).ok
    assert server.connections == 1 and server.requests == 3


def test_a_response_cut_at_the_cap_does_not_poison_the_next_delivery(serve, settings):
    settings.DURIAN_RESPONSE_MAX_BYTES = 1024
    answers = iter([b"x" * 10_000, b"ok"])

    def behave(conn, server):
        body = next(answers)
        server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    server = serve(behave)
    assert delivery.post(server.url, b"{}", {}).ok
    assert delivery.post(server.url, b"{}", {}).ok
    assert server.connections == 2  # the first connection was closed, not reused half-read


# -- issue 22, point 8: an https:// URL pointed at a plain-HTTP port ------------------------------------


def test_an_https_url_on_a_plain_http_port_that_waits_for_a_request_line_says_so_in_the_time_it_took(serve, settings):
    settings.DURIAN_CONNECT_TIMEOUT = 1.0
    settings.DURIAN_READ_TIMEOUT = 4.0
    server = serve(lambda conn, server: server.send(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"))
    started = time.monotonic()
    outcome = delivery.post(server.url.replace("http://", "https://"), b"{}", {})
    took = time.monotonic() - started
    assert not outcome.ok and outcome.status_code is None
    assert took < 3, took
    where = server.url.split("/")[2]
    assert outcome.error == (
        f"no TLS answer from {where} within 1 s: a plain-HTTP port does not answer TLS "
        "(use http://, or the receiver's https port)"
    )
    assert "4 s" not in outcome.error and "handshake" not in outcome.error


def test_an_https_url_on_a_plain_http_port_that_answers_says_it_answered_in_plain_http(receiver):
    outcome = delivery.post(receiver.url.replace("http://", "https://"), b"{}", {})
    where = receiver.url.split("/")[2]
    assert outcome.error == f"{where} answered in plain HTTP, not TLS: use http://, or the receiver's https port"
    assert "WRONG_VERSION_NUMBER" in outcome.detail  # the technical text stays for staff


def test_a_plain_http_receiver_that_never_answers_still_reads_as_a_read_timeout(serve, settings):
    settings.DURIAN_READ_TIMEOUT = 1.0
    server = serve(lambda conn, server: time.sleep(3))
    outcome = delivery.post(server.url, b"{}", {})
    assert outcome.error == f"timed out after 1 s waiting for {server.url.split('/')[2]}"
