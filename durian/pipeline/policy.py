"""What follows an attempt, decided in one place for every delivery path.

For each listener: whether a failed attempt is retried or becomes a dead letter, after which delay
(the listener's own ``retry_schedule``, else ``DURIAN_RETRY_SCHEDULE``; a receiver's
``Retry-After`` wins), and how the attempt's idempotency lease ends: delivered, failed, or held
(not attempted: its circuit was open, or its listener busy and silent). The workers' messages
(``durian.pipeline.deliver``) and lanes (``durian.pipeline.lanes``) settle through ``settle`` and
``hold``; the ordered lanes (``durian.pipeline.ordered``) and local delivery
(``durian.pipeline.local``) ask ``next_step``; re-sent dead letters (``durian.pipeline.resend``)
are one attempt, never retried.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import redis

from ..conf import settings
from ..core import schedule
from ..core.outcome import Outcome
from ..core.recipients import ListenerView
from ..storage import circuit, deadletters, idempotency
from ..storage.connection import patiently
from ..storage.marks import marks
from . import attempts, queue
from .attempts import Attempt, Made

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


def end_lease(client: redis.Redis, attempt: Attempt, outcome: Outcome | None) -> None:
    """End the idempotency lease ``attempt`` holds, if any: "done" once delivered (written with
    the process's next batch of marks, ``durian.storage.marks``), else given back at once (failed,
    or held: ``None``), so that the next try can take it (a lease not given back runs out by itself)."""
    if attempt.lease is None:
        return
    if outcome is not None and outcome.ok:
        marks.delivered(attempt.webhook_id)
        return
    try:
        idempotency.finish(client, attempt.webhook_id, attempt.lease, False)
    except redis.RedisError as exc:
        logger.warning("durian: could not give back the lease of %s: %s", attempt.webhook_id, exc)


def settle(client: redis.Redis, made: Made) -> None:
    """The workers' bookkeeping of attempts made: their records, health and metrics, then each
    failure retried later (kept in Redis until due) or buried as a dead letter."""
    attempts.record(made, "batched", client)
    for attempt, outcome in made:
        if outcome.ok:
            continue
        step = next_step(attempt, outcome)
        if not step.retry:
            bury(client, attempt, outcome)
            continue
        item = {**attempt.context, "attempt": attempt.number + 1}
        patiently(lambda: queue.send([item], delay_ms=int(step.delay * 1000), retry=True), "queue a retry")  # noqa: B023


def hold(client: redis.Redis, held: Sequence[tuple[Attempt, float]]) -> None:
    """Attempts held without posting (an open circuit, a busy and silent listener): their leases
    given back, counted as waiting, and queued again for when they may go (not an attempt)."""
    if not held:
        return
    leases = [(a.webhook_id, a.lease) for a, _ in held if a.lease is not None]
    try:  # one round trip for the batch, not one per attempt
        idempotency.release_many(client, leases)
    except redis.RedisError as exc:  # they run out by themselves
        logger.warning("durian: could not give back %d lease(s): %s", len(leases), exc)
    circuit.held(client, Counter(a.listener.id for a, _ in held))
    now = time.time()
    by_delay: dict[int, list[queue.Item]] = {}
    for attempt, until in held:
        # in steps of 100 ms, so that attempts held together are queued again in one batch
        delay = max(100, -(-int((until - now) * 1000) // 100) * 100)
        by_delay.setdefault(delay, []).append({**attempt.context, "held": True})
    for delay, items in by_delay.items():
        patiently(lambda: queue.send(items, delay_ms=delay, retry=True), "queue held deliveries")  # noqa: B023


def bury(client: redis.Redis, attempt: Attempt, outcome: Outcome) -> bool:
    """Store ``attempt`` as a dead letter, unless a duplicate of it was delivered meanwhile (waits
    for Redis to know). True when stored."""
    if patiently(lambda: idempotency.delivered(client, attempt.webhook_id), "check a delivery"):
        return False
    deadletters.store(attempt.event, attempt.listener.id, attempt.number, outcome)
    return True
