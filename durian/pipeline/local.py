"""``async_ = False`` hooks: delivered in the saving process, once, right after commit.

No retries: a failed attempt becomes a dead letter at once, so nothing is lost; so does the
event of a disabled listener. Records are stored at once; the outcomes count towards health.
"""

from __future__ import annotations

import logging

from ..core.event import Event
from ..core.recipients import recipients
from ..models import Listener
from ..storage import listener_cache
from ..storage.connection import get_redis
from . import attempts

logger = logging.getLogger("durian.delivery")

POLICY = attempts.Policy(records="now", inactive="dead_letter", on_failure=attempts.dead_letter)


def deliver(event: Event) -> None:
    """Deliver ``event`` to the listeners that receive it, now. Never raises."""
    try:
        snapshot = listener_cache.snapshot_of(Listener.objects.filter(hook=event.hook))
        batch = [attempts.Attempt(event, listener) for listener in recipients(snapshot, event)]
        attempts.run(batch, POLICY, get_redis("request"))
    except Exception:
        logger.exception("durian: local delivery of %s event %s failed", event.hook, event.id)
