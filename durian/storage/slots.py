"""Slots of a listener's concurrency cap, shared by every worker process and host through Redis.

One sorted set per listener (``<prefix>:lane:<id>``) holds a member per slot taken: the holder's
token, scored by when the slot runs out (Redis server time, so hosts' clocks never matter). A
holder renews its slot while it works (``renew``) and gives it back when done (``release``). A
slot whose holder died (a SIGKILLed worker) runs out on its own, ``ttl_ms`` after its last renewal,
however busy the listener stays.

Why not Dramatiq's ``ConcurrentRateLimiter``: it keeps one counter whose expiry every acquire and
release pushes back, so the slots of a killed worker stay taken for as long as the listener keeps
receiving deliveries (measured: a listener capped at 16 ran at 1 after a worker was killed mid-burst).

Holders share: each holder that wants slots is listed for ``WANT_TTL_MS`` in a second sorted set
(``<prefix>:lane:<id>:wanting``, refreshed by every take and renewal), and a holder takes at most
its share, ``ceil(limit / holders wanting)``; ``renew_many`` tells a holder its share, so that one
holding more gives the surplus back as its requests end. Two worker processes busy with one
listener thus post side by side, and one alone gets the whole cap.

Every call raises ``redis.RedisError`` when Redis cannot be reached; the caller decides (the lanes
fall back to their in-process cap).
"""

from __future__ import annotations

import uuid

import redis

from ..conf import settings

#: How long (ms) a holder counts as wanting slots after its last take or renewal.
WANT_TTL_MS = 2000

# KEYS[1] the slots, KEYS[2] the holders wanting; ARGV: limit, ttl (ms), token prefix, most wanted, holder,
# slots the holder has, want ttl (ms). Returns {taken, share}: the tokens are "<prefix>:1" .. "<prefix>:taken".
_ACQUIRE = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('zremrangebyscore', KEYS[1], '-inf', now)
redis.call('zremrangebyscore', KEYS[2], '-inf', now)
redis.call('zadd', KEYS[2], now + tonumber(ARGV[7]), ARGV[5])
redis.call('pexpire', KEYS[2], ARGV[7])
local limit = tonumber(ARGV[1])
local share = math.ceil(limit / redis.call('zcard', KEYS[2]))
local n = math.min(limit - redis.call('zcard', KEYS[1]), tonumber(ARGV[4]), share - tonumber(ARGV[6]))
if n <= 0 then return {0, share} end
local args = {}
for i = 1, n do
  table.insert(args, now + tonumber(ARGV[2]))
  table.insert(args, ARGV[3] .. ':' .. i)
end
redis.call('zadd', KEYS[1], unpack(args))
redis.call('pexpire', KEYS[1], ARGV[2])
return {n, share}
"""

# KEYS[1] the slots, KEYS[2] the holders wanting; ARGV: ttl (ms), holder, want ttl (ms), limit, tokens... Pushes
# back the end of the tokens still held; returns {how many were, share} (a token that ran out is not taken back).
_RENEW = """
local t = redis.call('time')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local args = {'XX', 'CH'}
for i = 5, #ARGV do
  table.insert(args, now + tonumber(ARGV[1]))
  table.insert(args, ARGV[i])
end
local n = redis.call('zadd', KEYS[1], unpack(args))
redis.call('pexpire', KEYS[1], ARGV[1])
redis.call('zremrangebyscore', KEYS[2], '-inf', now)
redis.call('zadd', KEYS[2], now + tonumber(ARGV[3]), ARGV[2])
redis.call('pexpire', KEYS[2], ARGV[3])
return {n, math.ceil(tonumber(ARGV[4]) / redis.call('zcard', KEYS[2]))}
"""


class Slots:
    """At most ``limit`` slots taken at once under ``key``, shared fairly by the holders that want
    them; each slot lasts ``ttl_ms`` after it was taken or last renewed. A holder takes, renews
    and gives back many at once."""

    def __init__(self, client: redis.Redis, key: str, limit: int, ttl_ms: int, holder: str | None = None) -> None:
        self.client = client
        self.key = key
        self.limit = max(1, int(limit))
        self.ttl_ms = max(1, int(ttl_ms))
        self.holder = holder or uuid.uuid4().hex
        #: This holder's share of the limit, as of its last take or renewal.
        self.share = self.limit

    @classmethod
    def of_listener(
        cls, client: redis.Redis, listener_id: int, limit: int, ttl_ms: int, holder: str | None = None
    ) -> Slots:
        """The slots of a listener's concurrency cap (``<prefix>:lane:<id>``)."""
        return cls(client, f"{settings.KEY_PREFIX}:lane:{listener_id}", limit, ttl_ms, holder)

    @property
    def wanting_key(self) -> str:
        return f"{self.key}:wanting"

    def acquire_many(self, wanted: int, held: int = 0) -> list[str]:
        """Take up to ``wanted`` slots in one call, within this holder's share (it has ``held``):
        their tokens (none when none is free)."""
        if wanted <= 0:
            return []
        prefix = uuid.uuid4().hex
        taken, share = self.client.eval(
            _ACQUIRE, 2, self.key, self.wanting_key, self.limit, self.ttl_ms, prefix, int(wanted), self.holder,
            int(held), WANT_TTL_MS,
        )  # fmt: skip
        self.share = int(share)
        return [f"{prefix}:{i}" for i in range(1, int(taken) + 1)]

    def renew_many(self, tokens: list[str]) -> list[str]:
        """Push back the end of the slots held, and learn this holder's share; returns the tokens
        still held (a lapsed one is lost)."""
        if not tokens:
            return []
        renewed, share = self.client.eval(
            _RENEW, 2, self.key, self.wanting_key, self.ttl_ms, self.holder, WANT_TTL_MS, self.limit, *tokens
        )
        self.share = int(share)
        if int(renewed) == len(tokens):
            return list(tokens)
        scores = self.client.zmscore(self.key, tokens)
        return [t for t, score in zip(tokens, scores, strict=True) if score is not None]

    def release_many(self, tokens: list[str], leaving: bool = False) -> None:
        """Give slots back; ``leaving``: this holder wants none for now (its share goes to the others)."""
        if not tokens and not leaving:
            return
        pipe = self.client.pipeline(transaction=False)
        if tokens:
            pipe.zrem(self.key, *tokens)
        if leaving:
            pipe.zrem(self.wanting_key, self.holder)
        pipe.execute()

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
