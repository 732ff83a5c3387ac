"""The transactional outbox: events written in the same transaction as their change.

A row lives from the save that fired the event until the event is in the stream. The dispatcher
(``durian.pipeline.dispatch``) writes and removes rows; the workers' sweep takes what is left.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import redis
from django.db import connections

from ..core.event import Event
from ..models import OutboxEvent
from .lease import Lease


def write(events: Sequence[Event], using: str) -> None:
    """Store ``events`` (in the caller's transaction, when there is one)."""
    OutboxEvent.objects.using(using).bulk_create([OutboxEvent.of(e) for e in events])


def delete(ids: Sequence[str], using: str) -> None:
    """Remove the rows of events that reached the stream."""
    OutboxEvent.objects.using(using).filter(id__in=ids).delete()


def oldest(using: str, older_than: float, limit: int) -> list[Event]:
    """Up to ``limit`` events older than ``older_than`` seconds, oldest first.

    Call inside a transaction: where the database supports it the rows are locked with
    ``SELECT ... FOR UPDATE SKIP LOCKED``, so concurrent sweepers take different rows.
    """
    rows = OutboxEvent.objects.using(using).filter(created_at__lt=time.time() - older_than).order_by("created_at")
    if connections[using].features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    return [row.event for row in rows[:limit]]


class SweepLock(Lease):
    """One sweeper at a time across every worker process and host (a Redis lease)."""

    def __init__(self, client: redis.Redis, lease_ms: int = 60_000) -> None:
        super().__init__(client, "sweep", lease_ms)
