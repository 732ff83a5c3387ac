"""Rate limits kept in Redis, shared by every process and host.

* a listener's requests per second: Dramatiq's ``BucketRateLimiter`` under
  ``<prefix>:rate:<listener id>`` (a rate under 1 is one request per ``1 / rate`` seconds);
* a user's sends on demand (test events, retries, replays) per window: Dramatiq's
  ``WindowRateLimiter`` under ``<prefix>:throttle:send:<user id>`` (``durian.web.throttle``).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from dramatiq.rate_limits import BucketRateLimiter, WindowRateLimiter
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


def user_sends(client: redis.Redis, user_id: Any, limit: int, window_s: int) -> WindowRateLimiter:
    """The limiter of one user's sends on demand: at most ``limit`` per ``window_s`` seconds."""
    key = f"{settings.KEY_PREFIX}:throttle:send:{user_id}"
    return WindowRateLimiter(RedisBackend(client=client), key, limit=int(limit), window=int(window_s))


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
