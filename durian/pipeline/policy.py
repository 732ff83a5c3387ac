"""What follows an attempt, decided in one place for every delivery path.

For each listener: whether a failed attempt is retried or becomes a dead letter, after which delay
(the listener's own ``retry_schedule``, else ``DURIAN_RETRY_SCHEDULE``; a receiver's
``Retry-After`` wins), and how the attempt's idempotency lease ends. The workers' messages
(``durian.pipeline.deliver``), the ordered lanes (``durian.pipeline.ordered``), local delivery
(``durian.pipeline.local``) and re-sent dead letters (``durian.pipeline.resend``) all ask here.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from ..conf import settings
from ..core import schedule
from ..core.outcome import Outcome
from ..core.recipients import ListenerView
from ..storage import deadletters, idempotency
from ..storage.connection import patiently
from ..storage.marks import marks
from .attempts import Attempt

logger = logging.getLogger("durian.workers")


@dataclass(frozen=True)
class Next:
    """What follows an attempt: ``done`` (delivered), ``retry`` after ``delay`` seconds, or ``dead``."""

    step: str
    delay: float = 0.0

    @property
    def retry(self) -> bool:
        return self.step == "retry"


DONE = Next("done")
DEAD = Next("dead")


def schedule_of(listener: ListenerView) -> Sequence[float]:
    """The delays (seconds) before each retry of ``listener``'s deliveries."""
    return listener.retry_schedule or settings.RETRY_SCHEDULE


def next_step(attempt: Attempt, outcome: Outcome, retries: bool = True) -> Next:
    """After ``attempt`` got ``outcome``: done, retry (when the path has ``retries`` and the
    schedule has attempts left, and the failure is not final), or dead."""
    if outcome.ok:
        return DONE
    if outcome.final or not retries:
        return DEAD
    delay = schedule.retry_delay(attempt.number, schedule_of(attempt.listener), float(settings.RETRY_JITTER))
    if delay is None:
        return DEAD
    return Next("retry", outcome.retry_after if outcome.retry_after is not None else delay)


def end_lease(client: redis.Redis, webhook_id: str, token: str, outcome: Outcome) -> None:
    """End the idempotency lease an attempt held: "done" once delivered (written with the
    process's next batch of marks, ``durian.storage.marks``), else given back at once, so that the
    retry can take it (a lease not given back runs out by itself)."""
    if outcome.ok:
        marks.delivered(webhook_id)
        return
    try:
        idempotency.finish(client, webhook_id, token, False)
    except redis.RedisError as exc:
        logger.warning("durian: could not give back the lease of %s: %s", webhook_id, exc)


def bury(client: redis.Redis, attempt: Attempt, outcome: Outcome) -> bool:
    """Store ``attempt`` as a dead letter, unless a duplicate of it was delivered meanwhile (waits
    for Redis to know). True when stored."""
    if patiently(lambda: idempotency.delivered(client, attempt.webhook_id), "check a delivery"):
        return False
    deadletters.store(attempt.event, attempt.listener.id, attempt.number, outcome)
    return True
