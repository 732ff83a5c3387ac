"""The HTTP transport of deliveries: vetted destinations and bounded requests.

``requests`` resolves a host when it connects and offers neither a total deadline nor a size cap.
This module closes those gaps for every delivery:

* ``VettedAdapter`` vets each request's host with ``durian.transport.ssrf`` and connects to the vetted
  address itself, keeping the Host header and TLS SNI (and certificate check) on the name, so a
  DNS answer that changes between the check and the connect (rebinding) changes nothing.
* ``Deadline`` bounds an attempt in total: a watchdog thread cuts the socket when the time is up,
  which stops a receiver that drips its headers or body a byte at a time (a read timeout alone
  never fires while bytes keep coming).
* ``post`` reads at most ``DURIAN_RESPONSE_MAX_BYTES`` of the body, undecoded (no decompression
  bomb), and keeps only an excerpt.

Redirects are never followed: the session allows none, and ``durian.core.outcome`` treats a 3xx as a
failed attempt.

With ``DURIAN_PROXY`` set every request goes through that forward proxy (``http://`` targets in
absolute form, ``https://`` ones through ``CONNECT``) and the proxy resolves names: durian still
refuses literal non-public addresses, but makes no DNS query of its own; the proxy is the boundary.
A proxy that is down or refuses makes a failed attempt ("proxy refused: ..."), retried as any other.
"""

from __future__ import annotations

import os
import re
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3 import BaseHTTPResponse
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import parse_url

from .. import conf
from ..conf import settings
from ..core.outcome import Answer
from ..exceptions import RefusedURL
from . import prepared, ssrf

_local = threading.local()


# -- total deadline ---------------------------------------------------------------------------


class Deadline:
    """The time budget of one attempt. While armed, the watchdog cuts the attempt's connection
    when ``at`` (monotonic seconds) has passed."""

    __slots__ = ("at", "connection", "expired")

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self.connection: Any = None
        self.expired = False

    def remaining(self) -> float:
        return self.at - time.monotonic()

    def cut(self) -> bool:
        """Shut the connection's socket down: a blocked read or write returns at once.

        Returns False while there is no socket to cut yet (still connecting).
        """
        self.expired = True
        sock = getattr(self.connection, "sock", None)
        if sock is None:
            return False
        try:
            socket.socket.shutdown(sock, socket.SHUT_RDWR)
        except OSError:
            pass
        return True


class Watchdog:
    """One daemon thread per process that cuts armed deadlines once they pass.

    It sleeps while nothing is armed and checks every ``interval`` seconds otherwise, so arming
    costs a lock and a set insertion, not a timer thread per attempt.
    """

    interval = 0.1

    def __init__(self) -> None:
        self._armed: set[Deadline] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._pid = 0

    def after_fork(self) -> None:
        """In a forked child: no thread, no armed deadlines, a lock nobody holds."""
        self._armed = set()
        self._lock = threading.Lock()
        self._pid = 0

    def arm(self, deadline: Deadline) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked worker process
                self._pid = os.getpid()
                self._wake = threading.Event()
                threading.Thread(target=self._run, name="durian-deadlines", daemon=True).start()
            self._armed.add(deadline)
            self._wake.set()

    def disarm(self, deadline: Deadline) -> None:
        """After this returns, ``deadline`` is never cut."""
        with self._lock:
            self._armed.discard(deadline)

    def _run(self) -> None:
        wake = self._wake
        while True:
            wake.wait()
            time.sleep(self.interval)
            now = time.monotonic()
            with self._lock:
                for deadline in [d for d in self._armed if d.at <= now]:
                    if deadline.cut():  # else still connecting: cut it on the next tick
                        self._armed.discard(deadline)
                if not self._armed:
                    wake.clear()


watchdog = Watchdog()
os.register_at_fork(after_in_child=watchdog.after_fork)


class _Bounded:
    """Attempt-aware connection: hands itself to the current attempt's deadline before use, and
    sends a request's header block and its (bytes) body in one ``sendall``: one write, and on
    loopback one pass through the kernel's TCP path, instead of two."""

    _held: bytes | None = None  # the header block, kept until the body comes

    def request(self, method: str, url: str, body: Any = None, *args: Any, **kwargs: Any) -> None:
        deadline = getattr(_local, "deadline", None)
        if deadline is not None:
            deadline.connection = self
            if deadline.remaining() <= 0:  # the connect used the whole budget
                deadline.expired = True
                raise TimeoutError("the attempt's deadline passed before the request was sent")
        if isinstance(body, bytes) and body and not kwargs.get("chunked"):
            self._held = b""  # the next send (the header block) waits for the body
        try:
            super().request(method, url, body, *args, **kwargs)  # type: ignore[misc]
        finally:
            self._held = None

    def send(self, data: Any) -> None:
        held = self._held
        if held is None:
            return super().send(data)  # type: ignore[misc]
        if not held:
            self._held = bytes(data)
            return None
        self._held = None
        return super().send(held + bytes(data))  # type: ignore[misc]


