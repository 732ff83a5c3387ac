"""Forget what is old: delivery records, delivered dead letters, consumed stream entries."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

import redis

from ..storage import retention, stream


@dataclass
class PurgeSummary:
    deliveries: int = 0
    dead_letters: int = 0
    stream_entries: int = 0
    consumers: int = 0
    dry_run: bool = False

    def lines(self) -> list[str]:
        if self.dry_run:
            return [
                f"Delivery records that would be removed: {self.deliveries}",
                f"Delivered dead letters that would be removed: {self.dead_letters}",
                f"Stream entries that would be trimmed: {self.stream_entries}",
            ]
        return [
            f"Delivery records removed: {self.deliveries}",
            f"Delivered dead letters removed: {self.dead_letters}",
            f"Stream entries trimmed: {self.stream_entries}",
            f"Idle consumers with nothing pending removed: {self.consumers}",
        ]


def purge(client: redis.Redis, before: datetime.datetime, dry_run: bool = False) -> PurgeSummary:
    """Remove what is older than ``before``. The stream is trimmed only below every group's oldest
    pending entry and first unread entry, so entries not yet consumed are never dropped. Dead
    letters still dead stay until staff re-send or delete them."""
    summary = PurgeSummary(dry_run=dry_run)
    deliveries = retention.old_deliveries(before)
    letters = retention.old_dead_letters(before)
    before_ms = int(before.timestamp() * 1000)
    if dry_run:
        summary.deliveries, summary.dead_letters = deliveries.count(), letters.count()
        summary.stream_entries = stream.trim_before(client, f"{before_ms}-0", dry_run=True)
        return summary
    summary.deliveries = deliveries.delete()[0]
    summary.dead_letters = letters.delete()[0]
    summary.stream_entries = stream.trim_before(client, f"{before_ms}-0")
    idle_ms = max(0, int((datetime.datetime.now(tz=datetime.UTC) - before).total_seconds() * 1000))
    for g in stream.groups(client):
        for c in stream.consumers(client, g["name"]):
            if not c["pending"] and int(c["idle"]) > idle_ms:
                stream.drop_consumer(client, g["name"], c["name"])
                summary.consumers += 1
    return summary
