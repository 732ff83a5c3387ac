"""A per-user rate limit for page actions that reach out to a receiver (test events, retries).

It uses Dramatiq's ``WindowRateLimiter`` on durian's Redis, so it holds across web processes.
"""

from __future__ import annotations

from typing import Any

import redis
from dramatiq.rate_limits import WindowRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from ..conf import settings
from ..storage.connection import get_redis

WINDOW_S = 60


def allow(user: Any, action: str) -> bool:
    """True when ``user`` may do ``action`` once more this minute (``DURIAN_TEST_SEND_RATE``).

    Staff are not limited; when Redis cannot be reached the action is allowed.
    """
    limit = settings.TEST_SEND_RATE
    if limit is None or getattr(user, "is_staff", False):
        return True
    backend = RedisBackend(client=get_redis("request"))
    key = f"{settings.KEY_PREFIX}:throttle:{action}:{user.pk}"
    limiter = WindowRateLimiter(backend, key, limit=int(limit), window=WINDOW_S)
    try:
        with limiter.acquire(raise_on_failure=False) as acquired:
            return bool(acquired)
    except redis.RedisError:
        return True