class BoundedHTTPConnection(_Bounded, HTTPConnection):
    pass


class BoundedHTTPSConnection(_Bounded, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = BoundedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = BoundedHTTPSConnection


# -- the adapter ------------------------------------------------------------------------------


class VettedAdapter(HTTPAdapter):
    """A requests adapter that connects only to addresses ``durian.transport.ssrf`` allows.

    The host of every request is vetted (resolved once) as it is sent; the connection goes to
    the vetted address, while the Host header, the TLS SNI and the certificate check keep the
    name. Raises ``ssrf.RefusedURL`` for a refused destination and ``requests.ConnectionError``
    for a name that does not resolve.

    Through a proxy the name goes to the proxy, which resolves it; only a literal address is
    vetted here. One adapter serves one thread (``session()``), so ``_proxied`` is that thread's.
    """

    _proxied = False
    #: The destination ``route`` vetted for the request being routed (vetted here when ``None``).
    vetted: ssrf.Target | None = None

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}  # deadlines apply
        return manager

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: Any = None, cert: Any = None
    ) -> Any:
        self._proxied = bool(proxies)
        return super().get_connection_with_tls_context(request, verify, proxies, cert)

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if self._proxied:  # the proxy resolves and connects: refuse only literal non-public addresses
            ssrf.vet_host(host_params["scheme"], host_params["host"], host_params["port"], resolve_names=False)
            return host_params, pool_kwargs
        target = self.vetted or vet(host_params["scheme"], host_params["host"], host_params["port"])
        request.headers["Host"] = target.host_header
        if target.scheme == "https":
            pool_kwargs["server_hostname"] = target.host
            pool_kwargs["assert_hostname"] = target.host
        host_params["host"] = target.connect_host
        host_params["port"] = target.port
        return host_params, pool_kwargs


class DeliverySession(requests.Session):
    """A session that never looks at redirects.

    With ``allow_redirects=False`` plain requests still reads the whole body of a 3xx (to
    prepare ``Response.next``), past any size cap. Here a redirect is just a response.
    """

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


def new_session() -> requests.Session:
    """A session that vets every destination, sends only the headers given, never redirects."""
    s = DeliverySession()
    s.headers.clear()
    s.trust_env = False  # no proxies or .netrc from the environment
    s.max_redirects = 0
    adapter = VettedAdapter()
    s.mount("http://", adapter)
    s.mount("https://", adapter)
    return s


def session() -> requests.Session:
    """This thread's session, reused across deliveries for keep-alive."""
    s = getattr(_local, "session", None)
    if s is None:
        s = _local.session = new_session()
    return s


# -- routes: where an attempt's request goes -----------------------------------------------------


def vet(scheme: str, host: str, port: int | None) -> ssrf.Target:
    """``ssrf.vet_host``, with a name that does not resolve raised as ``requests.ConnectionError``."""
    try:
        target = ssrf.vet_host(scheme, host, port)
    except ssrf.UnresolvableHost as exc:
        raise requests.ConnectionError(str(exc)) from None
    assert target is not None
    return target


def route(url: str, proxies: Mapping[str, str] | None, verify: bool | str) -> prepared.Route:
    """This thread's route to ``url``, for one attempt.

    Each attempt vets the destination (a name is resolved once per attempt, and the connection
    goes to exactly the address vetted); the route to that address (its pool, its request line)
    is built once and reused until a setting changes or the adapter closes the pool. Through a
    proxy the proxy resolves names: only a literal address is vetted, when the route is built.
    """
    routes: dict[tuple[Any, ...], tuple[int, prepared.Route]] = _local.__dict__.setdefault("routes", {})
    proxy = proxies.get("http") if proxies else None
    vetted = None if proxy else vet(*prepared.destination(url))
    key = (url, proxy, verify, vetted and vetted.connect_host)
    changes = conf.changes()
    found = routes.get(key)
    if found is not None and found[0] == changes and found[1].usable:
        return found[1]
    s = session()
    adapter = s.get_adapter(url)
    if isinstance(adapter, VettedAdapter):
        adapter.vetted = vetted
    try:
        made = prepared.route(s, url, proxies, verify)
    finally:
        if isinstance(adapter, VettedAdapter):
            adapter.vetted = None
    if len(routes) >= 1024:  # many destinations: start again rather than grow
        routes.clear()
    routes[key] = (changes, made)
    return made


# -- one bounded request ----------------------------------------------------------------------


