"""Deliver past events again: from the stream's history, and from dead letters for older ones.

Replayed deliveries keep their ``webhook-id`` (it is the same event) and go through the delivery
queue like any other, marked ``replay`` so that the per-webhook-id deduplication lets them through.
Events come from the stream while it still holds them (see ``manage.py durian_purge``); events
trimmed from it can be replayed only from their dead letters, since delivery records keep no
payload. Those are counted as ``unavailable``.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field

import redis

from ..conf import settings
from ..core.event import Event
from ..core.recipients import recipients
from ..models import DeadLetter, Delivery, Listener
from ..storage import listener_cache, stream
from . import queue


@dataclass
class ReplaySummary:
    """What a replay did."""

    events: int = 0
    deliveries: int = 0
    from_dead_letters: int = 0
    unavailable: int = 0
    listeners: set[int] = field(default_factory=set)
    dry_run: bool = False

    def lines(self) -> list[str]:
        queued = "Deliveries that would be queued" if self.dry_run else "Deliveries queued"
        return [
            f"Events in the window: {self.events} from the stream, {self.from_dead_letters} from dead letters",
            f"{queued}: {self.deliveries} to {len(self.listeners)} listener(s)",
            f"Not replayable (no longer in the stream, no dead letter): {self.unavailable} delivery record(s)",
        ]


def replay(
    client: redis.Redis,
    since: datetime.datetime,
    until: datetime.datetime,
    hook: str | None = None,
    listener_id: int | None = None,
    dry_run: bool = False,
    progress: Callable[[float, str], None] | None = None,
) -> ReplaySummary:
    """Queue deliveries of every event between ``since`` and ``until`` to the listeners that receive
    it now (by ``durian.core.recipients``; only ``hook``'s, only listener ``listener_id`` when given)."""
    listeners = Listener.objects.select_related("backfill")
    if hook:
        listeners = listeners.filter(hook=hook)
    if listener_id is not None:
        listeners = listeners.filter(pk=listener_id)
    snapshot = listener_cache.snapshot_of(listeners)

    summary = ReplaySummary(dry_run=dry_run)
    batch: list[queue.Item] = []
    size = max(1, int(settings.DELIVERY_BATCH_SIZE))

    def add(event: Event, only: int | None = None) -> None:
        for x in recipients(snapshot, event):
            if only is None or x.id == only:
                summary.deliveries += 1
                summary.listeners.add(x.id)
                batch.append(queue.item(event, x.id, replay=True))
        if len(batch) >= size:
            flush()

    def flush() -> None:
        if batch and not dry_run:
            queue.send(list(batch))
        batch.clear()

    start_ms, end_ms = max(0, int(since.timestamp() * 1000)), max(0, int(until.timestamp() * 1000))
    seen: set[str] = set()
    for entry_id, event in stream.between(client, start_ms, end_ms):
        if event is None or (hook and event.hook != hook):
            continue
        summary.events += 1
        seen.add(event.id)
        add(event)
        if progress:
            span = max(1, end_ms - start_ms)
            progress((stream.id_time_ms(entry_id) - start_ms) / span, f"{summary.events} events")

    letters = DeadLetter.objects.filter(event_created_at__gte=since, event_created_at__lte=until)
    if hook:
        letters = letters.filter(hook=hook)
    if listener_id is not None:
        letters = letters.filter(listener_id=listener_id)
    for letter in letters.exclude(event_id__in=seen).iterator():
        seen.add(letter.event_id)
        summary.from_dead_letters += 1
        add(letter.event, only=letter.listener_id)
    flush()

    records = Delivery.objects.filter(created_at__gte=since, created_at__lte=until, attempt=1)
    if hook:
        records = records.filter(hook=hook)
    if listener_id is not None:
        records = records.filter(listener_id=listener_id)
    summary.unavailable = records.exclude(event_id__in=seen).count() if len(seen) < 50_000 else 0
    return summary
