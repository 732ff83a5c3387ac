"""Endpoint validation (``DURIAN_VERIFY_ENDPOINTS``): who validates a listener's URL, when, and what
follows.

With the setting on, a listener whose current URL is not validated receives nothing: its events are
kept as for a paused listener (``Listener.waits_for`` names ``"validation"``; workers decide it on
each look from the cached ``validated`` flag and the setting, read then). Validation is the
CloudEvents handshake (``durian.transport.handshake``).

- **Who runs it.** The ``durian.validate`` actor (``workers.actors``), one listener per message. The
  workers' sweep (``workers.consumer``, every ``DURIAN_SWEEP_INTERVAL`` s, one process per round)
  queues the listeners whose next attempt is due (``queue_due``), and a listener saved with a new
  URL is queued once its transaction commits (``on_saved``). Queueing claims the attempt: it moves
  the next attempt ``claim_seconds()`` on, so no other round queues it again meanwhile; a message
  that is lost is thus tried again after that. Each attempt holds a Redis lease for the listener
  (``durian.storage.lease``), so two processes never run it at once.
- **When.** At once for a new or changed URL; after a failure, after each delay of
  ``DURIAN_VERIFY_SCHEDULE`` in turn, the last one repeating until it succeeds.
- **On demand.** The pages and the API (``listeners/{id}/validate/``) run it inline (``run`` with
  ``total=DURIAN_TEST_SEND_TIMEOUT``) and show the result.
- **What follows.** A validated listener is published again in the listener cache; the sweep then
  queues its kept events, oldest first. Only ``active`` listeners are validated by the schedule.
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

import dramatiq
import redis
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from ..conf import settings
from ..core.redact import printable
from ..models import Listener, endpoint_digest
from ..storage import listener_cache
from ..storage.connection import get_redis
from ..storage.lease import Lease
from ..transport.handshake import Handshake, handshake

logger = logging.getLogger("durian.workers")

#: The actor that validates one listener.
ACTOR_NAME = "durian.validate"
#: Listeners queued per sweep round, at most.
BATCH = 100


def claim_seconds() -> float:
    """How long a queued attempt is left to its message before a sweep queues it again."""
    return max(60.0, 2 * float(settings.TOTAL_TIMEOUT))


def next_delay(attempts: int) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones (``DURIAN_VERIFY_SCHEDULE``)."""
    schedule = [float(x) for x in settings.VERIFY_SCHEDULE or (3600,)]
    return schedule[min(max(attempts, 1), len(schedule)) - 1]


# -- queueing -------------------------------------------------------------------------------------


def due(now: datetime.datetime | None = None, limit: int = BATCH) -> list[int]:
    """Active listeners not validated whose next attempt is due, oldest due first (a validated
    listener has no next attempt: the query reads the index on ``validation_next_at`` only)."""
    now = now or timezone.now()
    ready = Listener.objects.filter(validation_next_at__lte=now, state=Listener.State.ACTIVE, validated_at__isnull=True)
    return list(ready.order_by("validation_next_at", "id").values_list("id", flat=True)[:limit])


def queue(listener_ids: list[int]) -> list[int]:
    """Claim and queue an attempt for each listener still due; returns those queued."""
    now = timezone.now()
    later = now + datetime.timedelta(seconds=claim_seconds())
    still_due = Q(validation_next_at__lte=now) | Q(validation_next_at__isnull=True)
    due_now = Listener.objects.filter(still_due, pk__in=listener_ids, validated_at__isnull=True)
    with transaction.atomic():  # one claim for the batch: the UPDATE decides, as a per-row one did
        due_now.update(validation_next_at=later)
        claimed = set(
            Listener.objects.filter(pk__in=listener_ids, validation_next_at=later).values_list("id", flat=True)
        )
    queued = [listener_id for listener_id in listener_ids if listener_id in claimed]
    if queued:
        broker = dramatiq.get_broker()
        broker.declare_queue(settings.QUEUE_NAME)
        for listener_id in queued:
            message: dramatiq.Message[Any] = dramatiq.Message(
                queue_name=settings.QUEUE_NAME, actor_name=ACTOR_NAME, args=(listener_id,), kwargs={}, options={}
            )
            broker.enqueue(message)
    return queued


