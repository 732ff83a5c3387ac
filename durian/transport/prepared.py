"""POSTs through a ``requests.Session``'s adapter, without ``Session.request``'s per-call work.

``Session.post`` merges settings, cookies and the environment, prepares and validates the URL and
headers, runs hooks and handles redirects on every call: about a third of the CPU of a keep-alive
POST on loopback. A delivery needs none of that per call. ``send`` prepares each URL once with
``requests`` itself (cached), copies that prepared request with the attempt's headers and body, and
sends it through the adapter the session mounts for the URL, so adapters (connection pools,
address vetting) work exactly as for ``session.post``. Redirects are never followed and no cookie
is kept between requests.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import requests
from requests.models import PreparedRequest


@functools.lru_cache(maxsize=4096)
def _prepared(url: str, method: str = "POST") -> PreparedRequest:
    """A request to ``url`` as ``requests`` prepares it (URL checked and normalised, auth from userinfo)."""
    return requests.Request(method, url).prepare()


def prepare(url: str, body: bytes, headers: Mapping[str, str], method: str = "POST") -> PreparedRequest:
    """A prepared POST (or ``method``) of ``body`` with ``headers`` to ``url``; raises like ``requests``
    for a bad URL."""
    template = _prepared(url, method)
    p = PreparedRequest()
    p.method = template.method
    p.url = template.url
    p.headers = template.headers.copy()
    p.headers.update(headers)
    p.headers["Content-Length"] = str(len(body))
    p.body = body
    p.hooks = {"response": []}
    return p


def send(
    session: requests.Session,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout: tuple[float, float],
    proxies: Mapping[str, str] | None = None,
    verify: bool | str | None = None,
    method: str = "POST",
) -> requests.Response:
    """POST (or ``method``, such as ``OPTIONS``) once through ``session``'s adapter for ``url``; the
    body is left to stream.

    Behaves as ``session.post(url, data=body, headers=headers, timeout=timeout,
    allow_redirects=False, stream=True, proxies=proxies, verify=verify)`` for a session without
    default headers, auth, cookies or proxies of its own, as delivery sessions are; raises
    ``requests.RequestException`` the same way. ``proxies`` (``{"http": url, "https": url}``) sends
    through a forward proxy: ``http://`` targets in absolute form, ``https://`` ones through CONNECT.
    """
    request = prepare(url, body, headers, method)
    adapter = session.get_adapter(request.url)
    return adapter.send(
        request,
        stream=True,
        timeout=timeout,
        verify=session.verify if verify is None else verify,
        cert=session.cert,
        proxies=dict(proxies or {}),
    )
