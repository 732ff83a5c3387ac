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

from . import match, stream
from .conf import settings
from .event import Event


@dataclass
class ReplaySummary:
    """What a replay did."""

    events: int = 0
    deliveries: int = 0
    from_dead_letters: int = 0
    unavailable: int = 0
    listeners: set[int] = field(default_factory=set)

    def lines(self) -> list[str]:
        return [
            f"Events in the window: {self.events} from the stream, {self.from_dead_letters} from dead letters",
            f"Deliveries queued: {self.deliveries} to {len(self.listeners)} listener(s)",
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
    """Queue deliveries of every event between ``since`` and ``until`` to the listeners that match
    it now (active ones; only ``hook``'s, only listener ``listener_id`` when given)."""
    from workers.actors import deliver, item

    from .models import DeadLetter, Delivery, Listener

    listeners = Listener.objects.filter(state=Listener.State.ACTIVE)
    if hook:
        listeners = listeners.filter(hook=hook)
    if listener_id is not None:
        listeners = listeners.filter(pk=listener_id)
    by_hook: dict[str, list[Listener]] = {}
    for x in listeners:
        by_hook.setdefault(x.hook, []).append(x)

    summary = ReplaySummary()
    batch: list[dict] = []
    size = max(1, int(settings.DELIVERY_BATCH_SIZE))

    def queue(event: Event, only: int | None = None) -> None:
        for x in by_hook.get(event.hook, ()):
            if (only is None or x.pk == only) and match.matches(x.matchers, event.payload):
                summary.deliveries += 1
                summary.listeners.add(x.pk)
                batch.append(item(event, x.pk, replay=True))
        if len(batch) >= size:
            flush()

    def flush() -> None:
        if batch and not dry_run:
            deliver.send(list(batch))
        batch.clear()

    start_ms, end_ms = int(since.timestamp() * 1000), int(until.timestamp() * 1000)
    seen: set[str] = set()
    for entry_id, event in stream.between(client, start_ms, end_ms):
        if event is None or (hook and event.hook != hook):
            continue
        summary.events += 1
        seen.add(event.id)
        queue(event)
        if progress:
            span = max(1, end_ms - start_ms)
            progress((stream.id_time_ms(entry_id) - start_ms) / span, f"{summary.events} events")

    from .deadletters import event_of

    letters = DeadLetter.objects.filter(event_created_at__gte=since, event_created_at__lte=until)
    if hook:
        letters = letters.filter(hook=hook)
    if listener_id is not None:
        letters = letters.filter(listener_id=listener_id)
    for letter in letters.exclude(event_id__in=seen).iterator():
        seen.add(letter.event_id)
        summary.from_dead_letters += 1
        queue(event_of(letter), only=letter.listener_id)
    flush()

    records = Delivery.objects.filter(created_at__gte=since, created_at__lte=until, attempt=1)
    if hook:
        records = records.filter(hook=hook)
    if listener_id is not None:
        records = records.filter(listener_id=listener_id)
    summary.unavailable = records.exclude(event_id__in=seen).count() if len(seen) < 50_000 else 0
    return summary
