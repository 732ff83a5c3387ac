"""Events kept for paused listeners, delivered in order when the listener is resumed.

Each paused listener with events has a Redis list ``<prefix>:parked:<id>`` (items, oldest first)
and its id in the set ``<prefix>:parked``. The workers' stream consumer looks at them on each
sweep (``workers.consumer``): a listener active again gets its items queued, oldest first, in
batches; a deleted listener's list is dropped; items older than ``DURIAN_PAUSED_RETENTION``
seconds are dropped (logged). Redis down: ``park`` raises (the worker keeps the items in hand and
waits for Redis); the sweep tries again on its next round.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from ..conf import settings

logger = logging.getLogger("durian.workers")


def _set_key() -> str:
    return f"{settings.KEY_PREFIX}:parked"


def key(listener_id: int) -> str:
    return f"{settings.KEY_PREFIX}:parked:{listener_id}"


def park(client: redis.Redis, items: Sequence[Mapping[str, Any]]) -> None:
    """Keep items of paused listeners, in order, per listener. Raises ``redis.RedisError``."""
    if not items:
        return
    pipe = client.pipeline(transaction=True)
    for data in items:
        pipe.rpush(key(int(data["listener"])), json.dumps({k: v for k, v in data.items() if k != "held"}))
    pipe.sadd(_set_key(), *{int(d["listener"]) for d in items})
    pipe.execute()


def listeners(client: redis.Redis) -> list[int]:
    """Listeners with parked items."""
    return sorted(int(x) for x in client.smembers(_set_key()))


def count(client: redis.Redis, listener_id: int) -> int:
    return int(client.llen(key(listener_id)))


def peek(client: redis.Redis, listener_id: int, limit: int) -> list[dict[str, Any]]:
    """The oldest ``limit`` items of a listener, expired ones dropped first."""
    expire(client, listener_id)
    return [json.loads(raw) for raw in client.lrange(key(listener_id), 0, limit - 1)]


def drop(client: redis.Redis, listener_id: int, n: int | None = None) -> None:
    """Drop the oldest ``n`` items (all when ``None``); forget the listener once none are left."""
    if n is None:
        client.delete(key(listener_id))
    else:
        client.ltrim(key(listener_id), n, -1)
    if not client.exists(key(listener_id)):
        client.srem(_set_key(), listener_id)


def expire(client: redis.Redis, listener_id: int) -> int:
    """Drop items older than ``DURIAN_PAUSED_RETENTION``; returns how many."""
    oldest = time.time() - float(settings.PAUSED_RETENTION)
    dropped = 0
    while True:
        head = client.lrange(key(listener_id), 0, 99)
        old = 0
        for raw in head:
            if float(json.loads(raw).get("ts") or 0) >= oldest:
                break
            old += 1
        if not old:
            break
        client.ltrim(key(listener_id), old, -1)
        dropped += old
    if dropped:
        logger.warning(
            "durian: dropped %d event(s) kept longer than allowed for paused listener %s", dropped, listener_id
        )
    return dropped
