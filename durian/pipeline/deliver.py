"""What the ``durian.deliver`` actor does with one message of delivery items.

1. ``resolve``: find each item's listener in the worker's listener snapshot (a deleted listener's
   items are dropped, with a log line); a paused listener's items are kept for it
   (``durian.storage.parked``);
2. ``Leases.take``: one pipelined round trip takes the idempotency lease of every item
   (``durian.storage.idempotency``: one ``SET NX PX`` each): items delivered already are skipped,
   items another worker holds are looked at again later;
3. ``attempts.refuse``: items of a disabled listener become dead letters at once;
4. ``lanes.send``: the rest are posted many at once in per-listener lanes
   (``durian.pipeline.lanes``, through ``attempts.post``); each lease ends as
   ``durian.pipeline.policy.end_lease`` says, right after its attempt;
5. ``policy.settle``: records in background batches, retries on the listener's schedule, dead
   letters after the last attempt; ``policy.hold``: items a lane held (open circuit, a busy and
   silent listener) are queued again with the same attempt number and their leases given back.
   Attempts still on the wire when the message is acknowledged settle the same way, in the lanes;
6. ``Leases.reschedule_busy``: queue the items another worker held, for after its lease.

Replayed items (``"replay": True``) skip the idempotency check: they are meant to go out again.

Every Redis call on this path, and what happens when Redis cannot be reached (the message is
acknowledged only when ``deliver`` returns, so work it keeps in hand is never lost):

- the listener snapshot, the leases, the circuits (before posting): wait for Redis
  (``durian.storage.connection.patiently``), then go on; nothing was posted yet;
- the lease's outcome after a POST: a success's "done" mark is written with the process's next
  batch of marks (``durian.storage.marks``, kept until Redis answers); a failure's lease release
  is logged and dropped (the lease runs out by itself);
- the lane limiters: fall back to the in-process cap (``durian.pipeline.lanes``);
- the circuit and health counters: logged and dropped (bookkeeping only);
- queueing retries, held and busy items (kept in Redis until due, ``durian.storage.later``: not
  in Dramatiq's delay queues, whose fetched copies a worker drops when Redis goes away), and "was
  it delivered meanwhile" before a dead letter: wait for Redis, then go on.

After ``DURIAN_REDIS_OUTAGE_WAIT`` seconds the error is raised: the message fails and Dramatiq's
retries take it from there (once Redis answers, it is delivered again; leases prevent doubles).
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections import Counter
from collections.abc import Sequence

import redis

from ..core.recipients import Snapshot
from ..storage import circuit, idempotency, listener_cache, parked
from ..storage.connection import get_redis, patiently
from . import attempts, lanes, policy, queue, resend

logger = logging.getLogger("durian.workers")


def deliver(items: Sequence[queue.Item]) -> None:
    """Attempt each item once; retry or dead-letter each failure (``durian.pipeline.policy``)."""
    client = get_redis("worker")
    snapshot = patiently(lambda: listener_cache.snapshots.get(client), "load listeners")
    batch = resolve(items, snapshot)
    resends = [a for a in batch if a.context.get("resend")]
    if resends:  # dead letters staff re-send from admin: settled like a re-send in the request
        resend.run_queued(resends, client)
        batch = [a for a in batch if not a.context.get("resend")]
    waiting = [a.context for a in batch if a.listener.holds(a.context)]
    if waiting:  # kept until the listener is resumed (or done waiting)
        patiently(lambda: parked.park(client, waiting), "keep a paused listener's events")
        batch = [a for a in batch if not a.listener.holds(a.context)]
    back = Counter(int(data["listener"]) for data in items if data.get("held"))
    circuit.held(client, {k: -n for k, n in back.items()})
    leases = patiently(lambda: Leases.take(client, batch), "take idempotency leases")
    ready, refused = attempts.refuse(leases.ready)
    for attempt in refused:
        policy.end_lease(client, attempt, None)
    sent = lanes.send(ready, client)
    policy.settle(client, sent.made)
    policy.hold(client, sent.held)
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
    """The idempotency leases one message took: which attempts may go (each carrying its lease's
    token), which wait for another worker."""

    def __init__(self, client: redis.Redis, token: str) -> None:
        self.client = client
        self.token = token
        self.ready: list[attempts.Attempt] = []
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
                leases.ready.append(dataclasses.replace(a, lease=leases.token))
            else:  # another worker is posting it, or died doing so: look again later
                leases.busy.append(a.context)
                leases.wait_ms = max(leases.wait_ms, claim.retry_in_ms)
        return leases

    def reschedule_busy(self) -> None:
        """Queue the items other workers held, for just after their leases run out."""
        if self.busy:
            patiently(lambda: queue.send(self.busy, delay_ms=self.wait_ms + 100), "queue busy deliveries")
