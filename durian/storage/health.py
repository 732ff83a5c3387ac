"""Endpoint health: failures in a row, the last success, and disabling listeners that keep failing.

A healthy listener costs no database write per delivery: a Redis key per listener
(``<prefix>:healthy:<id>``, set with NX and an expiry of ``DURIAN_HEALTH_WRITE_INTERVAL``) says
"success already recorded lately". A success writes the database only when that key was absent,
and every failure deletes it, so the first success after a failure always resets the count.

A listener is disabled when it answers 410 Gone, or when its deliveries have failed without a
success for ``DURIAN_DISABLE_AFTER`` seconds. Disabling saves the state and the reason,
republishes the listener cache, logs a warning and sends ``durian.signals.listener_disabled``.
"""

from __future__ import annotations

import datetime
import logging
import time
from collections.abc import Sequence
from typing import Any

import redis
from django.db.models import DateTimeField, F, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from ..conf import settings
from ..core.durations import in_words
from ..core.outcome import Outcome
from ..core.redact import printable
from ..models import Listener
from ..signals import listener_disabled
from . import listener_cache
from .connection import get_redis

logger = logging.getLogger("durian.health")


def healthy_key(listener_id: int) -> str:
    return f"{settings.KEY_PREFIX}:healthy:{listener_id}"


def observe(results: Sequence[tuple[int, Outcome]], client: redis.Redis | None = None) -> list[int]:
    """Record a batch of attempt outcomes (in order). Returns the ids disabled now.

    Never raises: health bookkeeping must not turn delivered events into retried ones.
    """
    try:
        return _observe(results, client)
    except Exception:
        logger.exception("durian: could not record the health of %d delivery outcome(s)", len(results))
        return []


def _observe(results: list[tuple[int, Outcome]], client: redis.Redis | None) -> list[int]:
    last: dict[int, Outcome] = {}
    failing: dict[int, int] = {}  # failures after the listener's last success in this batch
    recovered: set[int] = set()
    for listener_id, outcome in results:
        last[listener_id] = outcome
        if outcome.ok:
            failing.pop(listener_id, None)
            recovered.add(listener_id)
        else:
            failing[listener_id] = failing.get(listener_id, 0) + 1
    if not last:
        return []
    client = client or get_redis("worker")
    successes = [i for i in recovered if last[i].ok]
    if successes:
        mark_recovered(successes, client)
    disabled = []
    for listener_id, count in failing.items():
        if listener_id in recovered:  # a success earlier in the batch: this failure streak is new
            mark_recovered([listener_id], client, force=True)
        if count_failures(listener_id, count, last[listener_id], client):
            disabled.append(listener_id)
    return disabled


#: listener id -> when (monotonic) this process last saw its marker set: it looks again only after
#: ``MEMO_SECONDS``, so a busy healthy listener costs at most one Redis command a second per process.
_memo: dict[int, float] = {}
MEMO_SECONDS = 1.0


def mark_recovered(listener_ids: list[int], client: redis.Redis, force: bool = False) -> None:
    """Reset the failure count and stamp the last success, at most once per interval per listener.

    A failure seen by another process resets the count at this process's next success after
    ``MEMO_SECONDS`` at most (at once for a failure this process saw).
    """
    interval = int(settings.HEALTH_WRITE_INTERVAL or 0)
    now = time.monotonic()
    if not force:
        listener_ids = [i for i in listener_ids if now - _memo.get(i, -MEMO_SECONDS) >= MEMO_SECONDS]
        if not listener_ids:
            return
    due = listener_ids
    if interval > 0 and not force:
        try:
            pipe = client.pipeline(transaction=False)
            for listener_id in listener_ids:
                pipe.set(healthy_key(listener_id), 1, nx=True, ex=interval)
            due = [i for i, fresh in zip(listener_ids, pipe.execute(), strict=True) if fresh]
            _memo.update(dict.fromkeys(listener_ids, now))
        except redis.RedisError as exc:  # fall back to writing: correct, only slower
            logger.warning("durian: health marker unavailable (%s); writing to the database", exc)
    if due:
        Listener.objects.filter(pk__in=due).update(
            last_success_at=timezone.now(), consecutive_failures=0, failing_since=None
        )


def count_failures(listener_id: int, count: int, outcome: Outcome, client: redis.Redis) -> bool:
    """Count ``count`` failures; disable the listener on 410 or after the window. True if disabled."""
    now = timezone.now()
    Listener.objects.filter(pk=listener_id).update(
        consecutive_failures=F("consecutive_failures") + count,
        last_failure_at=now,
        failing_since=Coalesce(F("failing_since"), Value(now, output_field=DateTimeField())),
    )
    _memo.pop(listener_id, None)
    try:
        client.delete(healthy_key(listener_id))
    except redis.RedisError as exc:
        logger.warning("durian: could not clear the health marker of listener %s: %s", listener_id, exc)
    if outcome.gone:
        return disable(listener_id, "The receiver answered 410 Gone.") is not None
    window = float(settings.DISABLE_AFTER or 0)
    if window > 0:
        since = now - datetime.timedelta(seconds=window)
        reason = f"Every delivery failed for more than {in_words(window)}; last error: {outcome.error}"
        return disable(listener_id, reason, failing_before=since) is not None
    return False


def disable(listener_id: int, reason: str, failing_before: datetime.datetime | None = None) -> Any:
    """Disable an active listener (only if failing since before ``failing_before``, when given).

    Returns the disabled listener, or ``None`` when it was not (or no longer) active and failing.
    """
    active = Listener.objects.filter(pk=listener_id, state=Listener.State.ACTIVE)
    if failing_before is not None:
        active = active.filter(failing_since__lte=failing_before)
    reason = reason[:255]
    if not active.update(state=Listener.State.DISABLED, disabled_reason=reason, updated_at=timezone.now()):
        return None
    listener = Listener.objects.get(pk=listener_id)
    listener_cache.on_listener_saved(listener)  # .update() sends no post_save: publish the new state here
    logger.warning("durian: listener %s (%s) disabled: %s", listener.pk, listener.display_url, printable(reason))
    listener_disabled.send(sender=Listener, listener=listener, reason=reason)
    return listener
