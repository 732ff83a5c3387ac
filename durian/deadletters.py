"""Dead letters: recording final failures, and re-sending them."""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable

from django.utils import timezone

from . import health
from .connection import get_redis
from .delivery import Outcome, attempt
from .event import Event
from .models import DeadLetter
from .recorder import record as delivery_record
from .recorder import save_records

logger = logging.getLogger("durian.deadletters")


def record(event: Event, listener_id: int, attempts: int, outcome: Outcome) -> DeadLetter:
    """Store (or update) the dead letter of ``event`` for one listener. Idempotent on webhook-id."""
    letter, _ = DeadLetter.objects.update_or_create(
        webhook_id=event.webhook_id(listener_id),
        defaults={
            "listener_id": listener_id,
            "hook": event.hook,
            "event_id": event.id,
            "payload": event.payload,
            "attempts": attempts,
            "status": DeadLetter.Status.DEAD,
            "last_status_code": outcome.status_code,
            "last_error": outcome.error[:2000],
            "response_excerpt": outcome.excerpt,
            "event_created_at": datetime.datetime.fromtimestamp(event.created_at, tz=datetime.UTC),
        },
    )
    logger.error("durian: dead letter %s after %d attempt(s): %s", letter.webhook_id, attempts, outcome.error)
    return letter


def event_of(letter: DeadLetter) -> Event:
    """The original event behind a dead letter (same id, so the same webhook-id)."""
    created = letter.event_created_at.timestamp() if letter.event_created_at else letter.created_at.timestamp()
    return Event(hook=letter.hook, payload=letter.payload, id=letter.event_id, created_at=created)


def resend(letters: Iterable[DeadLetter]) -> tuple[int, int]:
    """Re-send dead letters now, with the listener's current URL and secret.

    Returns ``(delivered, failed)``; delivered rows are marked so, failed ones keep their error.
    """
    delivered = failed = 0
    results, records = [], []
    for letter in letters:
        listener = letter.listener
        event = event_of(letter)
        outcome = attempt(event, listener.pk, listener.url, listener.secrets())
        results.append((listener.pk, outcome))
        letter.attempts += 1
        records.append(delivery_record(event, listener.pk, letter.attempts, outcome))
        letter.last_status_code = outcome.status_code
        if outcome.ok:
            letter.status = DeadLetter.Status.DELIVERED
            letter.delivered_at = timezone.now()
            delivered += 1
        else:
            letter.last_error = outcome.error[:2000]
            letter.response_excerpt = outcome.excerpt
            failed += 1
        letter.save()
    save_records(records)
    health.observe(results, get_redis("request"))
    return delivered, failed
