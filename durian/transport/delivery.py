"""One delivery attempt: sign the body, POST it through the vetted, bounded transport, classify the answer."""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from django.apps import apps
from django.conf import settings as django_settings

from .. import __version__
from ..conf import settings
from ..core import sealing, signing, tracing
from ..core.event import Event
from ..core.headers import refused
from ..core.outcome import Outcome, outcome_of
from ..core.payload import PAYLOAD_FORMATS, dumps, jsonable
from ..core.redact import display_url, printable
from ..exceptions import SealError
from . import bounded

logger = logging.getLogger("durian.delivery")


FLAT, STANDARD, CLOUDEVENTS = PAYLOAD_FORMATS
#: The media type of each payload format's body.
CONTENT_TYPES = {FLAT: "application/json", STANDARD: "application/json", CLOUDEVENTS: "application/cloudevents+json"}


def cloudevents_source() -> str:
    """The CloudEvents ``source`` attribute: ``DURIAN_CLOUDEVENTS_SOURCE``, else the site's URL:
    ``https://<domain>`` of the current ``django.contrib.sites`` Site when that app is installed and
    ``SITE_ID`` is set, else ``https://<host>`` of the first ``ALLOWED_HOSTS`` entry that names one host,
    else ``https://localhost``."""
    configured = settings.CLOUDEVENTS_SOURCE
    if configured:
        return str(configured)
    if apps.is_installed("django.contrib.sites") and getattr(django_settings, "SITE_ID", None):
        from django.contrib.sites.models import Site

        try:
            return f"https://{Site.objects.get_current().domain}"
        except Exception as exc:  # no such Site row, no table yet: fall back to ALLOWED_HOSTS
            logger.debug("durian: no current Site for the CloudEvents source (%s)", exc)
    for host in django_settings.ALLOWED_HOSTS:
        host = host.lstrip(".")
        if host and "*" not in host:
            return f"https://{host}"
    return "https://localhost"


def body_of(
    event: Event, payload_format: str = FLAT, fields: Sequence[str] = (), webhook_id: str | None = None
) -> dict[str, Any]:
    """The JSON document sent for ``event``: its fields (``flat``), the Standard Webhooks envelope
    ``{"type", "timestamp", "data"}`` (``standard``), or a CloudEvents 1.0 structured message
    (``cloudevents``: ``id`` the webhook-id, ``source``, ``type`` the hook, ``time``, ``data``), stamped
    with the event's time. With ``fields``, the payload carries only those fields."""
    data = {k: v for k, v in event.payload.items() if k in fields} if fields else event.payload
    if payload_format == FLAT:
        return data
    when = jsonable(datetime.datetime.fromtimestamp(event.created_at, tz=datetime.UTC))
    if payload_format == STANDARD:
        return {"type": event.hook, "timestamp": when, "data": data}
    if payload_format == CLOUDEVENTS:
        return {
            "specversion": "1.0",
            "id": webhook_id or event.id,
            "source": cloudevents_source(),
            "type": event.hook,
            "time": when,
            "datacontenttype": "application/json",
            "data": data,
        }
    raise ValueError(f"Unknown payload format {payload_format!r}; use one of {', '.join(PAYLOAD_FORMATS)}.")


def request_parts(
    event: Event,
    listener_id: int,
    secrets: Sequence[str],
    payload_format: str = FLAT,
    headers: Mapping[str, str] | None = None,
    fields: Sequence[str] = (),
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt; the signature covers that body and uses the
    attempt's own timestamp. ``Durian-Event`` names the hook on every attempt; ``Durian-Backfill: 1``
    marks an event a listener's backfill sent (``Event.backfill``). The listener's own
    ``headers`` come first, so durian's own (refused as a listener's: ``durian.core.headers``) win.

    ``secrets`` and the values of ``headers`` arrive sealed (``durian.core.sealing``): this is the one
    place they are opened.
    """
    webhook_id = event.webhook_id(listener_id)
    body = dumps(body_of(event, payload_format, fields, webhook_id)).encode()
    plain = [sealing.unseal(s) for s in secrets]
    own = open_headers(headers)
    out = {
        **own,
        "Content-Type": CONTENT_TYPES.get(payload_format, "application/json"),
        "User-Agent": f"durian/{__version__}",
        "Durian-Event": event.hook,
        **({"Durian-Backfill": "1"} if event.backfill else {}),
        **signing.headers(plain, webhook_id, int(time.time()), body),
    }
    return body, out


def open_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """A listener's own headers, values opened, to be sent now (names durian sets itself left out).
    Raises ``SealError`` when a value cannot be opened."""
    return {name: sealing.unseal(value) for name, value in (headers or {}).items() if not refused(name)}


def post(url: str, body: bytes, headers: Mapping[str, str], total: float | None = None) -> Outcome:
    """POST once through the vetted, bounded transport and classify the answer. Never raises."""
    return outcome_of(bounded.post(url, body, headers, total))


def attempt(
    event: Event,
    listener_id: int,
    url: str,
    secrets: Sequence[str],
    payload_format: str = FLAT,
    total: float | None = None,
    headers: Mapping[str, str] | None = None,
    fields: Sequence[str] = (),
    number: int = 1,
) -> Outcome:
    """Sign and POST ``event`` to one listener, in its payload format, with its own (sealed) ``headers``
    and only its ``fields`` (within ``total`` seconds if given), as its ``number``-th attempt. Never
    raises.

    With OpenTelemetry the attempt is a ``durian.deliver`` span, a child of the event's trace
    context, and the webhook carries that span's ``traceparent`` (and ``tracestate``).
    """
    with tracing.delivering(event.trace, event.hook, listener_id, url, number) as span:
        try:
            body, headers = request_parts(event, listener_id, secrets, payload_format, headers, fields)
        except SealError as exc:  # a key was dropped before durian_reseal ran: nothing can be signed
            logger.error("durian: %s not sent to listener %s: %s", event.webhook_id(listener_id), listener_id, exc)
            outcome = Outcome(False, error="not sent: the sender could not sign it", final=True, detail=str(exc))
            span.set(outcome=outcome_name(outcome))
            span.failed(outcome.error)
            return outcome
        headers.update(span.carrier())
        outcome = post(url, body, headers, total)
        span.set(status=outcome.status_code, outcome=outcome_name(outcome))
        if not outcome.ok:
            span.failed(outcome.error)
    level = logging.INFO if outcome.ok else logging.WARNING
    if logger.isEnabledFor(level):  # the line's arguments cost more than the check: build them only when logged
        logger.log(
            level,
            "durian: %s %s to %s -> %s (%.0f ms)",
            event.hook,
            event.webhook_id(listener_id),
            display_url(url),
            outcome.status_code or printable(outcome.error),
            outcome.elapsed * 1000,
        )
    return outcome


def outcome_name(outcome: Outcome) -> str:
    """One word for what an attempt led to: ``delivered``, ``gone`` (410), ``refused`` (not sent:
    a refused URL, a secret that cannot be opened) or ``failed`` (retried)."""
    if outcome.ok:
        return "delivered"
    if outcome.gone:
        return "gone"
    return "refused" if outcome.final else "failed"
