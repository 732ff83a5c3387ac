"""For sites that receive webhooks: verify Standard Webhooks signatures.

Works with durian and with any Standard Webhooks sender (``webhook-*`` headers; Svix's ``svix-*``
headers are read too)::

    from durian.receiver import webhook_view

    @webhook_view(secret=settings.ORDERS_WEBHOOK_SECRET)
    def orders_webhook(request):
        handle(request.webhook)          # the verified JSON payload
        return HttpResponse(status=204)

A failed check answers 400 with the reason. ``verify`` does the same checks without Django.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .core.signing import SECRET_PREFIX
from .exceptions import InvalidWebhook

Secrets = str | bytes | Iterable[str | bytes]

#: Seconds a timestamp may be away from now, as the Standard Webhooks libraries default to.
DEFAULT_TOLERANCE = 300


def _secret_keys(secrets: Secrets) -> list[bytes]:
    items = [secrets] if isinstance(secrets, (str, bytes)) else list(secrets)
    keys = []
    for item in items:
        if isinstance(item, bytes):
            keys.append(item)
            continue
        try:
            keys.append(base64.b64decode(item.removeprefix(SECRET_PREFIX), validate=True))
        except (binascii.Error, ValueError):
            raise InvalidWebhook("A secret is not a base64 (whsec_...) secret.") from None
    if not keys:
        raise InvalidWebhook("No secret is configured for this webhook.")
    return keys


def _header(headers: Mapping[str, str], name: str) -> str:
    lowered = {k.lower(): v for k, v in headers.items()}
    value = lowered.get(f"webhook-{name}") or lowered.get(f"svix-{name}")
    if not value:
        raise InvalidWebhook(f"The webhook-{name} header is missing.")
    return value


def verify(
    request_or_headers: Any,
    body: bytes | None = None,
    secret: Secrets = (),
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> Any:
    """Check a webhook's signature and timestamp; return its JSON payload.

    ``request_or_headers`` is a Django ``HttpRequest`` (its body is used) or a mapping of
    headers with ``body`` given. ``secret`` is one secret or several (during a rotation):
    ``whsec_...`` strings, or raw key bytes. Raises ``InvalidWebhook`` with the reason.
    """
    if body is None:
        if not hasattr(request_or_headers, "body"):
            raise TypeError("verify() needs the body: pass a request, or headers and the body.")
        headers, body = request_or_headers.headers, request_or_headers.body
    else:
        headers = getattr(request_or_headers, "headers", request_or_headers)
    keys = _secret_keys(secret)
    msg_id = _header(headers, "id")
    raw_timestamp = _header(headers, "timestamp")
    signatures = _header(headers, "signature")
    try:
        timestamp = int(raw_timestamp)
    except ValueError:
        raise InvalidWebhook("The webhook-timestamp header is not a number of seconds.") from None
    now = time.time() if now is None else now
    if timestamp < now - tolerance:
        raise InvalidWebhook(f"The timestamp is older than {tolerance} s (a replay, or a slow clock).")
    if timestamp > now + tolerance:
        raise InvalidWebhook(f"The timestamp is more than {tolerance} s in the future.")
    content = f"{msg_id}.{timestamp}.".encode() + body
    expected = [base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()) for key in keys]
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        if version == "v1" and any(hmac.compare_digest(value.encode(), e) for e in expected):
            break
    else:
        raise InvalidWebhook("No signature matches: wrong secret, or the body was changed.")
    try:
        return json.loads(body)
    except ValueError:
        raise InvalidWebhook("The body is not JSON.") from None


def webhook_view(
    secret: Secrets | Callable[[Any], Secrets], tolerance: int = DEFAULT_TOLERANCE
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a Django view that receives webhooks (it is also made CSRF-exempt).

    ``secret`` is the secret(s), or a callable taking the request and returning them (say, to
    look up the sender's secret). A request that fails ``verify`` gets a 400 with the reason in
    plain text; otherwise the view runs with ``request.webhook`` set to the verified payload.
    """
    from django.http import HttpResponseBadRequest, HttpResponseNotAllowed
    from django.views.decorators.csrf import csrf_exempt

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(request: Any, *args: Any, **kwargs: Any) -> Any:
            if request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            try:
                secrets = secret(request) if callable(secret) else secret
                request.webhook = verify(request, secret=secrets, tolerance=tolerance)
            except InvalidWebhook as exc:
                return HttpResponseBadRequest(f"{exc}\n", content_type="text/plain; charset=utf-8")
            return view(request, *args, **kwargs)

        return csrf_exempt(wrapper)

    return decorate


__all__ = ["InvalidWebhook", "verify", "webhook_view", "DEFAULT_TOLERANCE"]
