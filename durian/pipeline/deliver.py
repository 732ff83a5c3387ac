"""What the ``durian.deliver`` actor does with one message of delivery items.

1. ``resolve``: find each item's listener in the worker's listener snapshot (a deleted listener's
   items are dropped, with a log line);
2. ``Leases.take``: one pipelined round trip takes the idempotency lease of every item
   (``durian.storage.idempotency``): items delivered already are skipped, items another worker
   holds are looked at again later;
3. ``attempts.run`` with the workers' policy: records in background batches, retries on the
   schedule, dead letters after the last attempt;
4. ``Leases.reschedule_busy``: queue the items another worker held, for after its lease.

Replayed items (``"replay": True``) skip the idempotency check: they are meant to go out again.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Sequence

import redis

from ..conf import settings
from ..core import schedule
from ..core.outcome import Outcome
from ..core.recipients import Snapshot
from ..storage import deadletters, idempotency, listener_cache
from ..storage.connection import get_redis
from . import attempts, queue, resend

logger = logging.getLogger("durian.workers")


def deliver(items: Sequence[queue.Item]) -> None:
    """Attempt each item once; retry or dead-letter each failure."""
    client = get_redis("worker")
    batch = resolve(items, listener_cache.snapshots.get(client))
    resends = [a for a in batch if a.context.get("resend")]
    if resends:  # dead letters staff re-send from admin: settled like a re-send in the request
        resend.run_queued(resends, client)
        batch = [a for a in batch if not a.context.get("resend")]
    leases = Leases.take(client, batch)
    policy = attempts.Policy(
        records="batched", inactive="dead_letter", after=leases.finish, on_failure=retry_or_dead_letter
    )
    attempts.run(leases.ready, policy, client)
    leases.reschedule_busy()


def resolve(items: Sequence[queue.Item], snapshot: Snapshot) -> list[attempts.Attempt]:
    """The attempts of ``items`` whose listener still exists."""
    batch = []
    for data in items:
        event = queue.event_of(data)
        listener = snapshot.by_id.get(data["listener"])
        if listener is None:
            logger.info(
                "durian: listener %s is gone; dropping %s", data["listener"], event.webhook_id(data["listener"])
            )
            continue
        batch.append(attempts.Attempt(event, listener, int(data["attempt"]), context=data))
    return batch


class Leases:
    """The idempotency leases one message took: which attempts may go, which wait for another worker."""

    def __init__(self, client: redis.Redis, token: str) -> None:
        self.client = client
        self.token = token
        self.ready: list[attempts.Attempt] = []
        self.held: set[str] = set()
        self.busy: list[queue.Item] = []
        self.wait_ms = 0

    @classmethod
    def take(cls, client: redis.Redis, batch: Sequence[attempts.Attempt]) -> Leases:
        """Claim every lease ``batch`` needs in one round trip (replays and inactive listeners need none)."""
        leases = cls(client, uuid.uuid4().hex)
        gated = [i for i, a in enumerate(batch) if a.listener.active and not a.context.get("replay")]
        found = idempotency.claim_many(client, [batch[i].webhook_id for i in gated], leases.token)
        claims = dict(zip(gated, found, strict=True))
        for i, a in enumerate(batch):
            claim = claims.get(i)
            if claim is None:
                leases.ready.append(a)
            elif claim.state == idempotency.DONE:
                logger.info("durian: %s was delivered already; not sending it again", a.webhook_id)
            elif claim.go:
                leases.held.add(a.webhook_id)
                leases.ready.append(a)
            else:  # another worker is posting it, or died doing so: look again later
                leases.busy.append(a.context)
                leases.wait_ms = max(leases.wait_ms, claim.retry_in_ms)
        return leases

    def finish(self, attempt: attempts.Attempt, outcome: Outcome) -> None:
        """Mark a held lease delivered, or give it back after a failure (``Policy.after``)."""
        if attempt.webhook_id not in self.held:
            return
        try:
            idempotency.finish(self.client, attempt.webhook_id, self.token, outcome.ok)
        except redis.RedisError as exc:  # the lease runs out by itself
            logger.warning("durian: could not record the outcome of %s: %s", attempt.webhook_id, exc)

    def reschedule_busy(self) -> None:
        """Queue the items other workers held, for just after their leases run out."""
        if self.busy:
            queue.send(self.busy, delay_ms=self.wait_ms + 100)


def retry_or_dead_letter(attempt: attempts.Attempt, outcome: Outcome) -> None:
    """Retry later, or turn the delivery into a dead letter (``Policy.on_failure`` of the workers).

    The wait is the receiver's ``Retry-After`` when it sent one (429/502/503/504), else the
    schedule's. Final failures (refused URL, 410 Gone) and the last attempt become dead letters.
    """
    delay = (
        None
        if outcome.final
        else schedule.retry_delay(attempt.number, settings.RETRY_SCHEDULE, float(settings.RETRY_JITTER))
    )
    if delay is None:
        if idempotency.delivered(get_redis("worker"), attempt.webhook_id):
            return  # a duplicate of a delivery that went through meanwhile: not dead
        deadletters.store(attempt.event, attempt.listener.id, attempt.number, outcome)
        return
    if outcome.retry_after is not None:
        delay = outcome.retry_after
    queue.send([{**attempt.context, "attempt": attempt.number + 1}], delay_ms=int(delay * 1000))
