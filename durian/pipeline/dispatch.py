"""From a fired hook to the Redis Stream, after the transaction commits.

Inside a transaction each event is written to the outbox table (same transaction as the change)
and buffered; one ``on_commit`` callback per transaction (and savepoint) appends the whole buffer to
the stream in one pipelined round trip, then removes the outbox rows. A rolled-back change leaves
nothing behind. When Redis is down or hangs the rows stay, and the workers' sweep relays them later.
The request path never waits on Redis for more than ``DURIAN_REDIS_REQUEST_TIMEOUT`` per save and
never raises into the caller; after a failure it skips Redis for a short while (see
``durian.storage.connection``).

The sweep takes a lock in Redis (and, where the database supports it, ``SELECT ... FOR UPDATE
SKIP LOCKED``), so concurrent sweepers do not relay the same row twice. A row can still reach the
stream twice when the outcome of an XADD is unknown (a reply lost to a timeout); delivery
deduplicates on ``webhook-id`` (``durian.storage.idempotency``), so no second webhook goes out.

Outside a transaction (autocommit) the change is already committed when the signal fires: the
event goes straight to the stream, and into the outbox only when Redis cannot take it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

from django.db import DatabaseError, transaction

from ..conf import settings
from ..core.event import Event
from ..storage import outbox, stream
from ..storage.connection import get_redis, request_path_failed, request_path_open
from . import local

logger = logging.getLogger("durian.dispatch")


class _Batch:
    """Events of one transaction level, sent together at commit."""

    def __init__(self, using: str, key: tuple[str, ...]) -> None:
        self.using = using
        self.key = key
        self.events: list[Event] = []

    def flush(self) -> None:
        _batches(self.using).pop(self.key, None)
        relay(self.events, using=self.using, in_outbox=True)

    def registered(self, conn: Any) -> bool:
        # ``==``, not ``is``: every ``self.flush`` access makes a new bound-method object.
        return any(entry[1] == self.flush for entry in getattr(conn, "run_on_commit", ()))


def _batches(using: str) -> dict[tuple[str, ...], _Batch]:
    conn = transaction.get_connection(using)
    batches = getattr(conn, "_durian_batches", None)
    if batches is None:
        batches = conn._durian_batches = {}
    return batches


def schedule(event: Event, using: str, in_process: bool = False) -> None:
    """Send ``event`` once the current transaction on ``using`` commits (at once in autocommit)."""
    schedule_many([event], using, in_process)


def schedule_many(events: Sequence[Event], using: str, in_process: bool = False) -> None:
    """Send ``events`` once the current transaction on ``using`` commits: one outbox write for
    all of them, and the same one pipelined round trip at commit as every event of the
    transaction (a bulk write costs what one save costs)."""
    if not events:
        return
    pending = getattr(_collecting, "stack", None)
    if pending:
        pending[-1].append((list(events), using, in_process))
        return
    if _captures:
        sinks = list(_captures)
        transaction.on_commit(lambda: [sink.extend(events) for sink in sinks], using=using)
        return
    if in_process:
        for event in events:
            transaction.on_commit(partial(local.deliver, event), using=using, robust=True)
        return
    conn = transaction.get_connection(using)
    if not conn.in_atomic_block:
        relay(events, using=using, in_outbox=False)
        return
    outbox.write(events, using)
    # ``atomic(savepoint=False)`` levels (None) roll back with their parent: they share its batch.
    key = tuple(sid for sid in conn.savepoint_ids if sid is not None)
    batches = _batches(using)
    batch = batches.get(key)
    if batch is None or not batch.registered(conn):
        if not key:
            batches.clear()  # leftovers of rolled-back transactions
        batch = batches[key] = _Batch(using, key)
        transaction.on_commit(batch.flush, using=using, robust=True)
    batch.events.extend(events)


_collecting = threading.local()


@contextmanager
def collecting() -> Iterator[None]:
    """Gather what this thread schedules inside the block and schedule it at the end, with one
    outbox write per database (bulk writes: one call, one write, one round trip at commit)."""
    stack = _collecting.__dict__.setdefault("stack", [])
    gathered: list[tuple[list[Event], str, bool]] = []
    stack.append(gathered)
    try:
        yield
    finally:
        stack.pop()
    groups: dict[tuple[str, bool], list[Event]] = {}
    for events, using, in_process in gathered:
        groups.setdefault((using, in_process), []).extend(events)
    for (using, in_process), events in groups.items():
        schedule_many(events, using, in_process)


#: Lists filled instead of sending while ``capturing`` is active (``durian.testing.capture``).
_captures: list[list[Event]] = []


@contextmanager
def capturing(sink: list[Event]) -> Iterator[list[Event]]:
    """While active, events that would leave the site go into ``sink`` (after commit, as in
    production) and nothing is written to the outbox or sent."""
    _captures.append(sink)
    try:
        yield sink
    finally:
        _captures.remove(sink)


def relay(events: Sequence[Event], using: str, in_outbox: bool) -> bool:
    """Append ``events`` to the stream; clean or fill the outbox accordingly. Never raises."""
    if not events:
        return True
    try:
        if not request_path_open():
            raise ConnectionError("skipped after a recent failure")
        stream.append(events, get_redis("request"))
    except Exception as exc:  # never into the user's request, whatever the client raises
        if request_path_open():
            request_path_failed()
            logger.warning(
                "durian: Redis unavailable (%s); %d event(s) kept in the outbox for the sweep", exc, len(events)
            )
        if not in_outbox:
            _safely(outbox.write, events, using)
        return False
    if in_outbox:
        _safely(outbox.delete, [e.id for e in events], using)
    return True


def _safely(fn: Callable[..., None], *args: Any) -> None:
    try:
        fn(*args)
    except DatabaseError as exc:
        logger.error("durian: outbox write failed: %s", exc)


def sweep(using: str = "default", older_than: float | None = None, limit: int = 500) -> int:
    """Relay outbox rows older than ``older_than`` seconds (``DURIAN_SWEEP_AGE``) to the stream.

    Returns how many reached the stream; 0 as well when another process holds the sweep lock.
    """
    age = float(settings.SWEEP_AGE if older_than is None else older_than)
    client = get_redis("worker")
    lock = outbox.SweepLock(client)
    if not lock.acquire():
        return 0
    try:
        with transaction.atomic(using=using):
            events = outbox.oldest(using, age, limit)
            if not events:
                return 0
            stream.append(events, client)
            outbox.delete([e.id for e in events], using)
    finally:
        _release(lock)
    logger.info("durian: sweep relayed %d event(s) from the outbox", len(events))
    return len(events)


def _release(lock: outbox.SweepLock) -> None:
    try:
        lock.release()
    except Exception as exc:  # the lease expires by itself
        logger.warning("durian: could not release the sweep lock: %s", exc)
