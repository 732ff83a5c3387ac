"""Delivery items, and the Dramatiq messages that carry them to the ``durian.deliver`` actor.

An item is one delivery (an event for one listener) as plain JSON. Messages are built here by the
actor's name, so code that queues deliveries (fan-out, retries, replay) never imports the worker
entry point that declares the actor (``workers.actors``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import dramatiq

from ..conf import settings
from ..core import tracing
from ..core.event import Event
from ..storage import later
from ..storage.connection import get_redis

#: The actor that delivers items. Named with the app's prefix, so no project actor replaces it.
ACTOR_NAME = "durian.deliver"
#: The name of that actor before 0.2; messages queued under it are still delivered for one release.
LEGACY_ACTOR_NAME = "deliver"

Item = dict[str, Any]


def item(event: Event, listener_id: int, attempt: int = 1, replay: bool = False) -> Item:
    """One delivery as carried in a message; ``replay`` delivers again even if delivered before."""
    data: Item = {
        "event": event.id,
        "hook": event.hook,
        "payload": event.payload,
        "ts": event.created_at,
        "listener": listener_id,
        "attempt": attempt,
    }
    if event.trace:
        data["trace"] = event.trace
    if event.row is not None:
        data["row"] = event.row
    if event.backfill:
        data["backfill"] = True
    if replay:
        data["replay"] = True
    return data


def event_of(data: Item) -> Event:
    """The event an item carries."""
    return Event(
        hook=data["hook"],
        payload=data["payload"],
        id=data["event"],
        created_at=data["ts"],
        trace=tracing.clean(data.get("trace")),
        row=data.get("row"),
        backfill=bool(data.get("backfill")),
    )


def retry_queue_name() -> str:
    """The queue of retries and held deliveries: ``<DURIAN_QUEUE_NAME>.retry``."""
    return f"{settings.QUEUE_NAME}.retry"


def send(items: Sequence[Item], delay_ms: int | None = None, retry: bool = False) -> None:
    """Queue ``items`` in messages of ``DURIAN_DELIVERY_BATCH_SIZE`` items, after ``delay_ms``.

    Items keep the order they come in (commit order, each event's listeners side by side), so a
    message carries work for many listeners and the delivery threads find every lane fed (grouped
    by listener, the messages in hand fed two or three lanes at a time). ``retry`` queues them on the retry queue, which first deliveries never wait behind.
    Delayed items wait in Redis (``durian.storage.later``), not in Dramatiq's delay queues.
    """
    if delay_ms:
        later.add(get_redis("worker"), items, time.time() + delay_ms / 1000, retry)
        return
    broker = dramatiq.get_broker()
    queue_name = retry_queue_name() if retry else settings.QUEUE_NAME
    # Declared here too, not only where the actor is: a process that queues without having loaded
    # the worker's actors (a web process, a command) still knows the queue, so its broker's
    # ``flush_all()``, ``join()`` and metrics see it. Idempotent, and a set lookup once declared.
    broker.declare_queue(queue_name)
    size = max(1, int(settings.DELIVERY_BATCH_SIZE))
    for i in range(0, len(items), size):
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=queue_name,
            actor_name=ACTOR_NAME,
            args=(list(items[i : i + size]),),
            kwargs={},
            options={},
        )
        broker.enqueue(message)
