"""One delivery attempt: sign the body, POST it with ``requests``, classify the answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from . import __version__, schedule, signing, transport
from .conf import settings
from .event import Event
from .payload import dumps

logger = logging.getLogger("durian.delivery")

#: Statuses that ask the sender to slow down: retried, honouring ``Retry-After``.
SLOW_DOWN = frozenset({429, 502, 503, 504})


@dataclass(frozen=True)
class Outcome:
    """What one attempt led to.

    ``final`` failures are not retried (a refused URL, 410 Gone); ``retry_after`` is the wait
    (seconds, already bounded) a receiver asked for with ``Retry-After``.
    """

    ok: bool
    status_code: int | None = None
    error: str = ""
    excerpt: str = ""
    elapsed: float = 0.0
    retry_after: float | None = None
    final: bool = False

    @property
    def gone(self) -> bool:
        """The receiver answered 410 Gone: it wants no more deliveries."""
        return self.status_code == 410


def outcome_of(answer: transport.Answer) -> Outcome:
    """The meaning of an answer: 2xx delivered; 410 final; 429/502/503/504 honour Retry-After;
    a redirect, any other status and network errors are failures that follow the schedule."""
    status = answer.status
    if status is None:
        return Outcome(False, None, answer.error, "", answer.elapsed, final=answer.refused)
    if 200 <= status < 300:
        return Outcome(True, status, elapsed=answer.elapsed)
    excerpt = answer.excerpt.decode("utf-8", "replace")
    error = f"HTTP {status} {answer.reason}".strip()
    headers = {k.lower(): v for k, v in answer.headers.items()}
    retry_after = None
    if 300 <= status < 400:
        error += f": redirects are not followed (Location: {headers.get('location', '-')})"
    elif status == 410:
        error += ": the receiver asked for no more deliveries"
    elif status in SLOW_DOWN and headers.get("retry-after"):
        retry_after = schedule.retry_after(headers["retry-after"], float(settings.RETRY_AFTER_MAX))
    return Outcome(False, status, error, excerpt, answer.elapsed, retry_after=retry_after, final=status == 410)


def request_parts(event: Event, listener_id: int, secrets: Sequence[str]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of one attempt; the signature uses the attempt's own timestamp."""
    body = dumps(event.payload).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"durian/{__version__}",
        **signing.headers(secrets, event.webhook_id(listener_id), int(time.time()), body),
    }
    return body, headers


def post(url: str, body: bytes, headers: Mapping[str, str]) -> Outcome:
    """POST once through the vetted, bounded transport and classify the answer. Never raises."""
    return outcome_of(transport.post(url, body, headers))


def attempt(event: Event, listener_id: int, url: str, secrets: Sequence[str]) -> Outcome:
    """Sign and POST ``event`` to one listener."""
    body, headers = request_parts(event, listener_id, secrets)
    outcome = post(url, body, headers)
    level = logging.INFO if outcome.ok else logging.WARNING
    logger.log(
        level,
        "durian: %s %s to %s -> %s (%.0f ms)",
        event.hook,
        event.webhook_id(listener_id),
        url,
        outcome.status_code or outcome.error,
        outcome.elapsed * 1000,
    )
    return outcome


def deliver_locally(event: Event) -> None:
    """``async_ = False``: deliver in this process, once, right after commit. Never raises.

    A failed attempt becomes a dead letter, so nothing is lost; so does the event of a disabled
    listener. The outcomes count towards the listeners' health.
    """
    from . import deadletters, health, match
    from .connection import get_redis
    from .models import Listener
    from .recorder import record, save_records

    try:
        results, records = [], []
        for listener in Listener.objects.filter(hook=event.hook).exclude(state=Listener.State.PAUSED):
            if not match.matches(listener.matchers, event.payload):
                continue
            if listener.state != Listener.State.ACTIVE:
                deadletters.record(event, listener.pk, 0, Outcome(False, error=f"The listener is {listener.state}."))
                continue
            outcome = attempt(event, listener.pk, listener.url, listener.secrets())
            records.append(record(event, listener.pk, 1, outcome))
            results.append((listener.pk, outcome))
            if not outcome.ok:
                deadletters.record(event, listener.pk, 1, outcome)
        save_records(records)
        health.observe(results, get_redis("request"))
    except Exception:
        logger.exception("durian: local delivery of %s event %s failed", event.hook, event.id)
