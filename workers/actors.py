"""The ``durian.deliver`` actor: one message of delivery items, attempted and settled; and the
``durian.backfill`` actor, which runs a listener's backfill.

The work is ``durian.pipeline.deliver``; this module only declares it to Dramatiq (with
``durian.validate``, the endpoint validation of one listener: ``durian.pipeline.validation``), on the queue
``DURIAN_QUEUE_NAME`` (read through ``durian.conf`` when the actor is declared). Dramatiq's own
retries (``max_retries``) cover a message that fails as a whole, such as a Redis error while
loading listeners; per-delivery retries follow ``DURIAN_RETRY_SCHEDULE``, on the queue
``<DURIAN_QUEUE_NAME>.retry``, declared here so that ``rundramatiq`` consumes it too.
"""

from __future__ import annotations

import logging
from typing import Any

import dramatiq

from durian.conf import settings
from durian.models import Backfill, Listener
from durian.pipeline import backfill as backfills
from durian.pipeline import deliver as pipeline
from durian.pipeline import validation
from durian.pipeline.queue import ACTOR_NAME, LEGACY_ACTOR_NAME, retry_queue_name
from durian.registry import hooks

logger = logging.getLogger("durian.workers")

_OPTIONS: dict[str, Any] = {
    "queue_name": settings.QUEUE_NAME,
    "max_retries": 5,
    "min_backoff": 1000,
    "max_backoff": 60_000,
    "time_limit": 15 * 60_000,
}


@dramatiq.actor(actor_name=ACTOR_NAME, **_OPTIONS)
def deliver(items: list[dict[str, Any]]) -> None:
    """Attempt each delivery once; schedule a retry, or record a dead letter, for each failure."""
    pipeline.deliver(items)


@dramatiq.actor(actor_name=validation.ACTOR_NAME, queue_name=settings.QUEUE_NAME, max_retries=0, time_limit=5 * 60_000)
def validate(listener_id: int) -> None:
    """Validate one listener's endpoint (``durian.pipeline.validation``); a failure is retried on its schedule."""
    validation.run(listener_id)


#: How often a backfill another process runs is looked at again (its lease runs out a minute after
#: that process stopped; then this worker takes over, from where it was).
RECHECK_MS = 30_000


@dramatiq.actor(
    actor_name=backfills.ACTOR_NAME,
    queue_name=settings.QUEUE_NAME,
    max_retries=20,
    min_backoff=5000,
    max_backoff=300_000,
    time_limit=6 * 3600_000,
)
def backfill(listener_id: int) -> None:
    """Run (or resume, after a stopped worker) a listener's backfill (``durian.pipeline.backfill``)."""
    listener = Listener.objects.filter(pk=listener_id).first()
    hook = hooks.get(listener.hook) if listener is not None else None
    if listener is None or hook is None or hook.model is None:
        logger.warning("durian: no backfill for listener %s: it or its model hook is gone", listener_id)
        return
    if (
        backfills.run(listener_id, hook) is None
        and Backfill.objects.filter(
            listener_id=listener_id, state__in=[Backfill.State.PENDING, Backfill.State.RUNNING]
        ).exists()
    ):  # another process runs it: look again later, and take over if that process stopped
        backfills.queue_run(listener_id, delay_ms=RECHECK_MS)


def _declare_legacy_alias() -> None:
    """Deliver messages queued under the actor's name before 0.2 (``deliver``); removed in 0.3.

    Declared only while no other actor has that name, so a project's own ``deliver`` is never
    replaced by durian's.
    """
    broker = dramatiq.get_broker()
    if LEGACY_ACTOR_NAME in broker.get_declared_actors():
        logger.info("durian: an actor named %r exists; messages queued by durian < 0.2 go to it", LEGACY_ACTOR_NAME)
        return

    @dramatiq.actor(actor_name=LEGACY_ACTOR_NAME, **_OPTIONS)
    def deliver_legacy(items: list[dict[str, Any]]) -> None:
        pipeline.deliver(items)


_declare_legacy_alias()
# Retries and held deliveries travel on their own queue, consumed by the same workers.
dramatiq.get_broker().declare_queue(retry_queue_name())
