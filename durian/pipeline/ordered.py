"""Ordered listeners: one delivery at a time, in the order their events reached the stream.

The fan-out puts an ordered listener's deliveries in its backlog (``durian.storage.ordered``)
instead of on the queue. Every worker process's stream consumer calls ``start_due`` on each pass:
for each lane with work due it tries the lane's lock (in Redis, so one process on one host
delivers a lane at a time) and runs the lanes it got on this process's pool of delivery threads
(``durian.pipeline.lanes.pool("ordered")``). A lane then:

1. takes the heads of its backlog whose stream entry is settled: below the consumer group's
   oldest pending entry (``durian.storage.stream.settled_below``), since a consumer may still be
   handing off an older entry while a newer one is in the backlog already;
2. attempts the first one through ``durian.pipeline.attempts.run`` (signing, SSRF-safe transport,
   delivery records, health), after its circuit (``durian.storage.circuit``), its idempotency
   lease (``durian.storage.idempotency``) and its rate limit;
3. removes it once delivered, or once it became a dead letter (its last attempt on
   ``DURIAN_RETRY_SCHEDULE`` failed, or a final failure), then goes on with the next;
4. after a failure that will be retried, stores the head's next attempt number and sets the lane's
   next time to the retry's: nothing behind the head goes before it. A retry due within
   ``SHORT_RETRY`` seconds is waited for in the lane; after a later one the lane leaves, and is
   taken again (by any process) once the retry is due.

A killed worker's lock runs out (``lock_ms``: one attempt's longest time, renewed before each
attempt) and another process takes the lane over: at least once, and in order; a delivery posted
just before the kill is not posted again (its idempotency lease says delivered).

A paused listener's backlog waits, in order, until it is resumed (looked at again every
``PAUSED_RECHECK`` seconds; deliveries older than ``DURIAN_PAUSED_RETENTION`` are dropped from
its front, logged); a deleted listener's backlog is dropped (logged); a disabled
listener's deliveries become dead letters, as for any listener. An open circuit holds the lane
until it half-opens: no attempt is burned.

Redis on this path: any Redis error ends the lane's turn (logged); the head stays where it is, and
the lane is taken again once Redis answers (its lock runs out by itself). A success's "done" mark
waits for Redis (``patiently``) so that a delivered head is never posted again.

Local delivery (``async_ = False``), dead letters re-sent from admin and replays stay unordered.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
import uuid

import redis

from ..conf import settings
from ..core.outcome import Outcome
from ..core.recipients import ListenerView
from ..storage import circuit, idempotency, listener_cache, ordered, rates, stream
from ..storage.connection import get_redis, patiently
from . import attempts, lanes, policy, queue

logger = logging.getLogger("durian.workers")

#: How often (seconds) a paused listener's lane looks whether it was resumed.
PAUSED_RECHECK = 1.0
#: How long (seconds) a lane waits for a consumer to finish handing off older entries before it leaves,
#: and how long it then stays out (a stopped consumer's entries wait ``DURIAN_CLAIM_IDLE_MS`` to be
#: reclaimed: its lanes should not hold delivery threads meanwhile).
SETTLE_WAIT = 0.25
#: A retry due within this many seconds is waited for in the lane (its lock kept); a later one leaves it.
SHORT_RETRY = 2.0

_lock = threading.Lock()
_running: set[int] = set()  # lanes this process runs now
_stopping = threading.Event()


def lock_ms() -> int:
    """How long a lane's lock holds without renewal: one attempt's longest time, plus 5 s."""
    return int((float(settings.TOTAL_TIMEOUT) + 5.0) * 1000)


def resume() -> None:
    """Let lanes run (the stream consumer starts)."""
    _stopping.clear()


def stop() -> None:
    """Lanes leave after the attempt they are making (the stream consumer stops)."""
    _stopping.set()


def running() -> int:
    """Lanes this process runs now."""
    with _lock:
        return len(_running)


def start_due(client: redis.Redis) -> int:
    """Start, on this process's delivery pool, each lane with work due whose lock this process gets."""
    if _stopping.is_set():
        return 0
    started = 0
    for listener_id in ordered.due(client, time.time()):
        with _lock:
            if listener_id in _running:
                continue
        token = uuid.uuid4().hex
        if not ordered.lock(client, listener_id, token, lock_ms()):
            continue
        with _lock:
            _running.add(listener_id)
        try:
            lanes.pool("ordered").submit(_run, listener_id, token)
        except RuntimeError:  # the pool is shutting down
            with _lock:
                _running.discard(listener_id)
            ordered.unlock(client, listener_id, token)
            continue
        started += 1
    return started


def _run(listener_id: int, token: str) -> None:
    client = get_redis("worker")
    try:
        OrderedLane(client, listener_id, token).run()
    except redis.RedisError as exc:
        logger.warning("durian: ordered lane of listener %s stopped (%s); its head waits", listener_id, exc)
    except Exception:
        logger.exception("durian: ordered lane of listener %s failed; its head waits", listener_id)
    finally:
        try:
            ordered.unlock(client, listener_id, token)
        except redis.RedisError:  # it runs out by itself
            pass
        with _lock:
            _running.discard(listener_id)


