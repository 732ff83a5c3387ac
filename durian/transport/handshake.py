"""The endpoint validation handshake of the CloudEvents webhook specification (abuse protection).

durian sends ``OPTIONS`` to the listener's URL with ``WebHook-Request-Origin: <origin>`` (and
``WebHook-Request-Rate``, requests per minute, when the listener has a rate limit). The endpoint
agrees with a 2xx answer carrying ``WebHook-Allowed-Origin`` equal to that origin, or ``*``.

The request goes through ``durian.transport.bounded``, as deliveries do: the same vetted session
(SSRF checks), the egress proxy ``DURIAN_PROXY``, the CA bundle, the timeouts. The listener's own
headers go with it (an endpoint behind an ``Authorization`` check must be able to answer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from urllib3.util import parse_url

from .. import __version__
from ..conf import settings
from ..core.redact import printable
from ..exceptions import SealError
from . import bounded
from .delivery import cloudevents_source, open_headers

REQUEST_ORIGIN = "WebHook-Request-Origin"
REQUEST_RATE = "WebHook-Request-Rate"
ALLOWED_ORIGIN = "WebHook-Allowed-Origin"


def webhook_origin() -> str:
    """The origin durian names: ``DURIAN_WEBHOOK_ORIGIN``, else the host of the CloudEvents ``source``
    (``DURIAN_CLOUDEVENTS_SOURCE``, else the site's domain), else ``localhost``."""
    configured = settings.WEBHOOK_ORIGIN
    if configured:
        return str(configured)
    source = cloudevents_source()
    try:
        host = parse_url(source).host
    except ValueError:
        host = None
    return host or source or "localhost"


@dataclass(frozen=True)
class Handshake:
    """What one handshake got: ``ok`` when the endpoint agreed; else ``error`` says why, in words."""

    ok: bool
    error: str = ""
    status_code: int | None = None
    elapsed: float = 0.0
    detail: str = ""


def handshake(
    url: str,
    headers: Mapping[str, str] | None = None,
    rate_per_second: float | None = None,
    total: float | None = None,
) -> Handshake:
    """Ask ``url`` whether it accepts webhooks from this site; never raises for network trouble.

    ``headers`` are the listener's own headers, values sealed (opened here only to be sent).
    """
    origin = webhook_origin()
    try:
        own = open_headers(headers)
    except SealError as exc:
        return Handshake(False, "not sent: the listener's headers could not be opened", detail=str(exc))
    sent = {**own, "User-Agent": f"durian/{__version__}", REQUEST_ORIGIN: origin}
    if rate_per_second:
        sent[REQUEST_RATE] = str(max(1, int(rate_per_second * 60)))
    answer = bounded.options(url, sent, total)
    if answer.status is None:
        return Handshake(False, answer.error or "no answer", elapsed=answer.elapsed, detail=answer.detail)
    status = answer.status
    allowed = next((v for k, v in answer.headers.items() if k.lower() == ALLOWED_ORIGIN.lower()), None)
    # Each reason starts with the status: what a client may see of an internal receiver (durian.web.disclosure).
    if not 200 <= status < 300:
        error = f"HTTP {status}: the endpoint must answer the validation request (OPTIONS) with 2xx"
    elif allowed is None:
        error = f"HTTP {status} without {ALLOWED_ORIGIN}: the endpoint must answer with {origin!r} or '*' in it"
    elif allowed.strip() != "*" and allowed.strip().lower() != origin.lower():
        shown = printable(allowed.strip()[:100])
        error = f"HTTP {status} with {ALLOWED_ORIGIN} {shown!r}: the endpoint must allow {origin!r} or '*'"
    else:
        return Handshake(True, status_code=status, elapsed=answer.elapsed)
    return Handshake(False, error, status_code=status, elapsed=answer.elapsed)
