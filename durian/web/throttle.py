"""The per-user rate limit of everything that reaches out to a receiver on a user's demand.

Test events, dead-letter retries and replays, from the pages and from the API, count together
against one budget per user: ``DURIAN_TEST_SEND_RATE`` a minute. It uses Dramatiq's ``WindowRateLimiter`` on
durian's Redis, so it holds across web processes.
"""

from __future__ import annotations

from typing import Any

import redis

from ..conf import settings
from ..storage import rates
from ..storage.connection import get_redis

WINDOW_S = 60
#: What a user is told when the budget is spent (the pages and the API say the same).
TOO_MANY = (
    "Too many test events this minute (test events, dead-letter retries and replays count together): "
    "wait a moment and try again."
)


def allow(user: Any) -> bool:
    """True when ``user`` may send one more test event, retry or replay this minute (``DURIAN_TEST_SEND_RATE``).

    Every surface (pages, API) and both actions share one count per user. Staff are not limited;
    when Redis cannot be reached the action is allowed.
    """
    limit = settings.TEST_SEND_RATE
    if limit is None or getattr(user, "is_staff", False):
        return True
    limiter = rates.user_sends(get_redis("request"), user.pk, int(limit), WINDOW_S)
    try:
        with limiter.acquire(raise_on_failure=False) as acquired:
            return bool(acquired)
    except redis.RedisError:
        return True