def post(url: str, body: bytes, headers: Mapping[str, str], total: float | None = None) -> Answer:
    """POST once within the connect, read and total timeouts; never raises for network trouble.

    ``total`` shortens ``DURIAN_TOTAL_TIMEOUT`` (a test event sent while a web request waits).

    The status decides the attempt; the body is read (undecoded) up to ``RESPONSE_MAX_BYTES``
    and until the deadline, and only the first ``RESPONSE_EXCERPT_BYTES`` are kept.
    """
    return _request("POST", url, body, headers, total)


def options(url: str, headers: Mapping[str, str], total: float | None = None) -> Answer:
    """OPTIONS once (an endpoint validation handshake), exactly as ``post`` sends: same session, SSRF
    vetting, proxy, TLS settings, timeouts and capped read; never raises for network trouble."""
    return _request("OPTIONS", url, b"", headers, total)


def _request(method: str, url: str, body: bytes, headers: Mapping[str, str], total: float | None) -> Answer:
    """One bounded request of ``method`` (see ``post``)."""
    started = time.monotonic()
    total = float(settings.TOTAL_TIMEOUT) if total is None else min(float(total), float(settings.TOTAL_TIMEOUT))
    timeout = (min(float(settings.CONNECT_TIMEOUT), total), min(float(settings.READ_TIMEOUT), total))
    proxy = settings.PROXY or None
    proxies = {"http": proxy, "https": proxy} if proxy else None
    deadline = Deadline(total)
    _local.deadline = deadline
    watchdog.arm(deadline)
    try:
        r = prepared.send(route(url, proxies, settings.CA_BUNDLE or True), body, headers, timeout, method)
        excerpt, truncated = _read_capped(r, deadline)
        if proxy and r.status == 407:  # the proxy's answer, not the receiver's
            return Answer(
                error=f"proxy refused: HTTP 407 {r.reason or ''}".strip(),
                detail=_unsecret(excerpt.decode("utf-8", "replace"), proxy),
                elapsed=time.monotonic() - started,
            )
        return Answer(r.status, r.reason or "", dict(r.headers), excerpt, truncated, elapsed=time.monotonic() - started)
    except RefusedURL as exc:
        return Answer(error=f"Refused: {exc}", refused=True, elapsed=time.monotonic() - started)
    except (requests.RequestException, OSError) as exc:
        detail = f"{type(exc).__name__}: {exc}"
        if deadline.expired:
            error = f"No complete answer within the {total:g} s deadline"
        elif proxy and _through_proxy(exc):
            error = proxy_reason(exc, proxy, url, timeout)
        else:
            error = reason(exc, url, timeout)
        if proxy:
            error, detail = _unsecret(error, proxy), _unsecret(detail, proxy)
        return Answer(error=error, detail=detail, elapsed=time.monotonic() - started)
    finally:
        watchdog.disarm(deadline)
        _local.deadline = None


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception behind it (causes, contexts, urllib3's ``reason``), outermost first."""
    seen: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        e = todo.pop(0)
        if not isinstance(e, BaseException) or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None), *e.args]
    return seen


#: What OpenSSL says when a TLS hello gets a plain-HTTP answer (an https:// URL on an http port).
_PLAIN_HTTP = re.compile(r"WRONG_VERSION_NUMBER|wrong version number|packet length too long|HTTP_REQUEST", re.I)
#: The timeout that fired, as urllib3 reports it: "Read timed out. (read timeout=5.0)".
_WAITED = re.compile(r"read timeout=([0-9.]+)")


def _during_handshake(causes: list[BaseException]) -> bool:
    """True when a timeout was raised inside the TLS handshake (before any request was sent)."""
    for c in causes:
        tb = c.__traceback__
        while tb is not None:
            if tb.tb_frame.f_code.co_name == "do_handshake":
                return True
            tb = tb.tb_next
    return False


