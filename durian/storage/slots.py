"""Slots of a listener's concurrency cap, shared by every worker process and host through Redis.

One sorted set per listener (``<prefix>:lane:<id>``) holds a member per slot taken: the holder's
token, scored by when the slot runs out (Redis server time, so hosts' clocks never matter). A
holder renews its slot while it works (``renew``) and gives it back when done (``release``). A
slot whose holder died (a SIGKILLed worker) runs out on its own, ``ttl_ms`` after its last renewal,
however busy the listener stays.

Why not Dramatiq's ``ConcurrentRateLimiter``: it keeps one counter whose expiry every acquire and
release pushes back, so the slots of a killed worker stay taken for as long as the listener keeps
receiving deliveries (measured: a listener capped at 16 ran at 1 after a worker was killed mid-burst).

Every call raises ``redis.RedisError`` when Redis cannot be reached; the caller decides (the lanes
fall back to their in-process cap).
"""

from __future__ import annotations

import uuid

import redis

# KEYS[1] the slots; ARGV: limit, ttl (ms), token. 1 when the slot is taken, else 0.
_ACQUIRE = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
if redis.call('zcard', KEYS[1]) >= tonumber(ARGV[1]) then return 0 end
redis.call('zadd', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('pexpire', KEYS[1], ARGV[2])
return 1
"""

# KEYS[1] the slots; ARGV: ttl (ms), token. 1 when the slot was still held, else 0.
_RENEW = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if not redis.call('zscore', KEYS[1], ARGV[2]) then return 0 end
redis.call('zadd', KEYS[1], now + tonumber(ARGV[1]), ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[1])
return 1
"""


class Slots:
    """At most ``limit`` holders at once of the slots under ``key``; each slot lasts ``ttl_ms``
    after it was taken or last renewed."""

    def __init__(self, client: redis.Redis, key: str, limit: int, ttl_ms: int) -> None:
        self.client = client
        self.key = key
        self.limit = max(1, int(limit))
        self.ttl_ms = max(1, int(ttl_ms))

    def acquire(self) -> str | None:
        """Take a slot: its token, or ``None`` when all are taken."""
        token = uuid.uuid4().hex
        taken = self.client.eval(_ACQUIRE, 1, self.key, self.limit, self.ttl_ms, token)
        return token if taken else None

    def renew(self, token: str) -> bool:
        """Push back the end of a slot held; False if it had run out (it is taken again then)."""
        return bool(self.client.eval(_RENEW, 1, self.key, self.ttl_ms, token))

    def release(self, token: str) -> None:
        """Give a slot back."""
        self.client.zrem(self.key, token)

    def taken(self) -> int:
        """Slots held now, by any process (including ones not yet run out of a dead holder)."""
        return int(self.client.zcount(self.key, "-inf", "+inf"))
