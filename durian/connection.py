"""Redis clients, one pool per purpose and process.

The ``request`` client serves the web process after a commit: short timeouts and no retries, so a
Redis that is down or hangs costs a save about a second at most. The ``worker`` client serves the
stream consumer and delivery actors: timeouts long enough for blocking reads.
"""

from __future__ import annotations

import os
import threading
from typing import Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from .conf import settings

Purpose = Literal["request", "worker"]
_clients: dict[tuple[int, str, str], redis.Redis] = {}
_lock = threading.Lock()


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
    return redis.Redis.from_url(
        url,
        socket_timeout=block + 10,
        socket_connect_timeout=5,
        socket_keepalive=True,
        health_check_interval=30,
    )


def reset() -> None:
    """Drop every cached client (tests, and after settings change)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