def reason(exc: BaseException, url: str, timeout: tuple[float, float]) -> str:
    """A short reason a client understands for a failed attempt: "connection refused by 1.2.3.4:443".

    The exception's own text (urllib3's pool and retry wording) is kept for staff as the detail.
    """
    where = _host_port(url, "the receiver")
    causes = _causes(exc)

    def found(*types: type[BaseException]) -> bool:
        return any(isinstance(c, types) for c in causes)

    if found(ssl.SSLCertVerificationError):
        cert = next(c for c in causes if isinstance(c, ssl.SSLCertVerificationError))
        if "hostname" in str(cert).lower() or "match" in str(cert).lower():
            return f"TLS certificate not valid for host {where}"
        return f"TLS certificate of {where} not trusted"
    if found(ssl.SSLError, requests.exceptions.SSLError):
        if any(_PLAIN_HTTP.search(str(c)) for c in causes):
            return f"{where} answered in plain HTTP, not TLS: use http://, or the receiver's https port"
        return f"TLS handshake with {where} failed"
    if found(requests.ConnectTimeout):
        return f"no connection to {where} within {timeout[0]:g} s"
    if found(requests.ReadTimeout, TimeoutError, socket.timeout):
        if _during_handshake(causes):  # urllib3 calls it a read timeout; it waited the connect timeout
            return (
                f"no TLS answer from {where} within {timeout[0]:g} s: a plain-HTTP port does not answer TLS "
                "(use http://, or the receiver's https port)"
            )
        waited = next((m.group(1) for c in causes if (m := _WAITED.search(str(c)))), None)
        return f"timed out after {float(waited) if waited else timeout[1]:g} s waiting for {where}"
    if found(ConnectionRefusedError):
        return f"connection refused by {where}"
    if found(ssrf.UnresolvableHost, socket.gaierror):
        return f"host name of {where} could not be resolved"
    if found(ConnectionResetError, BrokenPipeError, ConnectionAbortedError):
        return f"connection closed by {where}"
    if found(requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError):
        return f"malformed answer from {where}"
    return f"could not reach {where}"


def _through_proxy(exc: BaseException) -> bool:
    """True when ``exc`` is the proxy's failure (down, refused the tunnel, a bad proxy URL)."""
    from urllib3.exceptions import ProxyError

    return any(
        isinstance(c, (requests.exceptions.ProxyError, requests.exceptions.InvalidProxyURL, ProxyError))
        for c in _causes(exc)
    )


#: What urllib3 says when the proxy answers CONNECT with something else than 200.
_TUNNEL = re.compile(r"Tunnel connection failed: ([^'\")]*)")


def _host_port(url: str, unknown: str) -> str:
    """``host:port`` of ``url`` (the scheme's port when it names none), else ``unknown``."""
    try:
        parsed = parse_url(url)
    except ValueError:
        return unknown
    return f"{parsed.host}:{parsed.port or (443 if parsed.scheme == 'https' else 80)}"


def proxy_reason(exc: BaseException, proxy: str, url: str, timeout: tuple[float, float]) -> str:
    """A short reason for an attempt the proxy did not carry: "proxy refused: ..."."""
    where = _host_port(proxy, "the proxy")
    causes = _causes(exc)
    if any(isinstance(c, requests.exceptions.InvalidProxyURL) for c in causes):
        return "proxy refused: DURIAN_PROXY is not a valid proxy URL"
    tunnel = next((m.group(1).strip() for c in causes if (m := _TUNNEL.search(str(c)))), None)
    if tunnel:
        try:
            target = parse_url(url)
            to = f"{target.host}:{target.port or 443}"
        except ValueError:
            to = "the receiver"
        return f"proxy refused: CONNECT {to} answered {tunnel}"
    if any(isinstance(c, ConnectionRefusedError) for c in causes):
        return f"proxy refused: no proxy listening at {where} (connection refused)"
    if any(isinstance(c, (requests.ConnectTimeout, TimeoutError, socket.timeout)) for c in causes):
        return f"proxy refused: no answer from the proxy at {where} within {timeout[0]:g} s"
    if any(isinstance(c, (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)) for c in causes):
        return f"proxy refused: the proxy at {where} closed the connection"
    return f"proxy refused: could not go through the proxy at {where}"


def _unsecret(text: str, proxy: str) -> str:
    """``text`` without the proxy's credentials (user name and password)."""
    try:
        auth = parse_url(proxy).auth
    except ValueError:
        return text
    for secret in (auth or "").split(":", 1):
        if len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def _read_capped(response: BaseHTTPResponse, deadline: Deadline) -> tuple[bytes, bool]:
    """Up to ``RESPONSE_MAX_BYTES`` of the raw body; ``(excerpt, truncated)``.

    ``truncated`` is true when the body was cut at the cap or the deadline, and the connection
    is then closed rather than reused; otherwise it goes back to the pool.
    """
    cap = max(0, int(settings.RESPONSE_MAX_BYTES))
    keep = max(0, int(settings.RESPONSE_EXCERPT_BYTES))
    excerpt = bytearray()
    seen = 0
    try:
        while seen <= cap and not deadline.expired:
            chunk = response.read1(min(65536, cap + 1 - seen) or 1, decode_content=False)
            if not chunk:
                response.release_conn()
                return bytes(excerpt), deadline.expired
            seen += len(chunk)
            if len(excerpt) < keep:
                excerpt += chunk[: keep - len(excerpt)]
    except Exception:  # cut by the deadline, or the receiver hung up: keep what we have
        pass
    response.close()
    response.release_conn()
    return bytes(excerpt), True
