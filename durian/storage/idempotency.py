"""At most one successful webhook per ``webhook-id``, however often a delivery is handed on.

Every step before the POST can repeat after a crash: the relay (an outbox row whose XADD reply was
lost), the stream consumption (an entry reclaimed from a consumer that died before XACK), the
delivery enqueue, and the ``deliver`` message itself (Dramatiq redelivers a killed worker's
messages). All of them end in the same gate, one key per webhook-id in Redis:

- before a POST the worker takes a lease on the key (``claim``): ``go`` when nobody has it,
  ``done`` when the webhook-id was already delivered (skip it), or the time left on another
  worker's lease (try again after it: that worker is posting now, or died while posting);
- after the POST it marks the key ``done`` for ``DURIAN_DEDUP_TTL`` seconds, or drops its lease
  when the attempt failed, so that the retry can claim it.

A second webhook therefore goes out only when the first attempt's outcome is truly unknown: the
worker died (or its lease ran out) while the request was on the wire, or between the receiver's
answer and the ``done`` mark.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from ..conf import settings

_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end
return 0
"""

DONE = "done"

#: Claim every key of KEYS for ARGV[1] (the token) for ARGV[2] ms, unless taken; one answer per
#: key: -1 taken now (go), -2 delivered (ARGV[3] is the "done" value), else the ms left on
#: another holder's lease (0 when it ran out meanwhile: look again at once).
_CLAIM = """
local out = {}
for i, k in ipairs(KEYS) do
  if redis.call('set', k, ARGV[1], 'NX', 'PX', ARGV[2]) then
    out[i] = -1
  else
    local v = redis.call('get', k)
    if v == ARGV[3] then out[i] = -2
    elseif v == false then out[i] = 0
    else out[i] = math.max(0, redis.call('pttl', k)) end
  end
end
return out
"""

#: Mark every key of KEYS delivered (ARGV[1]) for ARGV[2] seconds.
_MARK_DONE = """
for _, k in ipairs(KEYS) do redis.call('set', k, ARGV[1], 'EX', ARGV[2]) end
return #KEYS
"""


@dataclass(frozen=True)
class Claim:
    """What ``claim`` found: ``go`` (the caller holds the lease), ``done`` or ``busy``."""

    state: str
    retry_in_ms: int = 0

    @property
    def go(self) -> bool:
        return self.state == "go"


def key(webhook_id: str) -> str:
    return f"{settings.KEY_PREFIX}:wh:{webhook_id}"


def lease_ms() -> int:
    """How long a claim holds: longer than one attempt can take (``DURIAN_TOTAL_TIMEOUT`` + 5 s)."""
    return int((float(settings.TOTAL_TIMEOUT) + 5.0) * 1000)


def claim(client: redis.Redis, webhook_id: str, token: str) -> Claim:
    """Take the lease on ``webhook_id`` for one attempt, unless it is delivered or taken."""
    return claim_many(client, [webhook_id], token)[0]


def claim_many(client: redis.Redis, webhook_ids: list[str], token: str) -> list[Claim]:
    """``claim`` for a whole message's deliveries, in one round trip and one script call: one
    ``SET NX PX`` per delivery, and a ``GET`` and a ``PTTL`` only for the keys taken already
    (delivered, or another worker's lease). One script call, not a pipeline of one command each:
    the client packs and parses one command per message instead of one per delivery."""
    if not webhook_ids:
        return []
    found = _claim(client)(keys=[key(w) for w in webhook_ids], args=[token, lease_ms(), DONE], client=client)
    return [_GO if n == -1 else _DELIVERED if n == -2 else Claim("busy", int(n)) for n in found]


_GO, _DELIVERED = Claim("go"), Claim(DONE)


def mark_done(pipe: redis.client.Pipeline, webhook_ids: list[str]) -> None:
    """Add to ``pipe`` the "done" mark of each delivered webhook-id (one ``SET`` each, in one
    script call for them all; ``EVAL``, so the pipeline needs no ``SCRIPT EXISTS`` round trip)."""
    if webhook_ids:
        keys = [key(w) for w in webhook_ids]
        pipe.eval(_MARK_DONE, len(keys), *keys, DONE, int(settings.DEDUP_TTL))


_claim_script: list[redis.commands.core.Script] = []


def _claim(client: redis.Redis) -> redis.commands.core.Script:
    """``_CLAIM`` as a Script: EVALSHA, loading itself when Redis does not know it yet (after a
    restart, or on another server)."""
    if not _claim_script:
        _claim_script.append(client.register_script(_CLAIM))
    return _claim_script[0]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def finish(client: redis.Redis, webhook_id: str, token: str, delivered: bool) -> None:
    """Mark ``webhook_id`` delivered, or give the lease back after a failed attempt."""
    if delivered:
        client.set(key(webhook_id), DONE, ex=int(settings.DEDUP_TTL))
    else:
        release(client, key(webhook_id), token)


def release(client: redis.Redis, lease_key: str, token: str) -> None:
    """Drop the lease on ``lease_key`` if ``token`` still holds it (leases also expire by themselves)."""
    client.eval(_RELEASE, 1, lease_key, token)


def release_many(client: redis.Redis, leases: list[tuple[str, str]]) -> None:
    """``release`` for many ``(webhook_id, token)`` leases, in one pipelined round trip."""
    if leases:
        pipe = client.pipeline(transaction=False)
        for webhook_id, token in leases:
            pipe.eval(_RELEASE, 1, key(webhook_id), token)
        pipe.execute()


def delivered(client: redis.Redis, webhook_id: str) -> bool:
    """Whether ``webhook_id`` is known to be delivered (within ``DURIAN_DEDUP_TTL``)."""
    value = client.get(key(webhook_id))
    return value is not None and value.decode() == DONE
