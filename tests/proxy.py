"""Test helpers for egress: a real forward proxy on loopback, and TLS receivers with their own CA.

``ForwardProxy`` is a small threaded HTTP proxy, as smokescreen or squid are to durian: it takes
``http://`` requests in absolute form and opens ``CONNECT`` tunnels, resolves names itself (from
its ``names``), may ask for credentials, and records what it carried in ``seen``.
"""

from __future__ import annotations

import base64
import datetime
import http.client
import ipaddress
import select
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from durian.testing import Receiver

_HOP = {"connection", "keep-alive", "proxy-authorization", "proxy-connection", "transfer-encoding", "te", "upgrade"}


class _Server(ThreadingHTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hung up, a tunnel cut by stop(): nothing for the test to see


class ForwardProxy:
    """A forward proxy on ``127.0.0.1``: absolute-form requests and ``CONNECT`` tunnels.

    ``names`` maps host names to the addresses the proxy connects to (it answers DNS, not the
    sender); ``credentials`` (``"user:password"``) makes it answer 407 without them. ``seen``
    lists ``(method, target)`` of every request it carried (``("CONNECT", "host:443")``,
    ``("POST", "http://host:port/hook")``); ``auth`` the ``Proxy-Authorization`` values it got.
    """

    def __init__(self, port: int = 0, names: dict[str, str] | None = None, credentials: str | None = None) -> None:
        self.names = dict(names or {})
        self.credentials = credentials
        self.seen: list[tuple[str, str]] = []
        self.auth: list[str] = []
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self) -> None:
                super().setup()
                with proxy._lock:
                    proxy._sockets.add(self.connection)

            def finish(self) -> None:
                with proxy._lock:
                    proxy._sockets.discard(self.connection)
                super().finish()

            def _allowed(self) -> bool:
                given = self.headers.get("Proxy-Authorization", "")
                proxy.auth.append(given)
                if proxy.credentials is None:
                    return True
                if given == "Basic " + base64.b64encode(proxy.credentials.encode()).decode():
                    return True
                self.send_response(407, "Proxy Authentication Required")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False

            def do_CONNECT(self) -> None:  # noqa: N802
                if not self._allowed():
                    return
                host, _, port = self.path.rpartition(":")
                proxy.seen.append(("CONNECT", self.path))
                try:
                    upstream = socket.create_connection((proxy.address_of(host), int(port)), timeout=5)
                except OSError:
                    self.send_response(502, "Bad Gateway")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200, "Connection established")
                self.end_headers()
                self.wfile.flush()
                _pipe(self.connection, upstream)
                self.close_connection = True

            def do_POST(self) -> None:  # noqa: N802
                if not self._allowed():
                    return
                target = urlsplit(self.path)
                proxy.seen.append((self.command, self.path))
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                upstream = http.client.HTTPConnection(
                    proxy.address_of(target.hostname or ""), target.port or 80, timeout=10
                )
                try:
                    path = target.path + (f"?{target.query}" if target.query else "")
                    upstream.request(self.command, path or "/", body=body, headers=headers)
                    answer = upstream.getresponse()
                    content = answer.read()
                finally:
                    upstream.close()
                self.send_response(answer.status, answer.reason)
                for k, v in answer.getheaders():
                    if k.lower() not in _HOP and k.lower() != "content-length":
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_PUT = do_POST  # noqa: N815
            do_GET = do_POST  # noqa: N815
            do_OPTIONS = do_POST  # noqa: N815

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = _Server(("127.0.0.1", port), Handler)
        self._thread = threading.Thread(target=self.server.serve_forever, name="test-forward-proxy", daemon=True)

    def address_of(self, host: str) -> str:
        """Where the proxy connects for ``host``: its own answer for a name, else the literal."""
        return self.names.get(host, host.strip("[]"))

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    def url(self, credentials: str | None = None) -> str:
        """``http://[credentials@]127.0.0.1:port``."""
        return f"http://{credentials + '@' if credentials else ''}127.0.0.1:{self.port}"

    def targets(self) -> list[str]:
        return [target for _, target in self.seen]

    def start(self) -> ForwardProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and cut every connection (tunnels and kept-alive ones): the proxy is down."""
        self.server.shutdown()
        self.server.server_close()
        with self._lock:
            for sock in list(self._sockets):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def __enter__(self) -> ForwardProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _pipe(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until either side closes."""
    try:
        while True:
            ready, _, _ = select.select([a, b], [], [], 30)
            if not ready:
                return
            for sock in ready:
                data = sock.recv(65536)
                if not data:
                    return
                (b if sock is a else a).sendall(data)
    except OSError:
        return
    finally:
        b.close()


def free_port() -> int:
    """A loopback port nothing listens on (now)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- TLS ----------------------------------------------------------------------------------------


def make_ca_and_cert(directory: Path, names: list[str]) -> tuple[Path, Path, Path]:
    """A test CA and a server certificate it signed for ``names`` (host names or IP addresses).

    Returns ``(ca.pem, cert.pem, key.pem)`` in ``directory``.
    """
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "durian test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    sans: list[x509.GeneralName] = []
    for name in names:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path, cert_path, key_path = directory / "ca.pem", directory / "cert.pem", directory / "key.pem"
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return ca_path, cert_path, key_path


def tls_receiver(cert: Path, key: Path) -> Receiver:
    """A ``durian.testing.Receiver`` that speaks TLS with ``cert`` (use it in a ``with`` block)."""
    receiver = Receiver()
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    receiver.server.socket = context.wrap_socket(receiver.server.socket, server_side=True)
    receiver.server.handle_error = lambda request, address: None  # a client that hung up mid-handshake
    return receiver


def port_of(receiver: Receiver) -> int:
    """The port a receiver listens on."""
    return int(receiver.server.server_address[1])
