"""The backlogs of ordered listeners in Redis: each one's deliveries, in the order their events reached the stream.

For each ordered listener with work (``durian.pipeline.ordered`` delivers it):

- ``<prefix>:ordered:<id>``: a sorted set, every score 0, whose members sort by stream entry id:
  ``<ms, 20 digits>-<seq, 20 digits>:<webhook-id>`` (``ZRANGEBYLEX``). The fan-out adds members
  before it acknowledges their stream entries, so when several consumers hand off at once the
  order is still the stream's;
- ``<prefix>:ordered:<id>:items``: a hash of each member's delivery item (JSON);
- ``<prefix>:ordered:<id>:head``: the head's next attempt number (``member``, ``attempt``), once
  an attempt at it failed;
- ``<prefix>:ordered:<id>:lock``: the lane's lock, a random token with a short expiry, renewed
  before each attempt: one process on one host delivers a lane at a time;
- ``<prefix>:ordered``: a sorted set of the listeners with work, scored by when their lane may go
  next (0: now; a failed head's retry time; an open circuit's end).

Every write after an attempt runs only while the caller still holds the lane's lock (one Lua
script each), so a process whose lock ran out never changes a lane another process took over.
Every call raises ``redis.RedisError`` when Redis cannot be reached: nothing is removed then.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from ..conf import settings
from .connection import get_redis

#: A lane's last member, when nothing is left after it: the listener leaves the set of lanes with work.
_DONE = """
if redis.call('get', KEYS[4]) ~= ARGV[1] then return -1 end
redis.call('zrem', KEYS[1], ARGV[2])
redis.call('hdel', KEYS[2], ARGV[2])
if redis.call('hget', KEYS[3], 'member') == ARGV[2] then redis.call('del', KEYS[3]) end
if redis.call('zcard', KEYS[1]) == 0 then
  redis.call('zrem', KEYS[5], ARGV[3])
  redis.call('del', KEYS[2], KEYS[3])
end
return 1
"""

_LATER = """
if redis.call('get', KEYS[4]) ~= ARGV[1] then return -1 end
if ARGV[2] ~= '' then redis.call('hset', KEYS[3], 'member', ARGV[2], 'attempt', ARGV[3]) end
if redis.call('zcard', KEYS[1]) > 0 then redis.call('zadd', KEYS[5], ARGV[4], ARGV[5]) end
return 1
"""

_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end
return 0
"""

_UNLOCK = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

_FORGET_IF_EMPTY = """
if redis.call('zcard', KEYS[1]) == 0 then
  redis.call('zrem', KEYS[2], ARGV[1])
  redis.call('del', KEYS[3], KEYS[4])
  return 1
end
return 0
"""


#: A bound above every stream entry id (``heads(..., EVERYTHING)``: settled or not).
EVERYTHING = (10**19, 0)


@dataclass(frozen=True)
class Head:
    """A member at the front of a lane: its item, and the number of its next attempt."""

    member: str
    item: dict[str, Any]
    attempt: int


def _lanes_key() -> str:
    return f"{settings.KEY_PREFIX}:ordered"


def _key(listener_id: int, part: str = "") -> str:
    base = f"{settings.KEY_PREFIX}:ordered:{listener_id}"
    return f"{base}:{part}" if part else base


def _keys(listener_id: int) -> list[str]:
    """backlog, items, head, lock, lanes: the ``KEYS`` of the scripts above."""
    return [
        _key(listener_id),
        _key(listener_id, "items"),
        _key(listener_id, "head"),
        _key(listener_id, "lock"),
        _lanes_key(),
    ]


def _position(entry_id: str | tuple[int, int]) -> str:
    if isinstance(entry_id, str):
        ms, _, seq = entry_id.partition("-")
        entry_id = (int(ms), int(seq or 0))
    return f"{entry_id[0]:020d}-{entry_id[1]:020d}"


def member(entry_id: str, webhook_id: str) -> str:
    """The backlog member of a delivery: sorts as its stream entry id."""
    return f"{_position(entry_id)}:{webhook_id}"


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- the fan-out adds ------------------------------------------------------------------------------


def add(client: redis.Redis, deliveries: Sequence[tuple[str, Mapping[str, Any], str]]) -> None:
    """Add ``(stream entry id, item, webhook-id)`` deliveries to their listeners' backlogs, in one transaction.

    Adding the same delivery again (its entry handed off twice) changes nothing.
    """
    if not deliveries:
        return
    pipe = client.pipeline(transaction=True)
    listeners = set()
    for entry_id, data, webhook_id in deliveries:
        listener_id = int(data["listener"])
        name = member(entry_id, webhook_id)
        pipe.zadd(_key(listener_id), {name: 0})
        pipe.hset(_key(listener_id, "items"), name, json.dumps(dict(data)))
        listeners.add(listener_id)
    pipe.zadd(_lanes_key(), {str(i): 0 for i in listeners}, nx=True)  # a lane waiting for a retry keeps its time
    pipe.execute()


