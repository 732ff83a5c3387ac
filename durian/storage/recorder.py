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

from django.db import DatabaseError, close_old_connections, connections, router, transaction

from ..conf import settings
from ..core.event import Event
from ..core.outcome import Outcome
from ..models import Delivery

logger = logging.getLogger("durian.recorder")


def row(event: Event, listener_id: int, attempt_no: int, outcome: Outcome) -> Delivery:
    """An unsaved delivery record (``Delivery`` row) of one attempt."""
    return Delivery(
        listener_id=listener_id,
        hook=event.hook,
        event_id=event.id,
        webhook_id=event.webhook_id(listener_id),
        attempt=attempt_no,
        ok=outcome.ok,
        status_code=outcome.status_code,
        error=outcome.error[:2000],
        error_detail=outcome.detail[:2000],
        duration_ms=int(outcome.elapsed * 1000),
    )


def store(records: Sequence[Delivery]) -> None:
    """Store delivery records now, in one statement batch; a failure here never affects delivery."""
    if not records:
        return
    try:
        _insert(records)
    except DatabaseError as exc:  # e.g. the listener was deleted meanwhile
        logger.warning("durian: could not store %d delivery record(s): %s", len(records), exc)


def _insert(records: Sequence[Any]) -> None:
    """``INSERT`` unsaved ``Delivery`` rows with one ``executemany`` in one transaction.

    What ``bulk_create`` stores, at less CPU: the statement is built once per connection instead
    of compiled per row and field. Values still go through each field's ``pre_save`` and
    ``get_db_prep_save``, so every database backend gets what it expects.
    """
    using = router.db_for_write(Delivery)
    connection = connections[using]
    fields, sql = _insert_statement(connection)
    rows = [[f.get_db_prep_save(f.pre_save(r, True), connection) for f in fields] for r in records]
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, rows)


def _insert_statement(connection: Any) -> tuple[list[Any], str]:
    cached = getattr(connection, "_durian_delivery_insert", None)
    if cached is None:
        fields = [f for f in Delivery._meta.concrete_fields if not f.primary_key]
        quote = connection.ops.quote_name
        sql = "INSERT INTO {} ({}) VALUES ({})".format(
            quote(Delivery._meta.db_table), ", ".join(quote(f.column) for f in fields), ", ".join(["%s"] * len(fields))
        )
        cached = connection._durian_delivery_insert = (fields, sql)
    return cached


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
        store([r for r in records if not r.ok])
        self.add([r for r in records if r.ok])

    def add(self, records: Sequence[Any]) -> None:
        """Queue records for the next batch (store them at once when batching is off)."""
        if not records:
            return
        if float(settings.RECORD_INTERVAL_MS) <= 0:
            store(records)
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
        try:
            _insert(records)
        except DatabaseError:
            # A broken connection (database restarted) fails once: reconnect and try again
            # (``store`` logs what it still cannot store).
            connections[router.db_for_write(Delivery)].close()
            store(records)

    def _run(self, wake: threading.Event) -> None:
        while True:
            wake.wait(float(settings.RECORD_INTERVAL_MS) / 1000 or 0.2)
            wake.clear()
            try:
                if self.flush():
                    close_old_connections()  # kept open only when CONN_MAX_AGE says so
            except Exception:  # keep recording whatever happens; say why
                logger.exception("durian: could not store delivery records")


#: This process's recorder.
recorder = Recorder()