class OrderedLane:
    """One turn of one ordered listener's lane, while this process holds its lock."""

    def __init__(self, client: redis.Redis, listener_id: int, token: str) -> None:
        self.client = client
        self.listener_id = listener_id
        self.token = token
        self.pause = 0.0  # a short retry to wait for before going on

    def run(self) -> None:
        """Deliver heads in order until the lane is empty, waits (retry, circuit, pause), or is lost."""
        waited = 0.0
        while not _stopping.is_set():
            listener = listener_cache.snapshots.get(self.client).by_id.get(self.listener_id)
            if listener is None:
                dropped = ordered.drop(self.client, self.listener_id)
                logger.warning(
                    "durian: listener %s is gone; dropping its %d ordered delivery(ies)", self.listener_id, dropped
                )
                return
            waiting = listener.waiting
            if waiting and self.holds(listener):
                self.expire()
                ordered.later(self.client, self.listener_id, self.token, time.time() + PAUSED_RECHECK)
                return
            heads = ordered.heads(self.client, self.listener_id, stream.settled_below(self.client))
            if not heads:
                if ordered.forget_if_empty(self.client, self.listener_id):
                    return
                if waited >= SETTLE_WAIT:
                    ordered.later(self.client, self.listener_id, self.token, time.time() + SETTLE_WAIT)
                    return
                time.sleep(0.02)  # a consumer is still handing off older entries
                waited += 0.02
                continue
            waited = 0.0
            for head in heads:
                if _stopping.is_set():
                    return
                if not self.deliver(listener, head):
                    if not self.pause:
                        return
                    _stopping.wait(self.pause)  # a short retry: wait for it here, then start again
                    self.pause = 0.0
                    break
                listener = listener_cache.snapshots.get(self.client).by_id.get(self.listener_id)
                if listener is None or listener.waiting or waiting:
                    break  # the next turn looks at the new head (a backfill may have put more in front)

    def holds(self, listener: ListenerView) -> bool:
        """True when the lane's head waits (``ListenerView.holds``): a backfill's heads, which sort
        first, pass the listener's backfill wait; the live ones behind them wait for it."""
        first = ordered.heads(self.client, self.listener_id, ordered.EVERYTHING, limit=1)
        return not first or listener.holds(first[0].item)

    def expire(self) -> int:
        """Drop, from the front, a paused listener's deliveries older than ``DURIAN_PAUSED_RETENTION`` (logged)."""
        oldest = time.time() - float(settings.PAUSED_RETENTION)
        dropped = 0
        for head in ordered.heads(self.client, self.listener_id, ordered.EVERYTHING):
            if float(head.item.get("ts") or 0) >= oldest or not ordered.done(
                self.client, self.listener_id, self.token, head.member
            ):
                break
            dropped += 1
        if dropped:
            logger.warning(
                "durian: dropped %d event(s) kept longer than allowed for paused listener %s", dropped, self.listener_id
            )
        return dropped

    def deliver(self, listener: ListenerView, head: ordered.Head) -> bool:
        """Attempt the head and settle it. True to go on with the next head, False to leave."""
        if not ordered.renew(self.client, self.listener_id, self.token, lock_ms()):
            return False
        attempt = attempts.Attempt(queue.event_of(head.item), listener, head.attempt, context=head.item)
        if not listener.active:  # disabled: a dead letter at once, as for any listener
            attempts.refuse([attempt])
            return self._done(head)
        gate = circuit.check(self.client, [self.listener_id])[self.listener_id]
        if gate.held:  # open, or another worker probes: wait, burning no attempt
            ordered.later(self.client, self.listener_id, self.token, max(gate.until, time.time() + 0.1))
            return False
        claim = idempotency.claim(self.client, attempt.webhook_id, self.token)
        if claim.state == idempotency.DONE:  # posted just before a worker died
            return self._done(head)
        if not claim.go:  # a killed worker's lease on it: wait until it runs out
            ordered.later(self.client, self.listener_id, self.token, time.time() + claim.retry_in_ms / 1000 + 0.05)
            return False
        attempt = dataclasses.replace(attempt, lease=self.token)
        limit = lanes.rate_limiter(self.client, listener)
        if limit is not None:
            rates.wait(limit, _stopping)
            if not ordered.renew(self.client, self.listener_id, self.token, lock_ms()):
                policy.end_lease(self.client, attempt, None)
                return False
        made = attempts.run([attempt], "batched", client=self.client)
        policy.end_lease(self.client, attempt, made[0][1] if made else None)
        if not made:  # disabled meanwhile (410 Gone): a dead letter already
            return self._done(head)
        outcome = made[0][1]
        circuit.feed(self.client, self.listener_id, outcome, bool(gate.fails) or gate.state == "probe")
        if outcome.ok:
            return self._done(head)
        return self._failed(attempt, head, outcome)

    def _failed(self, attempt: attempts.Attempt, head: ordered.Head, outcome: Outcome) -> bool:
        """Retry the head later (the lane waits), or make it a dead letter and go on, as
        ``durian.pipeline.policy`` says."""
        step = policy.next_step(attempt, outcome)
        if not step.retry:
            policy.bury(self.client, attempt, outcome)
            return self._done(head)
        if ordered.later(
            self.client, self.listener_id, self.token, time.time() + step.delay, head.member, attempt.number + 1
        ):
            self.pause = step.delay if step.delay <= SHORT_RETRY else 0.0
        return False

    def _done(self, head: ordered.Head) -> bool:
        return patiently(lambda: ordered.done(self.client, self.listener_id, self.token, head.member), "settle a head")
