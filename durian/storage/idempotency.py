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
    """``claim`` for a whole message's deliveries: one pipelined ``SET NX PX`` each (one Redis
    command per delivery), and a second round trip only for the keys that were taken already
    (delivered, or another worker's lease)."""
    if not webhook_ids:
        return []
    pipe = client.pipeline(transaction=False)
    lease = lease_ms()
    for webhook_id in webhook_ids:
        pipe.set(key(webhook_id), token, nx=True, px=lease)
    taken = [i for i, ok in enumerate(pipe.execute()) if not ok]
    claims = [Claim("go")] * len(webhook_ids)
    if taken:
        pipe = client.pipeline(transaction=False)
        for i in taken:
            pipe.get(key(webhook_ids[i]))
            pipe.pttl(key(webhook_ids[i]))
        found = pipe.execute()
        for n, i in enumerate(taken):
            value, pttl = found[2 * n], found[2 * n + 1]
            if value is None:  # it ran out between the two round trips: look again at once
                claims[i] = Claim("busy", 0)
            elif _text(value) == DONE:
                claims[i] = Claim(DONE)
            else:
                claims[i] = Claim("busy", max(0, int(pttl)))
    return claims


def mark_done(pipe: redis.client.Pipeline, webhook_ids: list[str]) -> None:
    """Add to ``pipe`` the "done" mark of each delivered webhook-id (one ``SET`` each)."""
    ttl = int(settings.DEDUP_TTL)
    for webhook_id in webhook_ids:
        pipe.set(key(webhook_id), DONE, ex=ttl)


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
