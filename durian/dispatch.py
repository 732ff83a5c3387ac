"""From a fired hook to the Redis Stream, after the transaction commits.

Inside a transaction each event is written to the outbox table (same transaction as the change)
and buffered; one ``on_commit`` callback per transaction (and savepoint) appends the whole buffer to
the stream in one pipelined round trip, then removes the outbox rows. A rolled-back change leaves
nothing behind. When Redis is down the rows stay, and the workers' sweep relays them later.

Outside a transaction (autocommit) the change is already committed when the signal fires: the
event goes straight to the stream, and into the outbox only when Redis cannot take it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import redis
from django.db import DatabaseError, transaction

from . import stream
from .connection import get_redis
from .event import Event

logger = logging.getLogger("durian.dispatch")


class _Batch:
    """Events of one transaction level, sent together at commit."""

    def __init__(self, using: str, key: tuple[str, ...]) -> None:
        self.using = using
        self.key = key
        self.events: list[Event] = []

    def flush(self) -> None:
        _batches(self.using).pop(self.key, None)
        relay(self.events, using=self.using, in_outbox=True)

    def registered(self, conn: Any) -> bool:
        return any(entry[1] == self.flush for entry in getattr(conn, "run_on_commit", ()))


def _batches(using: str) -> dict[tuple[str, ...], _Batch]:
    conn = transaction.get_connection(using)
    batches = getattr(conn, "_durian_batches", None)
    if batches is None:
        batches = conn._durian_batches = {}
    return batches


def schedule(event: Event, using: str, local: bool = False) -> None:
    """Send ``event`` once the current transaction on ``using`` commits (at once in autocommit)."""
    if local:
        from .delivery import deliver_locally

        transaction.on_commit(lambda: deliver_locally(event), using=using, robust=True)
        return
    conn = transaction.get_connection(using)
    if not conn.in_atomic_block:
        relay([event], using=using, in_outbox=False)
        return
    _write_outbox([event], using)
    key = tuple(conn.savepoint_ids)
    batches = _batches(using)
    batch = batches.get(key)
    if batch is None or not batch.registered(conn):
        if not key:
            batches.clear()  # leftovers of rolled-back transactions
        batch = batches[key] = _Batch(using, key)
        transaction.on_commit(batch.flush, using=using, robust=True)
    batch.events.append(event)


def relay(events: Sequence[Event], using: str, in_outbox: bool) -> bool:
    """Append ``events`` to the stream; clean or fill the outbox accordingly. Never raises."""
    if not events:
        return True
    try:
        stream.append(events, get_redis("request"))
    except redis.RedisError as exc:
        logger.warning("durian: Redis unavailable (%s); %d event(s) kept in the outbox for the sweep", exc, len(events))
        if not in_outbox:
            _safely(_write_outbox, events, using)
        return False
    if in_outbox:
        _safely(_delete_outbox, [e.id for e in events], using)
    return True


def _write_outbox(events: Sequence[Event], using: str) -> None:
    from .models import OutboxEvent

    OutboxEvent.objects.using(using).bulk_create(
        [OutboxEvent(id=e.id, hook=e.hook, payload=e.payload, created_at=e.created_at) for e in events]
    )


def _delete_outbox(ids: Sequence[str], using: str) -> None:
    from .models import OutboxEvent

    OutboxEvent.objects.using(using).filter(id__in=ids).delete()


def _safely(fn: Any, *args: Any) -> None:
    try:
        fn(*args)
    except DatabaseError as exc:
        logger.error("durian: outbox write failed: %s", exc)


def sweep(using: str = "default", older_than: float = 5.0, limit: int = 500) -> int:
    """Relay outbox events older than ``older_than`` seconds; returns how many reached the stream."""
    import time

    from .models import OutboxEvent

    cutoff = time.time() - older_than
    rows = list(OutboxEvent.objects.using(using).filter(created_at__lt=cutoff).order_by("created_at")[:limit])
    if not rows:
        return 0
    events = [Event(hook=r.hook, payload=r.payload, id=r.id, created_at=r.created_at) for r in rows]
    stream.append(events, get_redis("worker"))
    OutboxEvent.objects.using(using).filter(id__in=[e.id for e in events]).delete()
    logger.info("durian: sweep relayed %d event(s) from the outbox", len(events))
    return len(events)
