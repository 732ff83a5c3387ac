"""Fan-out: from stream entries to delivery items, one per event and listener that receives it."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from ..core.event import Event
from ..core.recipients import Snapshot, recipients
from ..storage import listener_cache, stream
from . import queue


def fan_out(snapshot: Snapshot, events: Sequence[Event]) -> list[queue.Item]:
    """One delivery item per (event, listener that receives it)."""
    return [queue.item(event, listener.id) for event in events for listener in recipients(snapshot, event)]


def hand_off(client: redis.Redis, entries: Sequence[stream.Entry]) -> int:
    """Fan out a batch of entries, queue the deliveries, then acknowledge. Returns deliveries."""
    events = [event for _, event in entries if event is not None]
    items = fan_out(listener_cache.snapshots.get(client), events) if events else []
    queue.send(items)
    stream.ack(client, [entry_id for entry_id, _ in entries])
    return len(items)
