"""Reaching Redis from a command: an operator at a terminal gets one line, in seconds, when it is down."""

from __future__ import annotations

import redis
from django.core.management.base import CommandError
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..conf import settings
from ..core.redact import display_url

#: Seconds to wait for Redis to connect or answer.
TIMEOUT_S = 3.0
#: What a command's Redis call raises when Redis cannot be reached.
UNREACHABLE = (redis.ConnectionError, redis.TimeoutError)


def unreachable(exc: BaseException) -> CommandError:
    """The one-line error of a command that could not reach Redis."""
    return CommandError(
        f"cannot reach Redis at {display_url(settings.REDIS_URL)} ({exc}); is it running, and is "
        "DURIAN_REDIS_URL (or REDIS_URL) set to it?"
    )


def quick_client() -> redis.Redis:
    """A client of its own with short timeouts and none of redis-py's retries, checked with a PING;
    raises ``CommandError`` (one line) when Redis cannot be reached."""
    client = redis.Redis.from_url(
        settings.REDIS_URL,
        socket_timeout=TIMEOUT_S,
        socket_connect_timeout=TIMEOUT_S,
        retry=Retry(NoBackoff(), 0),
        retry_on_error=[],
    )
    try:
        client.ping()
    except UNREACHABLE as exc:
        client.close()
        raise unreachable(exc) from None
    return client
