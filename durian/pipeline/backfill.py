"""A listener's backfill: one event for each existing row its filters match, before its live events.

``run`` reads the rows of the hook's model up to the backfill's ``watermark`` (the highest primary
key when it started; rows made later arrive live) in primary-key order, ``DURIAN_BACKFILL_CHUNK``
at a time (``pk > position``: memory stays bounded, and a run that stopped resumes where it was),
builds each payload with the hook's own code (``ModelHook.build_payload``, ``shape``), keeps the
rows whose payload the listener receives (``durian.core.recipients``, the one rule) and queues them
to that listener alone, marked ``backfill`` (``Durian-Backfill: 1``), through the normal queue:
signed, retried on its schedule, recorded like any delivery. An ordered listener gets them at the
front of its backlog, one at a time, in primary-key order.

While the backfill has not finished, the listener waits (``Listener.waits_for``): its live events
are kept (``durian.storage.parked``, or its ordered backlog) and delivered after it. **No row is
lost, none is sent twice**: the fan-out notes the row of each live event it keeps for the listener
(``durian.storage.backfill``); after reading a chunk the backfill waits until every event committed
before that read has been handed off (its outbox row relayed, its stream entry fanned out, at most
``DURIAN_BACKFILL_SETTLE_WAIT`` seconds), then leaves the rows with a live event to those events,
which carry the same or a newer state, in order. A change committed after a row was read arrives
as its own live event. Each event's id is derived from the listener, the run and the row, so the
chunk a stopped run had queued is not delivered twice when it resumes.

Nothing here is held in a process's memory between chunks: the state is the ``Backfill`` row, and
one process at a time runs a listener's backfill (a Redis lease), on any host.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, Protocol

import dramatiq
import redis
from django.db import DatabaseError, models, transaction
from django.utils import timezone

from ..conf import settings
from ..core.event import Event
from ..core.recipients import recipients
from ..models import Backfill, Listener, OutboxEvent
from ..storage import backfill as live
from ..storage import listener_cache, ordered, stream
from ..storage.connection import get_redis
from . import queue

logger = logging.getLogger("durian.backfill")

#: The actor that runs a backfill (declared in ``workers.actors``; queued here by name).
ACTOR_NAME = "durian.backfill"
#: A namespace for backfilled events' ids: the same listener, run and row give the same id.
_IDS = uuid.UUID("5b1d4a52-8f0e-4c51-9f4e-6f1c2f3a9b7d")


class RowHook(Protocol):
    """What a backfill needs of a ``ModelHook``."""

    name: str
    model: type[models.Model] | None

    def build_payload(self, instance: models.Model, created: bool = False) -> dict[str, Any] | None: ...


def begin(listener: Listener) -> Backfill:
    """Start (or start again) ``listener``'s backfill, in the caller's transaction: it waits from the
    commit on, and a worker runs the backfill once the transaction commits."""
    backfill, made = Backfill.objects.get_or_create(listener=listener)
    if not made:
        backfill.run += 1
        backfill.state = Backfill.State.PENDING
        backfill.watermark = backfill.position = None
        backfill.total = backfill.read = backfill.sent = backfill.skipped = 0
        backfill.error = ""
        backfill.started_at = backfill.finished_at = None
        backfill.save()
        _after_commit(lambda: live.forget(get_redis("request"), listener.pk))
    listener.backfill = backfill
    listener.save(update_fields=["updated_at"])  # waits_for moved: the save signal publishes it, the stamp moves
    return backfill


def queue_run(listener_id: int, delay_ms: int | None = None) -> None:
    """Queue the backfill of ``listener_id`` for a worker (``durian.backfill`` actor), after commit
    (and after ``delay_ms``: a worker takes over a backfill whose process stopped)."""

    def send() -> None:
        broker = dramatiq.get_broker()
        broker.declare_queue(settings.QUEUE_NAME)
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=settings.QUEUE_NAME, actor_name=ACTOR_NAME, args=(listener_id,), kwargs={}, options={}
        )
        broker.enqueue(message, delay=delay_ms)

    transaction.on_commit(send, robust=True)


def _after_commit(change: Callable[[], None]) -> None:
    def run() -> None:
        try:
            change()
        except redis.RedisError as exc:
            logger.warning("durian: could not clear a backfill's live rows (%s)", exc)

    transaction.on_commit(run, robust=True)


def event_id(listener_id: int, run: int, row: str) -> str:
    """The id of the event a backfill run sends for one row: the same every time it is made."""
    return uuid.uuid5(_IDS, f"{listener_id}:{run}:{row}").hex


class Settle:
    """Waiting, after a read, until every event committed before it has been handed off."""

    def __init__(self, client: redis.Redis, hook: str) -> None:
        self.client, self.hook = client, hook
        self.budget = float(settings.BACKFILL_SETTLE_WAIT)

    def wait(self) -> bool:
        """True once the outbox rows of the hook seen now are relayed and the stream entries up to
        the newest are handed off; False after ``DURIAN_BACKFILL_SETTLE_WAIT`` (later calls then
        do not wait: no worker is consuming)."""
        if self.budget <= 0:
            return False
        deadline = time.monotonic() + self.budget
        pending = set(OutboxEvent.objects.filter(hook=self.hook).values_list("id", flat=True)[:10_000])
        while pending:
            pending = set(OutboxEvent.objects.filter(id__in=pending).values_list("id", flat=True))
            if pending and not self._sleep(deadline):
                return False
        newest = stream.last_id(self.client)
        while newest is not None:
            floor = stream.settled_below(self.client)
            if floor is not None and floor > newest:
                break
            if not self._sleep(deadline):
                return False
        return True

    def _sleep(self, deadline: float) -> bool:
        if time.monotonic() >= deadline:
            logger.warning(
                "durian: the backfill of hook %r could not see the workers hand off recent events within %.0f s; "
                "going on without waiting (a row changed meanwhile may arrive twice)",
                self.hook,
                self.budget,
            )
            self.budget = 0.0
            return False
        time.sleep(0.02)
        return True


def run(
    listener_id: int,
    hook: RowHook,
    progress: Callable[[Backfill], None] | None = None,
    client: redis.Redis | None = None,
) -> Backfill | None:
    """Run (or resume) the backfill of ``listener_id`` with ``hook`` (its ``ModelHook``) until it is done.

    Returns the backfill, or ``None`` when another process runs it (or there is none, or its listener
    was deleted meanwhile). A Redis or database error is raised with the backfill still running (it
    resumes from its position); any other error marks it ``failed`` with the reason (the listener
    stops waiting) and is raised.
    """
    client = client or get_redis("worker")
    lease = live.run_lease(client, listener_id)
    if not lease.acquire():
        logger.info("durian: the backfill of listener %s runs in another process", listener_id)
        return None
    try:
        backfill = Backfill.objects.select_related("listener").filter(listener_id=listener_id).first()
        if backfill is None or backfill.finished:
            return backfill
        try:
            if not _run(backfill, hook, client, lease, progress):
                return None  # the listener was deleted meanwhile
        except (redis.RedisError, DatabaseError):
            logger.warning("durian: the backfill of listener %s stopped; it resumes where it was", listener_id)
            raise  # still running: the actor's retry (or a worker, after a command) resumes it
        except Exception as exc:
            _finish(backfill, Backfill.State.FAILED, f"{type(exc).__name__}: {exc}"[:2000])
            logger.exception("durian: the backfill of listener %s failed", listener_id)
            raise
        _finish(backfill, Backfill.State.DONE)
        live.forget(client, listener_id)
        return backfill
    finally:
        lease.release()


def _run(
    backfill: Backfill,
    hook: RowHook,
    client: redis.Redis,
    lease: Any,
    progress: Callable[[Backfill], None] | None,
) -> bool:
    """Send the rest of the rows; False if the listener was deleted meanwhile."""
    model = hook.model
    assert model is not None
    rows = model._default_manager.order_by("pk")
    pk = model._meta.pk
    assert pk is not None
    if backfill.state == Backfill.State.PENDING:
        newest = rows.values_list("pk", flat=True).last()
        backfill.watermark = None if newest is None else str(newest)
        backfill.total = 0 if newest is None else rows.filter(pk__lte=newest).count()
        backfill.state = Backfill.State.RUNNING
        backfill.started_at = timezone.now()
        backfill.save(update_fields=["watermark", "total", "state", "started_at"])
    if backfill.watermark is None:
        return True
    rows = rows.filter(pk__lte=pk.to_python(backfill.watermark))
    listener = backfill.listener
    snapshot = listener_cache.snapshot_of([listener])
    settle = Settle(client, hook.name)
    size = max(1, int(settings.BACKFILL_CHUNK))
    while True:
        page = rows if backfill.position is None else rows.filter(pk__gt=pk.to_python(backfill.position))
        chunk = list(page[:size])
        if not chunk:
            return True
        settle.wait()
        kept = live.live_among(client, listener.pk, [str(row.pk) for row in chunk])
        items: list[queue.Item] = []
        for row in chunk:
            if str(row.pk) in kept:
                backfill.skipped += 1
                continue
            data = hook.build_payload(row, created=False)
            if data is None:
                continue
            event = Event(
                hook=hook.name,
                payload=data,
                id=event_id(listener.pk, backfill.run, str(row.pk)),
                row=str(row.pk),
                backfill=True,
            )
            if any(x.id == listener.pk for x in recipients(snapshot, event)):
                items.append(queue.item(event, listener.pk))
        _send(client, listener, items, backfill.read)
        backfill.position = str(chunk[-1].pk)
        backfill.read += len(chunk)
        backfill.sent += len(items)
        fields = ("position", "read", "sent", "skipped")
        if not Backfill.objects.filter(pk=backfill.pk).update(**{f: getattr(backfill, f) for f in fields}):
            return False
        lease.renew()
        if progress is not None:
            progress(backfill)


def _send(client: redis.Redis, listener: Listener, items: list[queue.Item], first: int) -> None:
    """Queue a chunk's items; an ordered listener's go to the front of its backlog, in this order."""
    if not listener.ordered:
        queue.send(items)
        return
    ordered.add(
        client,
        [(f"0-{first + i}", data, queue.event_of(data).webhook_id(listener.pk)) for i, data in enumerate(items)],
    )


def _finish(backfill: Backfill, state: str, error: str = "") -> None:
    """Mark the backfill finished and publish its listener again: it no longer waits, and the
    workers' sweep queues the live events kept meanwhile."""
    backfill.state = state
    backfill.error = error
    backfill.finished_at = timezone.now()
    with transaction.atomic():
        backfill.save(update_fields=["state", "error", "finished_at"])
        listener = Listener.objects.select_related("backfill").filter(pk=backfill.listener_id).first()
        if listener is not None:
            listener.save(update_fields=["updated_at"])  # moves the cache's stamp; the save signal publishes it
