"""One delivery attempt: sign the body, POST it through the vetted, bounded transport, classify the answer."""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from .. import __version__
from ..core import sealing, signing, tracing
from ..core.event import Event
from ..core.outcome import Outcome, outcome_of
from ..core.payload import PAYLOAD_FORMATS, dumps, jsonable
from ..core.redact import display_url, printable
from ..exceptions import SealError
from . import bounded

logger = logging.getLogger("durian.delivery")


FLAT, STANDARD = PAYLOAD_FORMATS


def body_of(event: Event, payload_format: str = FLAT) -> dict[str, Any]:
    """The JSON document sent for ``event``: its fields (``flat``), or the Standard Webhooks
    envelope ``{"type", "timestamp", "data"}`` (``standard``), stamped with the event's time."""
    if payload_format == STANDARD:
        when = datetime.datetime.fromtimestamp(event.created_at, tz=datetime.UTC)
        return {"type": event.hook, "timestamp": jsonable(when), "data": event.payload}
    if payload_format != FLAT:
        raise ValueError(f"Unknown payload format {payload_format!r}; use one of {', '.join(PAYLOAD_FORMATS)}.")
    return event.payload


def request_parts(
    event: Event, listener_id: int, secrets: Sequence[str], payload_format: str = FLAT
) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt; the signature covers that body and uses the
    attempt's own timestamp. ``Durian-Event`` names the hook on every attempt.

    ``secrets`` arrive sealed (``durian.core.sealing``): this is the one place they are opened.
    """
    body = dumps(body_of(event, payload_format)).encode()
    plain = [sealing.unseal(s) for s in secrets]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"durian/{__version__}",
        "Durian-Event": event.hook,
        **signing.headers(plain, event.webhook_id(listener_id), int(time.time()), body),
    }
    return body, headers


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
    number: int = 1,
) -> Outcome:
    """Sign and POST ``event`` to one listener, in its payload format (within ``total`` seconds
    if given), as its ``number``-th attempt. Never raises.

    With OpenTelemetry the attempt is a ``durian.deliver`` span, a child of the event's trace
    context, and the webhook carries that span's ``traceparent`` (and ``tracestate``).
    """
    with tracing.delivering(event.trace, event.hook, listener_id, url, number) as span:
        try:
            body, headers = request_parts(event, listener_id, secrets, payload_format)
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
