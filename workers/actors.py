"""The ``durian.deliver`` actor: one message of delivery items, attempted and settled.

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
from durian.pipeline import deliver as pipeline
from durian.pipeline import validation
from durian.pipeline.queue import ACTOR_NAME, LEGACY_ACTOR_NAME, retry_queue_name

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
