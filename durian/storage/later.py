"""Deliveries to queue later (retries, held and busy items), kept in Redis until they are due.

Dramatiq's own delays are not used: its Redis broker keeps a fetched delayed message in the
worker's memory until its time, and drops that copy when its connection to Redis breaks; the
message then waits, unacknowledged, until that worker stops. Here a batch of items waits in
Redis (a sorted set ``<prefix>:later`` of batch ids by due time, and a hash
``<prefix>:later:items`` of their items) until a worker's stream consumer moves it onto the
queue (``workers.consumer``).

``take_due`` claims due batches for 30 s (another worker takes them over after that, should this
one die before ``remove``), so each batch is queued at least once; the idempotency lease turns a
repeat into a no-op. Redis down: ``add`` raises (the caller keeps the items in hand and waits),
``take_due`` raises (the consumer waits and tries again).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import redis

from ..conf import settings

CLAIM_SECONDS = 30.0

_TAKE = """
local ids = redis.call('zrangebyscore', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[3]))
local out = {}
for _, id in ipairs(ids) do
  redis.call('zadd', KEYS[1], ARGV[2], id)
  local items = redis.call('hget', KEYS[2], id)
  table.insert(out, id)
  table.insert(out, items or '')
end
return out
"""


def _keys() -> tuple[str, str]:
    prefix = settings.KEY_PREFIX
    return f"{prefix}:later", f"{prefix}:later:items"


def add(client: redis.Redis, items: Sequence[Mapping[str, Any]], due: float, retry: bool) -> None:
    """Keep ``items`` until ``due`` (epoch seconds); ``retry``: for the retry queue."""
    order, data = _keys()
    batch = uuid.uuid4().hex
    pipe = client.pipeline(transaction=True)
    pipe.hset(data, batch, json.dumps({"retry": retry, "items": list(items)}))
    pipe.zadd(order, {batch: due})
    pipe.execute()


def take_due(client: redis.Redis, limit: int = 100) -> list[tuple[str, list[dict[str, Any]], bool]]:
    """Claim the batches due now: ``(batch id, items, retry)`` each; ``remove`` them once queued."""
    order, data = _keys()
    now = time.time()
    raw = client.eval(_TAKE, 2, order, data, now, now + CLAIM_SECONDS, limit)
    out = []
    for i in range(0, len(raw), 2):
        batch = raw[i].decode() if isinstance(raw[i], bytes) else raw[i]
        body = json.loads(raw[i + 1]) if raw[i + 1] else {"items": [], "retry": True}
        out.append((batch, body["items"], bool(body.get("retry"))))
    return out


def remove(client: redis.Redis, batches: Sequence[str]) -> None:
    """Forget batches that are on the queue now."""
    if batches:
        order, data = _keys()
        pipe = client.pipeline(transaction=True)
        pipe.zrem(order, *batches)
        pipe.hdel(data, *batches)
        pipe.execute()


def count(client: redis.Redis) -> int:
    """Batches waiting."""
    return int(client.zcard(_keys()[0]))
