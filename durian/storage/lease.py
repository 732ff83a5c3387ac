"""Redis leases: one holder at a time across every worker process and host.

A lease is a key set with ``NX`` and an expiry, holding a random token; only the holder's token
releases it (``idempotency.release``), and it expires by itself when the holder dies.
"""

from __future__ import annotations

import uuid

import redis

from ..conf import settings
from . import idempotency

_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"


class Lease:
    """The lease named ``name`` (key ``<prefix>:<name>:lock``), held for at most ``lease_ms``."""

    def __init__(self, client: redis.Redis, name: str, lease_ms: int = 60_000) -> None:
        self.client, self.lease_ms = client, lease_ms
        self.key = f"{settings.KEY_PREFIX}:{name}:lock"
        self.token = uuid.uuid4().hex

    def acquire(self) -> bool:
        """Take the lease; False when another process holds it."""
        return bool(self.client.set(self.key, self.token, nx=True, px=self.lease_ms))

    def renew(self) -> bool:
        """Hold the lease ``lease_ms`` longer; False when it ran out and is no longer ours."""
        return bool(self.client.eval(_RENEW, 1, self.key, self.token, self.lease_ms))

    def release(self) -> None:
        """Give the lease back (it also expires by itself)."""
        idempotency.release(self.client, self.key, self.token)
