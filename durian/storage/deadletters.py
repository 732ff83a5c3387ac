"""Dead letters: deliveries that failed for good, kept in the database for staff to re-send.

``store`` writes (or updates) the row of one failed delivery; ``settle`` updates a row after a
re-send attempt. Re-sending itself is a delivery path: ``durian.pipeline.resend``.
"""

from __future__ import annotations

import datetime
import logging

from django.utils import timezone

from ..core.event import Event
from ..core.outcome import Outcome
from ..core.redact import printable
from ..models import DeadLetter
from . import metrics

logger = logging.getLogger("durian.deadletters")


def store(event: Event, listener_id: int, attempts: int, outcome: Outcome) -> DeadLetter:
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
            "last_error_detail": outcome.detail[:2000],
            "response_excerpt": outcome.excerpt,
            "event_created_at": datetime.datetime.fromtimestamp(event.created_at, tz=datetime.UTC),
            "backfill": event.backfill,
        },
    )
    metrics.dead(event.hook)
    logger.error(
        "durian: dead letter %s after %d attempt(s): %s", letter.webhook_id, attempts, printable(outcome.error)
    )
    return letter


def settle(letter: DeadLetter, outcome: Outcome) -> None:
    """Save the result of re-sending ``letter``: delivered, or its new last error."""
    letter.attempts += 1
    letter.last_status_code = outcome.status_code
    if outcome.ok:
        letter.status = DeadLetter.Status.DELIVERED
        letter.delivered_at = timezone.now()
    else:
        letter.last_error = outcome.error[:2000]
        letter.last_error_detail = outcome.detail[:2000]
        letter.response_excerpt = outcome.excerpt
    letter.save()
