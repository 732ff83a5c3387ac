"""``async_ = False`` hooks: delivered in the saving process, once, right after commit.

No retries: a failed attempt becomes a dead letter at once, so nothing is lost; so does the
event of a disabled listener. Records are stored at once; the outcomes count towards health.
"""

from __future__ import annotations

import logging

from ..core.event import Event
from ..core.recipients import recipients
from ..models import Listener
from ..storage import deadletters, listener_cache
from ..storage.connection import get_redis
from . import attempts, policy

logger = logging.getLogger("durian.delivery")


def deliver(event: Event) -> None:
    """Deliver ``event`` to the listeners that receive it, now. Never raises."""
    try:
        snapshot = listener_cache.snapshot_of(Listener.objects.filter(hook=event.hook).select_related("backfill"))
        batch = [attempts.Attempt(event, listener) for listener in recipients(snapshot, event)]
        for attempt, outcome in attempts.run(batch, "now", client=get_redis("request")):
            if policy.next_step(attempt, outcome, retries=False) == policy.DEAD:  # no retries here
                deadletters.store(attempt.event, attempt.listener.id, attempt.number, outcome)
    except Exception:
        logger.exception("durian: local delivery of %s event %s failed", event.hook, event.id)
