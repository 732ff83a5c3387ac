"""The stream consumer: from the Redis Stream to ``deliver`` messages, in batches.

One consumer runs in each worker process, under a name unique to the process. It reads new
entries through the consumer group, reclaims entries that a stopped consumer left pending, matches
each event against the cached listeners, enqueues the deliveries, and acknowledges the entries only
after that. It also sweeps the outbox for events that never reached the stream.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence

import redis
from django.db import close_old_connections

from durian.conf import settings
from durian.pipeline import dispatch
from durian.pipeline.fanout import hand_off
from durian.storage import listener_cache, stream
from durian.storage.connection import get_redis

logger = logging.getLogger("durian.workers")


def consumer_name() -> str:
    """``host-pid-random``: unique per process, on any number of hosts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def claim_interval() -> float:
    """How often to look for stale entries: half the idle threshold, between 50 ms and 5 s."""
    return min(5.0, max(0.05, int(settings.CLAIM_IDLE_MS) / 2000))


class StreamConsumer:
    """A daemon thread that consumes the stream until ``stop()``.

    It reclaims stale entries every ``claim_interval()`` and sweeps the outbox every
    ``DURIAN_SWEEP_INTERVAL`` seconds. After a Redis error it waits 0.5 s, doubling up to
    ``max_backoff`` seconds, so it resumes within seconds of Redis coming back.
    """

    max_backoff = 2.0

    def __init__(self, name: str | None = None) -> None:
        self.name = name or consumer_name()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name=f"durian-consumer-{self.name}", daemon=True)

    def start(self) -> None:
        self._thread.start()
        logger.info("durian: stream consumer %s started on %s", self.name, settings.STREAM_KEY)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        logger.info("durian: stream consumer %s stopped", self.name)

    def run(self) -> None:
        failures = 0
        next_claim = next_sweep = 0.0
        while not self._stop.is_set():
            try:
                client = get_redis("worker")
                if failures or not next_claim:
                    stream.ensure_group(client)
                if failures:  # finish what an error interrupted before taking anything new
                    self._handle(
                        client, stream.read(client, self.name, int(settings.BATCH_SIZE), None, own_pending=True)
                    )
                now = time.monotonic()
                if now >= next_claim:
                    next_claim = now + claim_interval()
                    self._handle(
                        client,
                        stream.claim_stale(client, self.name, int(settings.CLAIM_IDLE_MS), int(settings.BATCH_SIZE)),
                    )
                if now >= next_sweep:
                    next_sweep = now + float(settings.SWEEP_INTERVAL)
                    stream.beat(client, self.name)
                    self._sweep(client)
                self._handle(client, stream.read(client, self.name, int(settings.BATCH_SIZE), int(settings.BLOCK_MS)))
                failures = 0
            except Exception as exc:  # keep consuming whatever happens; say why
                failures += 1
                delay = min(self.max_backoff, 0.25 * 2 ** min(failures, 7))
                logger.warning("durian: stream consumer %s: %s; retrying in %.1f s", self.name, exc, delay)
                self._stop.wait(delay)

    def _handle(self, client: redis.Redis, entries: Sequence[stream.Entry]) -> None:
        if entries:
            hand_off(client, entries)

    def _sweep(self, client: redis.Redis) -> None:
        """Relay outbox leftovers, and rebuild the listener cache if it fell behind the database."""
        close_old_connections()
        try:
            while dispatch.sweep() and not self._stop.is_set():
                pass
            listener_cache.ensure_fresh(client)
        finally:
            close_old_connections()
