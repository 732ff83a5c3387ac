"""The ``deliver`` actor: attempts, retries on the schedule, dead letters after the last one."""

from __future__ import annotations

import logging
from typing import Any

import dramatiq
from django.conf import settings as django_settings

from durian import deadletters, delivery, health, schedule
from durian.cache import snapshots
from durian.conf import settings
from durian.connection import get_redis
from durian.delivery import Outcome
from durian.event import Event
from durian.recorder import recorder

from .middleware import install

logger = logging.getLogger("durian.workers")

#: The delivery queue, fixed when the actor is declared (``DURIAN_QUEUE_NAME``).
QUEUE_NAME: str = getattr(django_settings, "DURIAN_QUEUE_NAME", "durian")


def item(event: Event, listener_id: int, attempt: int = 1) -> dict[str, Any]:
    """One delivery as carried in a message."""
    return {
        "event": event.id,
        "hook": event.hook,
        "payload": event.payload,
        "ts": event.created_at,
        "listener": listener_id,
        "attempt": attempt,
    }


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
    records = []
    results: list[tuple[int, Outcome]] = []
    gone: set[int] = set()  # disabled by a 410 earlier in this batch
    for data in items:
        event = event_of(data)
        listener = snap.by_id.get(data["listener"])
        if listener is None:
            logger.info(
                "durian: listener %s is gone; dropping %s", data["listener"], event.webhook_id(data["listener"])
            )
            continue
        if not listener.active or listener.id in gone:
            state = "disabled" if listener.id in gone else listener.state
            deadletters.record(
                event, listener.id, data["attempt"] - 1, Outcome(False, error=f"The listener is {state}.")
            )
            continue
        outcome = delivery.attempt(event, listener.id, listener.url, listener.secrets)
        records.append(delivery.record(event, listener.id, data["attempt"], outcome))
        results.append((listener.id, outcome))
        if outcome.gone:
            gone.add(listener.id)
        if not outcome.ok:
            fail(data, event, outcome)
    recorder.save(records)  # failures now, successes in the next background batch
    health.observe(results, client)


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
        deadletters.record(event, data["listener"], attempt, outcome)
        return
    if outcome.retry_after is not None:
        delay = outcome.retry_after
    deliver.send_with_options(args=([{**data, "attempt": attempt + 1}],), delay=int(delay * 1000))


install(deliver.broker)
