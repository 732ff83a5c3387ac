"""What the ``durian.deliver`` actor does with one message of delivery items.

1. ``resolve``: find each item's listener in the worker's listener snapshot (a deleted listener's
   items are dropped, with a log line); a paused listener's items are kept for it
   (``durian.storage.parked``);
2. ``Leases.take``: one pipelined round trip takes the idempotency lease of every item
   (``durian.storage.idempotency``): items delivered already are skipped, items another worker
   holds are looked at again later;
3. ``attempts.run`` with the workers' policy: posted many at once in per-listener lanes
   (``durian.pipeline.lanes``), records in background batches, retries on the schedule, dead
   letters after the last attempt; items a lane held (open circuit, concurrency cap) are queued
   again with the same attempt number and their leases given back;
4. ``Leases.reschedule_busy``: queue the items another worker held, for after its lease.

Replayed items (``"replay": True``) skip the idempotency check: they are meant to go out again.

Every Redis call on this path, and what happens when Redis cannot be reached (the message is
acknowledged only when ``deliver`` returns, so work it keeps in hand is never lost):

- the listener snapshot, the leases, the circuits (before posting): wait for Redis
  (``durian.storage.connection.patiently``), then go on; nothing was posted yet;
- the lease's outcome after a POST: a success waits for Redis (its "done" mark prevents a second
  webhook); a failure's lease release is logged and dropped (the lease runs out by itself);
- the lane limiters: fall back to the in-process cap (``durian.pipeline.lanes``);
- the circuit and health counters: logged and dropped (bookkeeping only);
- queueing retries, held and busy items (kept in Redis until due, ``durian.storage.later``: not
  in Dramatiq's delay queues, whose fetched copies a worker drops when Redis goes away), and "was
  it delivered meanwhile" before a dead letter: wait for Redis, then go on.

After ``DURIAN_REDIS_OUTAGE_WAIT`` seconds the error is raised: the message fails and Dramatiq's
retries take it from there (once Redis answers, it is delivered again; leases prevent doubles).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import Counter
from collections.abc import Sequence

import redis

from ..core.outcome import Outcome
from ..core.recipients import Snapshot
from ..storage import circuit, idempotency, listener_cache, parked
from ..storage.connection import get_redis, patiently
from . import attempts, lanes, policy, queue, resend

logger = logging.getLogger("durian.workers")


def deliver(items: Sequence[queue.Item]) -> None:
    """Attempt each item once; retry or dead-letter each failure."""
    client = get_redis("worker")
    snapshot = patiently(lambda: listener_cache.snapshots.get(client), "load listeners")
    batch = resolve(items, snapshot)
    resends = [a for a in batch if a.context.get("resend")]
    if resends:  # dead letters staff re-send from admin: settled like a re-send in the request
        resend.run_queued(resends, client)
        batch = [a for a in batch if not a.context.get("resend")]
    paused = [a.context for a in batch if a.listener.state == "paused"]
    if paused:  # kept until the listener is resumed
        patiently(lambda: parked.park(client, paused), "keep a paused listener's events")
        batch = [a for a in batch if a.listener.state != "paused"]
    back = Counter(int(data["listener"]) for data in items if data.get("held"))
    circuit.held(client, {k: -n for k, n in back.items()})
    leases = patiently(lambda: Leases.take(client, batch), "take idempotency leases")

    def send(ready: Sequence[attempts.Attempt], post: lanes.Post, settle: lanes.Settle) -> tuple[list, list]:
        sent = lanes.send(ready, post, settle, leases.hold, client)
        return sent.made, sent.held

    policy = attempts.Policy(
        records="batched",
        inactive="dead_letter",
        after=leases.finish,
        on_failure=retry_or_dead_letter,
        send=send,
        on_held=leases.hold,
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
        context = {k: v for k, v in data.items() if k != "held"}
        batch.append(attempts.Attempt(event, listener, int(data["attempt"]), context=context))
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
        """End a held lease as the policy says (``Policy.after``)."""
        if attempt.webhook_id in self.held:
            policy.end_lease(self.client, attempt.webhook_id, self.token, outcome)

    def hold(self, held: list[tuple[attempts.Attempt, float]]) -> None:
        """Give back the leases of attempts a lane held, and queue them for when they may go."""
        released = Outcome(False, error="held")
        for a, _ in held:
            self.finish(a, released)
        circuit.held(self.client, Counter(a.listener.id for a, _ in held))
        now = time.time()
        by_delay: dict[int, list[queue.Item]] = {}
        for a, until in held:
            delay = max(100, int((until - now) * 1000))
            by_delay.setdefault(delay, []).append({**a.context, "held": True})
        for delay, items in by_delay.items():
            patiently(lambda: queue.send(items, delay_ms=delay, retry=True), "queue held deliveries")  # noqa: B023

    def reschedule_busy(self) -> None:
        """Queue the items other workers held, for just after their leases run out."""
        if self.busy:
            patiently(lambda: queue.send(self.busy, delay_ms=self.wait_ms + 100), "queue busy deliveries")


def retry_or_dead_letter(attempt: attempts.Attempt, outcome: Outcome) -> None:
    """Retry later, or turn the delivery into a dead letter, as ``durian.pipeline.policy`` says
    (``Policy.on_failure`` of the workers). Retries wait in Redis until due (``queue.send``)."""
    step = policy.next_step(attempt, outcome)
    if not step.retry:
        policy.bury(get_redis("worker"), attempt, outcome)
        return
    item = {**attempt.context, "attempt": attempt.number + 1}
    patiently(lambda: queue.send([item], delay_ms=int(step.delay * 1000), retry=True), "queue a retry")
