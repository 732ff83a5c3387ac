"""One delivery attempt: sign the body, POST it through the vetted, bounded transport, classify the answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence

from .. import __version__
from ..core import sealing, signing
from ..core.event import Event
from ..core.outcome import Outcome, outcome_of
from ..core.payload import dumps
from ..core.redact import display_url, printable
from . import bounded

logger = logging.getLogger("durian.delivery")


def request_parts(event: Event, listener_id: int, secrets: Sequence[str]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt; the signature uses the attempt's own timestamp.

    ``secrets`` arrive sealed (``durian.core.sealing``): this is the one place they are opened.
    """
    body = dumps(event.payload).encode()
    plain = [sealing.unseal(s) for s in secrets]
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"durian/{__version__}",
        **signing.headers(plain, event.webhook_id(listener_id), int(time.time()), body),
    }
    return body, headers


def post(url: str, body: bytes, headers: Mapping[str, str], total: float | None = None) -> Outcome:
    """POST once through the vetted, bounded transport and classify the answer. Never raises."""
    return outcome_of(bounded.post(url, body, headers, total))


def attempt(event: Event, listener_id: int, url: str, secrets: Sequence[str], total: float | None = None) -> Outcome:
    """Sign and POST ``event`` to one listener (within ``total`` seconds if given). Never raises."""
    body, headers = request_parts(event, listener_id, secrets)
    outcome = post(url, body, headers, total)
    level = logging.INFO if outcome.ok else logging.WARNING
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
