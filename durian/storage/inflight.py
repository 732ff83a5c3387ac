"""Deliveries handed on while their request is still on the wire, so their message can be acknowledged.

A Dramatiq thread waits for its message's requests only up to ``DURIAN_HANDOFF_MS``; requests still
in flight then (a slow or silent receiver) are recorded here, and the thread moves on. The delivery
thread that finishes such a request settles it and removes its record. A record whose owner died
(killed worker) is found by ``due`` once its deadline passes (the longest an attempt can take,
plus a margin) and queued again by the stream consumer (``workers.consumer``); the idempotency
lease keeps a delivery that did go through from going out twice.

Keys: a hash ``<prefix>:inflight`` (webhook-id -> item JSON) and a sorted set
``<prefix>:inflight:due`` (webhook-id by deadline). Redis down: ``hand_on`` raises (the thread
then keeps waiting for its requests instead); ``done`` logs (the record comes back through
``due`` later and is skipped as delivered, or retried).
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


def _keys() -> tuple[str, str]:
    prefix = settings.KEY_PREFIX
    return f"{prefix}:inflight", f"{prefix}:inflight:due"


def deadline() -> float:
    """When a request handed on now is surely over: the longest attempt, plus 10 s."""
    return time.time() + float(settings.TOTAL_TIMEOUT) + 10.0


def hand_on(client: redis.Redis, items: Mapping[str, Mapping[str, Any]]) -> None:
    """Record ``items`` (by webhook-id) as in flight. Raises ``redis.RedisError``."""
    if not items:
        return
    data, due = _keys()
    until = deadline()
    pipe = client.pipeline(transaction=True)
    pipe.hset(data, mapping={k: json.dumps(v) for k, v in items.items()})
    pipe.zadd(due, dict.fromkeys(items, until))
    pipe.execute()


def done(client: redis.Redis, webhook_ids: Sequence[str]) -> None:
    """The requests of ``webhook_ids`` are settled: forget them."""
    if not webhook_ids:
        return
    data, due = _keys()
    try:
        pipe = client.pipeline(transaction=True)
        pipe.hdel(data, *webhook_ids)
        pipe.zrem(due, *webhook_ids)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("durian: could not clear %d in-flight record(s): %s", len(webhook_ids), exc)


def clear(pipe: redis.client.Pipeline, webhook_ids: Sequence[str]) -> None:
    """Add to ``pipe`` the removal of the records of ``webhook_ids`` (one ``HDEL`` and one ``ZREM``)."""
    if webhook_ids:
        data, due = _keys()
        pipe.hdel(data, *webhook_ids)
        pipe.zrem(due, *webhook_ids)


def due(client: redis.Redis, limit: int = 500) -> dict[str, dict[str, Any] | None]:
    """Records past their deadline (their owner died), by webhook-id; ``done`` them once re-queued."""
    data, due_key = _keys()
    ids = [i.decode() for i in client.zrangebyscore(due_key, 0, time.time(), start=0, num=limit)]
    if not ids:
        return {}
    raw = client.hmget(data, ids)
    return {i: json.loads(v) if v is not None else None for i, v in zip(ids, raw, strict=True)}


def count(client: redis.Redis) -> int:
    """Requests handed on and not settled yet."""
    return int(client.zcard(_keys()[1]))