def queue_due(client: redis.Redis) -> int | None:
    """The sweep's part: queue the listeners due for an attempt, in one process per round.

    Returns how many were queued, or ``None`` when validation is off or another process has the round.
    """
    if not settings.VERIFY_ENDPOINTS:
        return None
    lease = Lease(client, "validation:sweep", max(1000, int(float(settings.SWEEP_INTERVAL) * 1000)))
    if not lease.acquire():
        return None
    return len(queue(due()))


def on_saved(listener: Listener) -> None:
    """After a save: a listener with a URL never tried yet is queued once the transaction commits."""
    if not settings.VERIFY_ENDPOINTS or listener.state != Listener.State.ACTIVE:
        return
    if listener.validated_at is not None or listener.validation_checked_at is not None:
        return
    listener_id = listener.pk

    def run() -> None:
        try:
            queue([listener_id])
        except Exception as exc:  # the broker is down: the sweep queues it later
            logger.warning("durian: could not queue the validation of listener %s (%s)", listener_id, exc)

    transaction.on_commit(run, robust=True)


# -- one attempt ----------------------------------------------------------------------------------


def run(
    listener_id: int, force: bool = False, total: float | None = None, client: redis.Redis | None = None
) -> Handshake | None:
    """Validate one listener now and record what happened; ``None`` when nothing was tried (no such
    listener, validated already unless ``force``, or another process is validating it now).

    ``total`` bounds the handshake (seconds; ``DURIAN_TOTAL_TIMEOUT`` at most).
    """
    lease: Lease | None = Lease(client or get_redis("worker"), f"validation:{listener_id}", int(claim_seconds() * 1000))
    try:
        if not lease.acquire():
            return None
    except redis.RedisError as exc:  # the lease only spares a double handshake: go on without it
        logger.warning("durian: validating listener %s without its lease (%s)", listener_id, exc)
        lease = None
    try:
        listener = Listener.objects.filter(pk=listener_id).first()
        if listener is None or (listener.url_validated and not force):
            return None
        return attempt(listener, total)
    finally:
        if lease is not None:
            try:
                lease.release()
            except redis.RedisError:
                pass  # it expires by itself


def attempt(listener: Listener, total: float | None = None) -> Handshake:
    """Make the handshake with ``listener``'s URL and record the result on it (and in the cache)."""
    digest = endpoint_digest(listener.sealed_url)
    result = handshake(listener.url, listener.sealed_headers, listener.rate_limit, total)
    now = timezone.now()
    attempts = listener.validation_attempts + 1
    if result.ok:
        changes: dict[str, Any] = {
            "validated_at": now,
            "validation_error": "",
            "validation_next_at": None,
            "updated_at": now,  # the cache's stamp moves: a lost publish is made good by the sweep
        }
    else:  # a validated endpoint stays validated (a check on demand that fails shows its error)
        retry = None if listener.url_validated else now + datetime.timedelta(seconds=next_delay(attempts))
        changes = {"validation_error": printable(result.error)[:500], "validation_next_at": retry}
    changes.update(validation_url=digest, validation_checked_at=now, validation_attempts=attempts)
    # Recorded only for the URL it was made with: a URL saved meanwhile starts afresh.
    if Listener.objects.filter(pk=listener.pk, validation_url=listener.validation_url).update(**changes):
        for name, value in changes.items():
            setattr(listener, name, value)
        if result.ok:
            listener_cache.on_listener_saved(listener)
    level = logging.INFO if result.ok else logging.WARNING
    logger.log(
        level,
        "durian: endpoint validation of listener %s (%s): %s",
        listener.pk,
        listener.display_url,
        "validated" if result.ok else printable(result.error),
    )
    return result
