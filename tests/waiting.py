"""Waiting on a condition with a generous deadline, instead of sleeping a fixed time."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, what: str = "", every: float = 0.05) -> float:
    """Poll ``predicate`` until it holds; returns the seconds it took, fails after ``timeout``."""
    started = time.monotonic()
    while True:
        if predicate():
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what or 'the condition'}")
        time.sleep(every)


def nothing_in_flight() -> bool:
    """Nothing is left that could still reach a receiver (a late repeat, say): no outbox row, no
    stream entry pending in the consumer group, no Dramatiq message queued, delayed or running."""
    from durian.conf import settings
    from durian.models import OutboxEvent
    from durian.storage.connection import get_redis

    client = get_redis("worker")
    if OutboxEvent.objects.exists():
        return False
    if client.exists(settings.STREAM_KEY):
        groups = {g["name"].decode(): g["pending"] for g in client.xinfo_groups(settings.STREAM_KEY)}
        if groups.get(settings.CONSUMER_GROUP):
            return False
    queues = [k for k in client.scan_iter("dramatiq:*.msgs") if b".XQ." not in k]
    return not any(client.hlen(k) for k in queues)
