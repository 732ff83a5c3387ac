"""The listener cache in Redis, and each worker's in-memory snapshot of it.

Saving or deleting a listener rewrites its entry in a Redis hash and sets a new random version after
the transaction commits. Workers compare the version once per batch and reload when it moved, so the
next event after a committed listener change sees the change, with no database query on the hot path.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import redis
from django.db import transaction
from django.db.models import Count, Max

from ..conf import settings
from ..core.recipients import ListenerView, Snapshot
from ..models import Listener
from .connection import get_redis

logger = logging.getLogger("durian.cache")


def _keys() -> tuple[str, str]:
    prefix = settings.KEY_PREFIX
    return f"{prefix}:listeners", f"{prefix}:listeners:version"


def _stamp_key() -> str:
    return f"{settings.KEY_PREFIX}:listeners:stamp"


def entry(listener: Listener) -> dict[str, Any]:
    """The cached form of a listener: what fan-out and delivery need; its secrets and URL password stay sealed."""
    secrets = listener.sealed_secrets()
    return {
        "id": listener.pk,
        "hook": listener.hook,
        "url": listener.sealed_url,
        "filters": listener.filters or {},
        "secrets": secrets,
        "previous_until": listener.previous_secret_expires_at.timestamp() if len(secrets) > 1 else None,
        "state": listener.state,
        "payload_format": listener.payload_format,
        "concurrency": listener.max_in_flight,
        "rate_limit": listener.rate_limit,
        "ordered": listener.ordered,
        "retry_schedule": listener.retry_schedule,
        "headers": listener.sealed_headers,
        "fields": list(listener.fields or []),
        "waits_for": list(listener.waits_for),
        "validated": listener.url_validated,
    }


def publish(listeners: Iterable[Listener], client: redis.Redis, stamp: str | None = None) -> None:
    """Write listeners into the cache and move the version (and record ``stamp``, see ``db_stamp``)."""
    data, version = _keys()
    mapping = {str(x.pk): json.dumps(entry(x)) for x in listeners}
    pipe = client.pipeline(transaction=True)
    if mapping:
        pipe.hset(data, mapping=mapping)
    _move_version(pipe, stamp)
    pipe.execute()


def _move_version(pipe: Any, stamp: str | None) -> None:
    _, version = _keys()
    pipe.set(version, uuid.uuid4().hex)
    if stamp is not None:
        pipe.set(_stamp_key(), stamp)


def withdraw(listener_ids: Iterable[int], client: redis.Redis, stamp: str | None = None) -> None:
    """Remove listeners from the cache and move the version (and record ``stamp``)."""
    data, _ = _keys()
    ids = [str(i) for i in listener_ids]
    pipe = client.pipeline(transaction=True)
    if ids:
        pipe.hdel(data, *ids)
    _move_version(pipe, stamp)
    pipe.execute()


def rebuild(client: redis.Redis) -> int:
    """Load every listener from the database into the cache; returns how many."""
    data, _ = _keys()
    stamp = db_stamp()  # before reading: a change made meanwhile shows as a newer stamp next time
    listeners = list(Listener.objects.select_related("backfill"))  # waits_for reads each one's backfill
    pipe = client.pipeline(transaction=True)
    pipe.delete(data)
    if listeners:
        pipe.hset(data, mapping={str(x.pk): json.dumps(entry(x)) for x in listeners})
    _move_version(pipe, stamp)
    pipe.execute()
    logger.info("durian: listener cache rebuilt with %d listeners", len(listeners))
    return len(listeners)


def on_listener_saved(listener: Listener) -> None:
    """After commit, publish the listener. Failures are logged; workers rebuild when needed."""

    def change(client: redis.Redis) -> None:
        listener._state.fields_cache.pop("backfill", None)  # waits_for as committed, not a copy read earlier
        publish([listener], client, stamp=db_stamp())

    _after_commit(change)


def on_listener_deleted(listener_id: int) -> None:
    """After commit, withdraw the listener from the cache."""
    _after_commit(lambda client: withdraw([listener_id], client, stamp=db_stamp()))


def _after_commit(change: Callable[[redis.Redis], None]) -> None:
    def run() -> None:
        try:
            change(get_redis("request"))
        except redis.RedisError as exc:
            logger.warning("durian: could not update the listener cache (%s); workers will rebuild it", exc)

    transaction.on_commit(run, robust=True)


def db_stamp() -> str:
    """A cheap fingerprint of the listeners table: how many rows, and the latest ``updated_at``."""
    agg = Listener.objects.aggregate(n=Count("id"), last=Max("updated_at"))
    return f"{agg['n']}:{agg['last'].timestamp() if agg['last'] else 0:.6f}"


def ensure_fresh(client: redis.Redis) -> bool:
    """Rebuild the cache when it does not reflect the database (a publish lost while Redis was
    down, a Redis that lost its data). One query; workers call it on every outbox sweep. True if rebuilt."""
    stamp = client.get(_stamp_key())
    if stamp is not None and stamp.decode() == db_stamp():
        return False
    logger.info("durian: the listener cache is behind the database; rebuilding it")
    rebuild(client)
    return True


def view(listener: Listener) -> ListenerView:
    """The ``ListenerView`` of a database row, exactly as workers see it through the cache."""
    return ListenerView.from_entry(entry(listener))


def snapshot_of(listeners: Iterable[Listener]) -> Snapshot:
    """A snapshot of database rows (local delivery, replay): same rule, same index as the workers'."""
    return Snapshot.of(None, [view(x) for x in listeners])


def load(version: bytes | None, raw: Mapping[bytes, bytes]) -> Snapshot:
    """A snapshot of the cache's raw hash; unreadable entries are logged and skipped."""
    listeners = []
    for value in raw.values():
        try:
            listeners.append(ListenerView.from_entry(json.loads(value)))
        except Exception as exc:  # one bad entry must not stop the others
            logger.error("durian: skipping unreadable cached listener: %s", exc)
    return Snapshot.of(version, listeners)


class SnapshotHolder:
    """A process-local snapshot, reloaded when the version in Redis moves."""

    def __init__(self) -> None:
        self._snapshot = Snapshot()
        self._lock = threading.Lock()

    def get(self, client: redis.Redis) -> Snapshot:
        """The current snapshot: one GET per call, a reload only after a change."""
        data, version_key = _keys()
        version = client.get(version_key)
        if version is None:
            with self._lock:
                if client.get(version_key) is None:
                    rebuild(client)
                version = client.get(version_key)
        if version != self._snapshot.version:
            with self._lock:
                if version != self._snapshot.version:
                    pipe = client.pipeline(transaction=True)
                    pipe.get(version_key)
                    pipe.hgetall(data)
                    version, raw = pipe.execute()
                    self._snapshot = load(version, raw)
        return self._snapshot


snapshots = SnapshotHolder()
