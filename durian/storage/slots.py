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

from ..conf import settings

# KEYS[1] the slots; ARGV: limit, ttl (ms), token prefix, most wanted. Returns how many were taken:
# their tokens are "<prefix>:1" .. "<prefix>:n".
_ACQUIRE = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
local n = math.min(tonumber(ARGV[1]) - redis.call('zcard', KEYS[1]), tonumber(ARGV[4]))
if n <= 0 then return 0 end
local args = {}
for i = 1, n do
  table.insert(args, now + tonumber(ARGV[2]))
  table.insert(args, ARGV[3] .. ':' .. i)
end
redis.call('zadd', KEYS[1], unpack(args))
redis.call('pexpire', KEYS[1], ARGV[2])
return n
"""

# KEYS[1] the slots; ARGV: ttl (ms), tokens... Pushes back the end of the tokens still held; returns
# how many were (a token that ran out is not taken back).
_RENEW = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local args = {'XX', 'CH'}
for i = 2, #ARGV do
  table.insert(args, now + tonumber(ARGV[1]))
  table.insert(args, ARGV[i])
end
local n = redis.call('zadd', KEYS[1], unpack(args))
redis.call('pexpire', KEYS[1], ARGV[1])
return n
"""


class Slots:
    """At most ``limit`` holders at once of the slots under ``key``; each slot lasts ``ttl_ms``
    after it was taken or last renewed. A holder may take, renew and give back many at once."""

    def __init__(self, client: redis.Redis, key: str, limit: int, ttl_ms: int) -> None:
        self.client = client
        self.key = key
        self.limit = max(1, int(limit))
        self.ttl_ms = max(1, int(ttl_ms))

    @classmethod
    def of_listener(cls, client: redis.Redis, listener_id: int, limit: int, ttl_ms: int) -> Slots:
        """The slots of a listener's concurrency cap (``<prefix>:lane:<id>``)."""
        return cls(client, f"{settings.KEY_PREFIX}:lane:{listener_id}", limit, ttl_ms)

    def acquire_many(self, wanted: int) -> list[str]:
        """Take up to ``wanted`` slots in one call: their tokens (none when all are taken)."""
        if wanted <= 0:
            return []
        prefix = uuid.uuid4().hex
        taken = int(self.client.eval(_ACQUIRE, 1, self.key, self.limit, self.ttl_ms, prefix, int(wanted)))
        return [f"{prefix}:{i}" for i in range(1, taken + 1)]

    def renew_many(self, tokens: list[str]) -> list[str]:
        """Push back the end of the slots held; returns the tokens still held (a lapsed one is lost)."""
        if not tokens:
            return []
        renewed = int(self.client.eval(_RENEW, 1, self.key, self.ttl_ms, *tokens))
        if renewed == len(tokens):
            return list(tokens)
        scores = self.client.zmscore(self.key, tokens)
        return [t for t, score in zip(tokens, scores, strict=True) if score is not None]

    def release_many(self, tokens: list[str]) -> None:
        """Give slots back."""
        if tokens:
            self.client.zrem(self.key, *tokens)

    def acquire(self) -> str | None:
        """Take a slot: its token, or ``None`` when all are taken."""
        tokens = self.acquire_many(1)
        return tokens[0] if tokens else None

    def renew(self, token: str) -> bool:
        """Push back the end of a slot held; False if it had run out (it is taken again then)."""
        return bool(self.renew_many([token]))

    def release(self, token: str) -> None:
        """Give a slot back."""
        self.release_many([token])

    def taken(self) -> int:
        """Slots held now, by any process (including ones not yet run out of a dead holder)."""
        return int(self.client.zcount(self.key, "-inf", "+inf"))
