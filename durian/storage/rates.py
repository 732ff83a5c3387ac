"""A listener's requests-per-second limit, shared by every worker process and host through Redis.

Dramatiq's ``BucketRateLimiter`` under ``<prefix>:rate:<listener id>``: at most ``rate`` requests
per second (a rate under 1 is one request per ``1 / rate`` seconds).
"""

from __future__ import annotations

import logging
import threading
import time

import redis
from dramatiq.rate_limits import BucketRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from ..conf import settings

logger = logging.getLogger("durian.workers")


def limiter(client: redis.Redis, listener_id: int, rate: float | None) -> BucketRateLimiter | None:
    """The limiter of a listener with a ``rate`` (requests per second); ``None`` without one."""
    if not rate:
        return None
    key = f"{settings.KEY_PREFIX}:rate:{listener_id}"
    backend = RedisBackend(client=client)
    if rate >= 1:
        return BucketRateLimiter(backend, key, limit=int(rate), bucket=1000)
    return BucketRateLimiter(backend, key, limit=1, bucket=int(1000 / rate))


def wait(limit: BucketRateLimiter, stopping: threading.Event | None = None) -> None:
    """Wait for a slot of ``limit`` (or until ``stopping`` is set). When Redis fails, say so and
    go on: the rate is bookkeeping, the delivery is not."""
    while stopping is None or not stopping.is_set():
        try:
            with limit.acquire(raise_on_failure=False) as got:
                if got:
                    return
        except redis.RedisError as exc:
            logger.warning("durian: rate limiter unavailable (%s); posting", exc)
            return
        time.sleep(0.02)