# -- the lanes take, deliver and settle ------------------------------------------------------------


def due(client: redis.Redis, now: float, limit: int = 100) -> list[int]:
    """Listeners whose lane has work that may go at ``now`` (epoch seconds)."""
    return [int(x) for x in client.zrangebyscore(_lanes_key(), "-inf", now, start=0, num=limit)]


def lock(client: redis.Redis, listener_id: int, token: str, ms: int) -> bool:
    """Take the lane's lock for ``ms`` milliseconds, unless another process holds it."""
    return bool(client.set(_key(listener_id, "lock"), token, nx=True, px=ms))


def renew(client: redis.Redis, listener_id: int, token: str, ms: int) -> bool:
    """Extend the lane's lock for ``ms`` milliseconds; False when ``token`` no longer holds it."""
    return bool(client.eval(_RENEW, 1, _key(listener_id, "lock"), token, ms))


def unlock(client: redis.Redis, listener_id: int, token: str) -> None:
    """Release the lane's lock if ``token`` still holds it."""
    client.eval(_UNLOCK, 1, _key(listener_id, "lock"), token)


def heads(client: redis.Redis, listener_id: int, below: tuple[int, int] | None, limit: int = 100) -> list[Head]:
    """The lane's first ``limit`` members whose stream entry id is below ``below`` (``None``: none), in order."""
    if below is None:
        return []
    names = client.zrangebylex(_key(listener_id), "-", "(" + _position(below), start=0, num=limit)
    if not names:
        return []
    pipe = client.pipeline(transaction=True)
    pipe.hmget(_key(listener_id, "items"), names)
    pipe.hmget(_key(listener_id, "head"), "member", "attempt")
    raw, (head_member, head_attempt) = pipe.execute()
    out = []
    for name, body in zip(names, raw, strict=True):
        if body is None:  # half-written (cannot happen: added in one transaction); skip it safely
            continue
        data = json.loads(body)
        attempt = int(head_attempt) if head_member == name and head_attempt else int(data.get("attempt", 1))
        out.append(Head(_s(name), data, attempt))
    return out


def waiting(client: redis.Redis, listener_id: int) -> int:
    """How many deliveries the lane holds (due or not, settled in the stream or not)."""
    return int(client.zcard(_key(listener_id)))


def waiting_many(listener_ids: Sequence[int], client: redis.Redis | None = None) -> dict[int, int | None]:
    """``waiting`` of each listener, in one round trip, for pages: ``None`` each when Redis is unreachable."""
    if not listener_ids:
        return {}
    try:
        pipe = (client or get_redis("request")).pipeline(transaction=False)
        for listener_id in listener_ids:
            pipe.zcard(_key(listener_id))
        return {i: int(n) for i, n in zip(listener_ids, pipe.execute(), strict=True)}
    except redis.RedisError:
        return dict.fromkeys(listener_ids)


def done(client: redis.Redis, listener_id: int, token: str, name: str) -> bool:
    """Remove a delivered (or dead-lettered) head; False when ``token`` no longer holds the lane."""
    keys = _keys(listener_id)
    return client.eval(_DONE, len(keys), *keys, token, name, str(listener_id)) == 1


def later(client: redis.Redis, listener_id: int, token: str, when: float, name: str = "", attempt: int = 0) -> bool:
    """Let the lane go again at ``when`` (epoch seconds); with ``name``, its head's next attempt is ``attempt``.

    False when ``token`` no longer holds the lane.
    """
    keys = _keys(listener_id)
    return client.eval(_LATER, len(keys), *keys, token, name, attempt, when, str(listener_id)) == 1


def forget_if_empty(client: redis.Redis, listener_id: int) -> bool:
    """Take a lane with nothing left out of the set of lanes with work."""
    backlog, items, head, _, lanes = _keys(listener_id)
    return client.eval(_FORGET_IF_EMPTY, 4, backlog, lanes, items, head, str(listener_id)) == 1


def drop(client: redis.Redis, listener_id: int) -> int:
    """Forget a lane and its backlog (its listener was deleted); returns how many deliveries it held."""
    backlog, items, head, _, lanes = _keys(listener_id)
    pipe = client.pipeline(transaction=True)
    pipe.zcard(backlog)
    pipe.delete(backlog, items, head)
    pipe.zrem(lanes, str(listener_id))
    return int(pipe.execute()[0])


# -- inspection ------------------------------------------------------------------------------------


def backlogs(client: redis.Redis) -> dict[int, tuple[int, float]]:
    """Each lane with work: listener id -> (deliveries waiting, when it may go next, epoch seconds)."""
    lanes = client.zrange(_lanes_key(), 0, -1, withscores=True)
    if not lanes:
        return {}
    pipe = client.pipeline(transaction=False)
    for name, _ in lanes:
        pipe.zcard(_key(int(name)))
    counts = pipe.execute()
    return {int(name): (int(n), float(score)) for (name, score), n in zip(lanes, counts, strict=True)}
