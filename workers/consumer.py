"""The stream consumer: from the Redis Stream to ``deliver`` messages, in batches.

One consumer runs in each worker process, under a name unique to the process. It reads new
entries through the consumer group, reclaims entries that a stopped consumer left pending (and
deliveries a stopped worker had in flight), matches
each event against the cached listeners, enqueues the deliveries (or adds them to an ordered
listener's backlog), and acknowledges the entries only after that. On each pass it starts the
ordered listeners' lanes that have work due (``durian.pipeline.ordered``). It also sweeps the
outbox for events that never reached the stream.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence

import dramatiq
import redis
from django.db import close_old_connections

from durian.conf import settings
from durian.pipeline import dispatch, ordered, queue, validation
from durian.pipeline.fanout import hand_off
from durian.storage import alerts, inflight, later, listener_cache, metrics, parked, retention, stream
from durian.storage.connection import get_redis

from .taken import taken

logger = logging.getLogger("durian.workers")


def consumer_name() -> str:
    """``host-pid-random``: unique per process, on any number of hosts."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def claim_interval() -> float:
    """How often to look for stale entries: half the idle threshold, between 50 ms and 5 s."""
    return min(5.0, max(0.05, int(settings.CLAIM_IDLE_MS) / 2000))


def queue_due(client: redis.Redis) -> int:
    """Move the deliveries kept for later (retries, held items) onto the queue once due."""
    moved = 0
    while batches := later.take_due(client):
        for _, items, retry in batches:
            queue.send(items, retry=retry)
            moved += len(items)
        later.remove(client, [batch for batch, _, _ in batches])
    return moved


def release_parked(client: redis.Redis, batch: int = 500) -> int:
    """Queue, oldest first, the events kept for listeners that are no longer paused or waiting."""
    snapshot = listener_cache.snapshots.get(client)
    moved = 0
    for listener_id in parked.listeners(client):
        listener = snapshot.by_id.get(listener_id)
        if listener is None:
            parked.drop(client, listener_id)
            continue
        if listener.waiting:
            parked.expire(client, listener_id)
            continue
        while items := parked.peek(client, listener_id, batch):
            queue.send(items)
            parked.drop(client, listener_id, len(items))
            moved += len(items)
        parked.drop(client, listener_id, 0)
    return moved


def requeue_orphans(client: redis.Redis) -> int:
    """Queue again the deliveries a dead worker had handed on while in flight (``durian.storage.inflight``)."""
    found = inflight.due(client)
    items = [item for item in found.values() if item is not None]
    if items:
        logger.warning("durian: %d delivery(ies) in flight in a worker that stopped; queueing them again", len(items))
        queue.send(items, retry=True)
    inflight.done(client, list(found))
    return len(items)


class StreamConsumer:
    """A daemon thread that consumes the stream until ``stop()``.

    It reclaims stale entries every ``claim_interval()`` and sweeps the outbox every
    ``DURIAN_SWEEP_INTERVAL`` seconds. After a Redis error it waits 0.5 s, doubling up to
    ``max_backoff`` seconds, so it resumes within seconds of Redis coming back.
    """

    max_backoff = 2.0

    def __init__(self, name: str | None = None, broker: dramatiq.Broker | None = None) -> None:
        self.name = name or consumer_name()
        self.broker = broker  # whose messages taken and lost track of go back (``workers.taken``)
        self.entries_read = 0  # handed on since start (said in the log when it stops)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self.run, name=f"durian-consumer-{self.name}", daemon=True)

    def start(self) -> None:
        ordered.resume()
        self._thread.start()
        logger.info("durian: stream consumer %s started on %s", self.name, settings.STREAM_KEY)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        ordered.stop()
        self._thread.join(timeout)
        logger.info("durian: stream consumer %s stopped after %d entries", self.name, self.entries_read)

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
                    requeue_orphans(client)
                    if self.broker is not None:
                        taken.give_back(self.broker, int(settings.CLAIM_IDLE_MS))
                if now >= next_sweep:
                    next_sweep = now + float(settings.SWEEP_INTERVAL)
                    stream.beat(client, self.name)
                    self._sweep(client)
                self._handle(client, stream.read(client, self.name, int(settings.BATCH_SIZE), int(settings.BLOCK_MS)))
                queue_due(client)
                ordered.start_due(client)
                failures = 0
            except Exception as exc:  # keep consuming whatever happens; say why
                failures += 1
                delay = min(self.max_backoff, 0.25 * 2 ** min(failures, 7))
                logger.warning("durian: stream consumer %s: %s; retrying in %.1f s", self.name, exc, delay)
                self._stop.wait(delay)

    def _handle(self, client: redis.Redis, entries: Sequence[stream.Entry]) -> None:
        if entries:
            hand_off(client, entries)
            self.entries_read += len(entries)

    def _sweep(self, client: redis.Redis) -> None:
        """Relay outbox leftovers, rebuild the listener cache if it fell behind the database, queue the
        endpoint validations due, make the retention pass and the check for long-open circuits (owner alerts) when due (one process on
        one host each), and refresh the metrics' gauges."""
        close_old_connections()
        try:
            while dispatch.sweep() and not self._stop.is_set():
                pass
            listener_cache.ensure_fresh(client)
            release_parked(client)
            validation.queue_due(client)
            retention.run_due(client)
            alerts.run_due(client)
            metrics.refresh(client)
        finally:
            close_old_connections()
