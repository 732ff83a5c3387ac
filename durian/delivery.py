"""One delivery attempt: sign the body, POST it with ``requests``, classify the answer."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import __version__, schedule, signing, transport
from .conf import settings
from .event import Event
from .payload import dumps

logger = logging.getLogger("durian.delivery")

#: This thread's ``requests.Session`` (see ``durian.transport``).
session = transport.session

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


def record(event: Event, listener_id: int, attempt_no: int, outcome: Outcome) -> Any:
    """An unsaved ``Delivery`` row for one attempt."""
    from .models import Delivery

    return Delivery(
        listener_id=listener_id,
        hook=event.hook,
        event_id=event.id,
        webhook_id=event.webhook_id(listener_id),
        attempt=attempt_no,
        ok=outcome.ok,
        status_code=outcome.status_code,
        error=outcome.error[:2000],
        duration_ms=int(outcome.elapsed * 1000),
    )


def save_records(records: Sequence[Any]) -> None:
    """Store delivery records in one statement batch; a failure here never affects delivery."""
    if not records:
        return
    from django.db import DatabaseError

    try:
        _insert(records)
    except DatabaseError as exc:  # e.g. the listener was deleted meanwhile
        logger.warning("durian: could not store %d delivery record(s): %s", len(records), exc)


def _insert(records: Sequence[Any]) -> None:
    """``INSERT`` unsaved ``Delivery`` rows with one ``executemany`` in one transaction.

    What ``bulk_create`` stores, at less CPU: the statement is built once per connection instead
    of compiled per row and field. Values still go through each field's ``pre_save`` and
    ``get_db_prep_save``, so every database backend gets what it expects.
    """
    from django.db import connections, router, transaction

    from .models import Delivery

    using = router.db_for_write(Delivery)
    connection = connections[using]
    fields, sql = _insert_statement(connection)
    rows = [[f.get_db_prep_save(f.pre_save(r, True), connection) for f in fields] for r in records]
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _insert_statement(connection: Any) -> tuple[list[Any], str]:
    cached = getattr(connection, "_durian_delivery_insert", None)
    if cached is None:
        from .models import Delivery

        fields = [f for f in Delivery._meta.concrete_fields if not f.primary_key]
        quote = connection.ops.quote_name
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(Delivery._meta.db_table), ", ".join(quote(f.column) for f in fields), ", ".join(["%s"] * len(fields))
        )
        cached = connection._durian_delivery_insert = (fields, sql)
    return cached


def deliver_locally(event: Event) -> None:
    """``async_ = False``: deliver in this process, once, right after commit. Never raises.

    A failed attempt becomes a dead letter, so nothing is lost; so does the event of a disabled
    listener. The outcomes count towards the listeners' health.
    """
    from . import deadletters, health, match
    from .connection import get_redis
    from .models import Listener

    try:
        results = []
        for listener in Listener.objects.filter(hook=event.hook).exclude(state=Listener.State.PAUSED):
            if not match.matches(listener.matchers, event.payload):
                continue
            if listener.state != Listener.State.ACTIVE:
                deadletters.record(event, listener.pk, 0, Outcome(False, error=f"The listener is {listener.state}."))
                continue
            outcome = attempt(event, listener.pk, listener.url, listener.secrets())
            save_records([record(event, listener.pk, 1, outcome)])
            results.append((listener.pk, outcome))
            if not outcome.ok:
                deadletters.record(event, listener.pk, 1, outcome)
        health.observe(results, get_redis("request"))
    except Exception:
        logger.exception("durian: local delivery of %s event %s failed", event.hook, event.id)
