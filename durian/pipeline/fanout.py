"""Fan-out: from stream entries to delivery items, one per event and listener that receives it."""

from __future__ import annotations

from collections.abc import Sequence

import redis

from ..core import tracing
from ..core.recipients import recipients
from ..storage import backfill, listener_cache, ordered, stream
from . import queue


def hand_off(client: redis.Redis, entries: Sequence[stream.Entry]) -> int:
    """Fan out a batch of entries, queue the deliveries, then acknowledge. Returns deliveries.

    Deliveries to ordered listeners are not queued: they join their listener's backlog
    (``durian.storage.ordered``) under their stream entry id, before the entries are acknowledged.
    For a listener waiting for its backfill, the rows of its events are noted first
    (``durian.storage.backfill``): the backfill leaves those rows to their live events.

    With OpenTelemetry, each batch is one ``durian.fanout`` span, linked to its events' traces.
    """
    items: list[queue.Item] = []
    in_order: list[tuple[str, queue.Item, str]] = []
    live_rows: dict[int, list[str]] = {}  # rows of the events kept for listeners waiting for their backfill
    with tracing.fanning_out((event.trace for _, event in entries if event is not None), len(entries)) as span:
        if any(event is not None for _, event in entries):
            snapshot = listener_cache.snapshots.get(client)
            for entry_id, event in entries:
                if event is None:
                    continue
                for listener in recipients(snapshot, event):
                    data = queue.item(event, listener.id)
                    if event.row is not None and "backfill" in listener.waits_for:
                        live_rows.setdefault(listener.id, []).append(event.row)
                    if listener.ordered:
                        in_order.append((entry_id, data, event.webhook_id(listener.id)))
                    else:
                        items.append(data)
        backfill.note_live(client, live_rows)
        ordered.add(client, in_order)
        queue.send(items)
        stream.ack(client, [entry_id for entry_id, _ in entries])
        span.set(deliveries=len(items) + len(in_order))
    return len(items) + len(in_order)
