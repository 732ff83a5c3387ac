"""Redis bookkeeping of settled deliveries, written in the background in one round trip per batch.

Two writes follow every delivery and nothing waits for them:

- the idempotency "done" mark of a delivered webhook-id (``durian.storage.idempotency``);
- the removal of its in-flight record, when its request had been handed on
  (``durian.storage.inflight``).

Made one at a time they were two Redis round trips (and three commands) per delivery. Worker
threads hand them to their process's ``marks`` instead; its thread writes whatever is waiting every
``FLUSH_SECONDS`` in one pipelined round trip: one ``SET`` per delivered id, one ``HDEL`` and one
``ZREM`` per batch of records.

Until it is written, a delivered webhook-id stays under its lease (another worker that sees it
waits for the lease, then finds it done) and an in-flight record stays (re-queued after its
deadline if the process died, then skipped as delivered). When Redis is down the marks wait in
memory and are written once it answers; a process that dies with marks waiting leaves exactly
what a process killed right after its POST leaves, which the leases already cover.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import redis

from . import idempotency, inflight
from .connection import get_redis

logger = logging.getLogger("durian.workers")

#: How often (seconds) the waiting marks are written: short, since a worker killed with marks waiting
#: leaves those deliveries under their leases, to be posted again once the leases run out
#: (at-least-once; receivers deduplicate on ``webhook-id``).
FLUSH_SECONDS = 0.02


class Marks:
    """A per-process buffer of done marks and in-flight records to clear, and the thread that writes them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._done: list[str] = []
        self._settled: list[str] = []
        self._wake = threading.Event()
        self._pid = 0
        self._failing = False

    def delivered(self, webhook_id: str) -> None:
        """Mark ``webhook_id`` delivered (its lease becomes the done mark) in the next batch."""
        self._add(webhook_id, done=True)

    def settled(self, webhook_id: str) -> None:
        """Clear the in-flight record of ``webhook_id`` (its request ended) in the next batch."""
        self._add(webhook_id, done=False)

    def _add(self, webhook_id: str, done: bool) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use in this process (or a forked child)
                self._pid = os.getpid()
                self._done, self._settled = [], []
                self._wake = threading.Event()
                threading.Thread(target=self._run, args=(self._wake,), name="durian-marks", daemon=True).start()
            (self._done if done else self._settled).append(webhook_id)
        self._wake.set()

    def pending(self) -> int:
        """Marks waiting to be written."""
        with self._lock:
            return len(self._done) + len(self._settled)

    def flush(self, client: redis.Redis | None = None) -> int:
        """Write every waiting mark now; returns how many. Raises ``redis.RedisError`` (they wait)."""
        with self._flushing:
            with self._lock:
                done, settled = self._done, self._settled
                self._done, self._settled = [], []
            if not done and not settled:
                return 0
            try:
                client = client or get_redis("worker")
                pipe = client.pipeline(transaction=False)
                idempotency.mark_done(pipe, done)
                inflight.clear(pipe, settled)
                pipe.execute()
            except Exception:
                with self._lock:  # keep them, oldest first, for the next try
                    self._done[:0], self._settled[:0] = done, settled
                raise
            return len(done) + len(settled)

    def _run(self, wake: threading.Event) -> None:
        while True:
            wake.wait()
            wake.clear()
            try:
                self.flush()
                if self._failing:
                    logger.warning("durian: Redis answers again; delivery marks written")
                    self._failing = False
            except Exception as exc:  # keep them and try again; say why, once
                if not self._failing:
                    logger.warning("durian: could not write %d delivery mark(s) (%s); retrying", self.pending(), exc)
                    self._failing = True
                wake.set()
                time.sleep(0.5)
                continue
            time.sleep(FLUSH_SECONDS)


#: This process's marks.
marks = Marks()


def drain(timeout: float) -> bool:
    """Write what is waiting, retrying up to ``timeout`` seconds (shutdown); True when none is left."""
    deadline = time.monotonic() + timeout
    while marks.pending():
        try:
            marks.flush()
        except Exception as exc:
            if time.monotonic() >= deadline:
                logger.error("durian: %d delivery mark(s) not written at shutdown: %s", marks.pending(), exc)
                return False
            time.sleep(0.2)
    return True
