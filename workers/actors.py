"""The ``deliver`` actor: attempts, retries on the schedule, dead letters after the last one.

Each attempt goes through ``durian.idempotency``: a delivery handed on twice (a repeated relay, a
reclaimed stream entry, a message Dramatiq redelivers after a worker died) posts no second webhook
unless the first attempt's outcome is unknown. Replayed items (``"replay": True``) skip that check.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import dramatiq
import redis
from django.conf import settings as django_settings

from durian import deadletters, delivery, health, idempotency, schedule
from durian.cache import snapshots
from durian.conf import settings
from durian.connection import get_redis
from durian.delivery import Outcome
from durian.event import Event
from durian.recorder import record, recorder

from .middleware import install

logger = logging.getLogger("durian.workers")

#: The delivery queue, fixed when the actor is declared (``DURIAN_QUEUE_NAME``).
QUEUE_NAME: str = getattr(django_settings, "DURIAN_QUEUE_NAME", "durian")


def item(event: Event, listener_id: int, attempt: int = 1, replay: bool = False) -> dict[str, Any]:
    """One delivery as carried in a message; ``replay`` delivers again even if delivered before."""
    data = {
        "event": event.id,
        "hook": event.hook,
        "payload": event.payload,
        "ts": event.created_at,
        "listener": listener_id,
        "attempt": attempt,
    }
    if replay:
        data["replay"] = True
    return data


def event_of(data: dict[str, Any]) -> Event:
    return Event(hook=data["hook"], payload=data["payload"], id=data["event"], created_at=data["ts"])


@dramatiq.actor(queue_name=QUEUE_NAME, max_retries=5, min_backoff=1000, max_backoff=60_000, time_limit=15 * 60_000)
def deliver(items: list[dict[str, Any]]) -> None:
    """Attempt each delivery once; schedule a retry, or record a dead letter, for each failure.

    Events for a disabled (or paused) listener become dead letters at once, to be re-sent after
    it is enabled again. The outcomes feed the listeners' health (``durian.health``).
    """
    client = get_redis("worker")
    snap = snapshots.get(client)
    token = uuid.uuid4().hex
    records = []
    results: list[tuple[int, Outcome]] = []
    gone: set[int] = set()  # disabled by a 410 earlier in this batch
    busy: list[dict[str, Any]] = []
    wait_ms = 0
    ready: list[tuple[dict[str, Any], Event, Any]] = []
    for data in items:
        event = event_of(data)
        listener = snap.by_id.get(data["listener"])
        if listener is None:
            logger.info(
                "durian: listener %s is gone; dropping %s", data["listener"], event.webhook_id(data["listener"])
            )
            continue
        ready.append((data, event, listener))
    # One round trip takes every lease this message needs (replays and inactive listeners need none).
    gated = [i for i, (data, _, listener) in enumerate(ready) if listener.active and not data.get("replay")]
    webhook_ids = [ready[i][1].webhook_id(ready[i][2].id) for i in gated]
    claims = dict(zip(gated, idempotency.claim_many(client, webhook_ids, token), strict=True))
    for i, (data, event, listener) in enumerate(ready):
        if not listener.active or listener.id in gone:
            state = "disabled" if listener.id in gone else listener.state
            deadletters.record(
                event, listener.id, data["attempt"] - 1, Outcome(False, error=f"The listener is {state}.")
            )
            if i in claims and claims[i].go:
                idempotency.finish(client, event.webhook_id(listener.id), token, False)
            continue
        webhook_id = event.webhook_id(listener.id)
        claim = claims.get(i)
        if claim is not None:
            if claim.state == idempotency.DONE:
                logger.info("durian: %s was delivered already; not sending it again", webhook_id)
                continue
            if not claim.go:  # another worker is posting it, or died doing so: look again later
                busy.append(data)
                wait_ms = max(wait_ms, claim.retry_in_ms)
                continue
        outcome = delivery.attempt(event, listener.id, listener.url, listener.secrets)
        try:
            idempotency.finish(client, webhook_id, token, outcome.ok)
        except redis.RedisError as exc:  # the lease runs out by itself
            logger.warning("durian: could not record the outcome of %s: %s", webhook_id, exc)
        records.append(record(event, listener.id, data["attempt"], outcome))
        results.append((listener.id, outcome))
        if outcome.gone:
            gone.add(listener.id)
        if not outcome.ok:
            fail(data, event, outcome)
    recorder.save(records)  # failures now, successes in the next background batch
    health.observe(results, client)
    if busy:
        deliver.send_with_options(args=(busy,), delay=wait_ms + 100)


def fail(data: dict[str, Any], event: Event, outcome: Outcome) -> None:
    """Retry later, or turn the delivery into a dead letter.

    The wait is the receiver's ``Retry-After`` when it sent one (429/502/503/504), else the
    schedule's. Final failures (refused URL, 410 Gone) and the last attempt become dead letters.
    """
    attempt = int(data["attempt"])
    delay = (
        None if outcome.final else schedule.retry_delay(attempt, settings.RETRY_SCHEDULE, float(settings.RETRY_JITTER))
    )
    if delay is None:
        if idempotency.delivered(get_redis("worker"), event.webhook_id(data["listener"])):
            return  # a duplicate of a delivery that went through meanwhile: not dead
        deadletters.record(event, data["listener"], attempt, outcome)
        return
    if outcome.retry_after is not None:
        delay = outcome.retry_after
    deliver.send_with_options(args=([{**data, "attempt": attempt + 1}],), delay=int(delay * 1000))


install(deliver.broker)
