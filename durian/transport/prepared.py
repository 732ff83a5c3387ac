"""POSTs on the urllib3 connection pool a ``requests`` adapter picks, without the rest of ``requests``.

``Session.post`` merges settings, cookies and the environment, prepares and validates the URL and
headers, runs hooks, builds a ``Response`` and handles redirects on every call; ``HTTPAdapter.send``
vets the destination and picks a pool each time. That was half the CPU of a keep-alive POST on
loopback, and a delivery needs none of it per call. Here:

* ``route`` does, once per destination, what ``requests`` does before sending: it prepares the URL
  with ``requests`` itself (checked and normalised, auth from userinfo), and asks the session's
  adapter for the connection pool (so adapters work exactly as for ``session.post``: ``VettedAdapter``
  vets the address, a proxy gets its proxy pool) and for the request line's target;
* ``send`` POSTs on that pool with urllib3, and raises what ``requests`` would raise for the same
  failure (``requests.ConnectTimeout``, ``ReadTimeout``, ``SSLError``, ``ProxyError``,
  ``ConnectionError``).

Redirects are never followed, no cookie is kept, and the response (urllib3's) is left to stream.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from requests.models import PreparedRequest
from urllib3 import BaseHTTPResponse, Timeout
from urllib3 import exceptions as u3
from urllib3.connectionpool import HTTPConnectionPool
from urllib3.util import parse_url
from urllib3.util.retry import Retry

#: No retry of any kind: one attempt is one request (as ``requests``' default adapter).
_ONCE = Retry(0, read=False)


@functools.lru_cache(maxsize=4096)
def _prepared(url: str) -> PreparedRequest:
    """A POST to ``url`` as ``requests`` prepares it (URL checked and normalised, auth from userinfo)."""
    return requests.Request("POST", url).prepare()


@functools.lru_cache(maxsize=4096)
def destination(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url`` as ``requests`` and urllib3 see it (the port ``None``
    when the URL names none). Raises like ``requests`` for a bad URL."""
    parsed = parse_url(_prepared(url).url or "")
    if not parsed.host:
        raise requests.exceptions.InvalidURL(f"Invalid URL {url!r}: No host supplied")
    return (parsed.scheme or "http").lower(), parsed.host, parsed.port


@dataclass(frozen=True)
class Route:
    """Where a POST to one URL goes: the pool, the request line's target and the headers the URL
    itself implies (``Host`` when the pool connects to a vetted address, ``Authorization`` from
    credentials in the URL)."""

    pool: HTTPConnectionPool
    target: str
    headers: Mapping[str, str]

    @property
    def usable(self) -> bool:
        """False once the adapter closed the pool (its pool manager keeps a limited number)."""
        return self.pool.pool is not None


def route(
    session: requests.Session, url: str, proxies: Mapping[str, str] | None = None, verify: bool | str | None = None
) -> Route:
    """The route of a POST to ``url`` through ``session``'s adapter (``proxies``: ``{"http": url,
    "https": url}`` sends through a forward proxy). Raises like ``requests`` for a bad URL, and
    whatever the adapter raises for a refused destination."""
    request = _prepared(url).copy()
    adapter = session.get_adapter(request.url)
    verify = session.verify if verify is None else verify
    proxies = dict(proxies or {})
    try:
        pool = adapter.get_connection_with_tls_context(request, verify, proxies=proxies, cert=session.cert)
    except u3.LocationValueError as exc:
        raise requests.exceptions.InvalidURL(exc, request=request) from None
    adapter.cert_verify(pool, request.url, verify, session.cert)
    headers = {k: v for k, v in request.headers.items() if k.lower() != "content-length"}
    return Route(pool, adapter.request_url(request, proxies), headers)


def send(
    route: Route, body: bytes, headers: Mapping[str, str], timeout: tuple[float, float], method: str = "POST"
) -> BaseHTTPResponse:
    """POST (or ``method``, such as ``OPTIONS``) ``body`` once on ``route``, within the ``(connect,
    read)`` timeouts; the body is left to stream: read it, then ``release_conn()`` (or ``close()``
    to drop the connection)."""
    sent = {**route.headers, **headers, "Content-Length": str(len(body))}
    try:
        return route.pool.urlopen(
            method,
            route.target,
            body=body,
            headers=sent,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            release_conn=False,
            retries=_ONCE,
            timeout=Timeout(connect=timeout[0], read=timeout[1]),
            chunked=False,
        )
    except (u3.HTTPError, OSError) as exc:
        raise as_requests_error(exc) from exc


def as_requests_error(exc: BaseException) -> requests.RequestException:
    """The ``requests`` exception for a urllib3 (or socket) failure, as ``HTTPAdapter.send`` raises it."""
    cause: Any = exc.reason if isinstance(exc, u3.MaxRetryError) else exc
    if isinstance(cause, u3.ProxyError):
        return requests.exceptions.ProxyError(exc)
    if isinstance(cause, u3.SSLError):
        return requests.exceptions.SSLError(exc)
    if isinstance(cause, u3.ConnectTimeoutError) and not isinstance(cause, u3.NewConnectionError):
        return requests.ConnectTimeout(exc)
    if isinstance(cause, u3.ReadTimeoutError):
        return requests.ReadTimeout(exc)
    if isinstance(cause, u3.LocationValueError):
        return requests.exceptions.InvalidURL(exc)
    return requests.ConnectionError(exc)
