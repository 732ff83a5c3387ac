"""Delivery records of successful attempts, written in the background, in batches.

A successful attempt needs a history row, but nothing waits for it. Worker threads hand those rows
to their process's ``recorder``, whose thread inserts whatever is waiting every
``DURIAN_RECORD_INTERVAL_MS`` (at once when ``DURIAN_RECORD_BATCH`` rows wait) in one statement
batch over one database connection. Without it every Dramatiq message paid a connection and an
insert (Django closes connections after each message unless ``CONN_MAX_AGE`` is set).

Failed attempts are stored at once, in full, by ``save``. ``flush()`` writes what is waiting (the
workers' shutdown calls it); rows still waiting when a process dies are lost: history, never a
delivery. ``DURIAN_RECORD_INTERVAL_MS = 0`` stores every row at once.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from typing import Any

from .conf import settings

logger = logging.getLogger("durian.recorder")


class Recorder:
    """A per-process buffer of delivery records and the thread that stores them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._flushing = threading.Lock()
        self._pending: list[Any] = []
        self._wake = threading.Event()
        self._pid = 0

    def save(self, records: Sequence[Any]) -> None:
        """Store the failed attempts' records now and the successful ones soon."""
        from .delivery import save_records

        save_records([r for r in records if not r.ok])
        self.add([r for r in records if r.ok])

    def add(self, records: Sequence[Any]) -> None:
        """Queue records for the next batch (store them at once when batching is off)."""
        if not records:
            return
        if float(settings.RECORD_INTERVAL_MS) <= 0:
            from .delivery import save_records

            save_records(records)
            return
        with self._lock:
            if self._pid != os.getpid():  # first use in this process (or a forked child)
                self._pid = os.getpid()
                self._pending = []
                self._wake = threading.Event()
                threading.Thread(target=self._run, args=(self._wake,), name="durian-recorder", daemon=True).start()
            self._pending.extend(records)
            full = len(self._pending) >= int(settings.RECORD_BATCH)
        if full:
            self._wake.set()

    def pending(self) -> int:
        """How many records wait to be stored."""
        with self._lock:
            return len(self._pending)

    def flush(self) -> int:
        """Store every waiting record now; returns how many were waiting."""
        with self._flushing:
            with self._lock:
                batch, self._pending = self._pending, []
            size = max(1, int(settings.RECORD_BATCH))
            for i in range(0, len(batch), size):
                self._store(batch[i : i + size])
            return len(batch)

    def _store(self, records: Sequence[Any]) -> None:
        from django.db import DatabaseError, connections, router

        from .delivery import _insert, save_records
        from .models import Delivery

        try:
            _insert(records)
        except DatabaseError:
            # A broken connection (database restarted) fails once: reconnect and try again,
            # row by row set aside (save_records logs what it cannot store).
            connections[router.db_for_write(Delivery)].close()
            save_records(records)

    def _run(self, wake: threading.Event) -> None:
        while True:
            wake.wait(float(settings.RECORD_INTERVAL_MS) / 1000 or 0.2)
            wake.clear()
            try:
                if self.flush():
                    from django.db import close_old_connections

                    close_old_connections()  # kept open only when CONN_MAX_AGE says so
            except Exception:  # keep recording whatever happens; say why
                logger.exception("durian: could not store delivery records")


#: This process's recorder.
recorder = Recorder()
