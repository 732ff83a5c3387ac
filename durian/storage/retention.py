"""Retention: delivery records and re-sent dead letters are removed once they are old.

The workers run ``run_due`` on every sweep. A Redis lease named ``retention``, held for
``DURIAN_RETENTION_INTERVAL`` and never released early, lets one process on one host make one pass
per interval. A pass deletes in batches of ``DURIAN_RETENTION_BATCH`` rows (by primary key, so each
statement is short and locks little), at most ``DURIAN_RETENTION_MAX_BATCHES`` of them; what is
left waits for the next pass. ``manage.py durian_purge`` uses the same querysets for manual use.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

import redis
from django.db.models import QuerySet
from django.utils import timezone

from ..conf import settings
from ..models import DeadLetter, Delivery
from .lease import Lease

logger = logging.getLogger("durian.retention")


def old_deliveries(before: datetime.datetime) -> QuerySet[Delivery]:
    """Delivery records made before ``before``."""
    return Delivery.objects.filter(created_at__lt=before)


def old_dead_letters(before: datetime.datetime) -> QuerySet[DeadLetter]:
    """Dead letters re-sent successfully before ``before`` (dead ones are never old)."""
    return DeadLetter.objects.filter(status=DeadLetter.Status.DELIVERED, delivered_at__lt=before)


def delete_in_batches(queryset: QuerySet, batch: int, max_batches: int | None = None) -> int:
    """Delete the rows of ``queryset``, ``batch`` primary keys per statement; returns how many went."""
    removed = batches = 0
    model = queryset.model
    while max_batches is None or batches < max_batches:
        ids = list(queryset.order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            break
        removed += model._base_manager.using(queryset.db).filter(pk__in=ids).delete()[0]
        batches += 1
        if len(ids) < batch:
            break
    return removed


@dataclass
class Pass:
    """What one retention pass removed."""

    deliveries: int = 0
    dead_letters: int = 0


def cutoff(seconds: float | None) -> datetime.datetime | None:
    """``now - seconds``, or ``None`` when the setting says keep everything."""
    return timezone.now() - datetime.timedelta(seconds=float(seconds)) if seconds else None


def run(batch: int | None = None, max_batches: int | None = None) -> Pass:
    """Remove what the retention settings say is old, in bounded batches (no lease; see ``run_due``)."""
    batch = int(batch or settings.RETENTION_BATCH)
    max_batches = int(max_batches or settings.RETENTION_MAX_BATCHES)
    done = Pass()
    records_before = cutoff(settings.RECORD_RETENTION)
    if records_before is not None:
        done.deliveries = delete_in_batches(old_deliveries(records_before), batch, max_batches)
    letters_before = cutoff(settings.DEAD_LETTER_RETENTION)
    if letters_before is not None:
        done.dead_letters = delete_in_batches(old_dead_letters(letters_before), batch, max_batches)
    return done


def run_due(client: redis.Redis) -> Pass | None:
    """Make a retention pass if no process made one within ``DURIAN_RETENTION_INTERVAL``.

    Returns what it removed, or ``None`` when another process holds the lease.
    """
    lease = Lease(client, "retention", max(1, int(float(settings.RETENTION_INTERVAL) * 1000)))
    if not lease.acquire():
        return None
    done = run()
    if done.deliveries or done.dead_letters:
        logger.info(
            "durian: retention removed %d delivery record(s) and %d re-sent dead letter(s)",
            done.deliveries,
            done.dead_letters,
        )
    return done
