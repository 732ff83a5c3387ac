"""Redis clients, one pool per purpose and process.

The ``request`` client serves the web process after a commit: short timeouts and no retries, so a
Redis that is down or hangs costs a save about a second at most. After such a failure the request
path stays away from Redis for ``DURIAN_REDIS_REQUEST_BACKOFF`` seconds (``request_path_open()``),
so an outage costs one timeout per process and period, not one per save. The ``worker`` client
serves the stream consumer and delivery actors: timeouts long enough for blocking reads.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Literal

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from ..conf import settings

Purpose = Literal["request", "worker"]
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
    global _request_down_until
    _request_down_until = 0.0
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
