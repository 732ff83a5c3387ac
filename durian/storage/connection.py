"""Redis clients, one pool per purpose and process.

The ``request`` client serves the web process after a commit: short timeouts and no retries, so a
Redis that is down or hangs costs a save about a second at most. After such a failure the request
path stays away from Redis for ``DURIAN_REDIS_REQUEST_BACKOFF`` seconds (``request_path_open()``),
so an outage costs one timeout per process and period, not one per save. The ``worker`` client
serves the stream consumer and delivery actors: timeouts long enough for blocking reads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Literal, TypeVar

import dramatiq.errors
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..conf import settings

logger = logging.getLogger("durian.workers")

Purpose = Literal["request", "worker"]
T = TypeVar("T")
#: Errors that mean "Redis cannot be reached now", from redis-py or from Dramatiq's Redis broker.
UNREACHABLE: tuple[type[Exception], ...] = (
    redis.ConnectionError,
    redis.TimeoutError,
    dramatiq.errors.BrokerConnectionError,
)
_clients: dict[tuple[int, str, str], redis.Redis] = {}
_lock = threading.Lock()
_request_down_until = 0.0


def get_redis(purpose: Purpose = "worker") -> redis.Redis:
    """The shared client for ``purpose`` in this process, for the current ``DURIAN_REDIS_URL``."""
    url = settings.REDIS_URL
    key = (os.getpid(), purpose, url)
    client = _clients.get(key)
    if client is None:
        with _lock:
            client = _clients.get(key) or _make(url, purpose)
            _clients[key] = client
    return client


def request_path_open() -> bool:
    """Whether the request path may call Redis now (no recent failure in this process)."""
    return time.monotonic() >= _request_down_until


def request_path_failed() -> None:
    """Note a failed request-path call: skip Redis there for ``DURIAN_REDIS_REQUEST_BACKOFF`` s."""
    global _request_down_until
    _request_down_until = time.monotonic() + float(settings.REDIS_REQUEST_BACKOFF)


def patiently(call: Callable[[], T], what: str) -> T:
    """Run ``call`` (a Redis call on the delivery path), waiting for Redis while it is unreachable.

    The delivery path's answer to a Redis outage: the work in hand stays in hand (its Dramatiq
    message unacknowledged) and goes on once Redis answers again. It waits 0.5 s, doubling up to
    5 s, for at most ``DURIAN_REDIS_OUTAGE_WAIT`` seconds, then raises the last error.
    """
    deadline = time.monotonic() + float(settings.REDIS_OUTAGE_WAIT)
    delay = 0.5
    while True:
        try:
            return call()
        except UNREACHABLE as exc:
            if time.monotonic() + delay > deadline:
                raise
            logger.warning(
                "durian: Redis unreachable while trying to %s (%s); trying again in %.1f s", what, exc, delay
            )
            time.sleep(delay)
            delay = min(5.0, delay * 2)


def _make(url: str, purpose: Purpose) -> redis.Redis:
    if purpose == "request":
        timeout = float(settings.REDIS_REQUEST_TIMEOUT)
        return redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),
            retry_on_error=[],
            health_check_interval=0,
        )
    block = int(settings.BLOCK_MS) / 1000
    # every delivery thread may hold a connection at once, besides Dramatiq's threads and the consumer
    threads = int(settings.DELIVERY_CONCURRENCY) + int(settings.RETRY_CONCURRENCY)
    return redis.Redis.from_url(
        url,
        max_connections=threads + 100,
        socket_timeout=block + 10,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=30,
    )


def reset() -> None:
    """Drop every cached client (tests, and after settings change)."""
    global _request_down_until
    _request_down_until = 0.0
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
