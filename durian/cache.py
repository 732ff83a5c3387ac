"""The listener cache in Redis, and each worker's in-memory snapshot of it.

Saving or deleting a listener rewrites its entry in a Redis hash and sets a new random version after
the transaction commits. Workers compare the version once per batch and reload when it moved, so the
next event after a committed listener change sees the change, with no database query on the hot path.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis
from django.db import transaction

from . import match
from .conf import settings
from .index import ListenerIndex

if TYPE_CHECKING:
    from .models import Listener

logger = logging.getLogger("durian.cache")


def _keys() -> tuple[str, str]:
    prefix = settings.KEY_PREFIX
    return f"{prefix}:listeners", f"{prefix}:listeners:version"


def _stamp_key() -> str:
    return f"{settings.KEY_PREFIX}:listeners:stamp"


def entry(listener: Listener) -> dict[str, Any]:
    """The cached form of a listener: what fan-out and delivery need."""
    secrets = listener.secrets()
    return {
        "id": listener.pk,
        "hook": listener.hook,
        "url": listener.url,
        "filters": listener.filters or {},
        "secrets": secrets,
        "previous_until": listener.previous_secret_expires_at.timestamp() if len(secrets) > 1 else None,
        "state": listener.state,
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
    from .models import Listener

    data, _ = _keys()
    stamp = db_stamp()  # before reading: a change made meanwhile shows as a newer stamp next time
    listeners = list(Listener.objects.all())
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
    _after_commit(lambda client: publish([listener], client, stamp=db_stamp()))


def on_listener_deleted(listener_id: int) -> None:
    """After commit, withdraw the listener from the cache."""
    _after_commit(lambda client: withdraw([listener_id], client, stamp=db_stamp()))


def _after_commit(change: Any) -> None:
    from .connection import get_redis

    def run() -> None:
        try:
            change(get_redis("request"))
        except redis.RedisError as exc:
            logger.warning("durian: could not update the listener cache (%s); workers will rebuild it", exc)

    transaction.on_commit(run, robust=True)


def db_stamp() -> str:
    """A cheap fingerprint of the listeners table: how many rows, and the latest ``updated_at``."""
    from django.db.models import Count, Max

    from .models import Listener

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


@dataclass(frozen=True)
class CachedListener:
    """A listener as workers see it."""

    id: int
    hook: str
    url: str
    all_secrets: tuple[str, ...]
    state: str
    filters: Mapping[str, match.Matcher]
    previous_until: float | None = None

    @property
    def active(self) -> bool:
        return self.state == "active"

    @property
    def keeps_events(self) -> bool:
        """Active, or disabled: a disabled listener's events are kept as dead letters."""
        return self.state in ("active", "disabled")

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secrets to sign with now: the previous one only until its grace period ends."""
        if self.previous_until is not None and time.time() >= self.previous_until:
            return self.all_secrets[:1]
        return self.all_secrets

    @classmethod
    def from_entry(cls, data: Mapping[str, Any]) -> CachedListener:
        return cls(
            id=int(data["id"]),
            hook=data["hook"],
            url=data["url"],
            all_secrets=tuple(data["secrets"]),
            state=data.get("state", "active"),
            filters=match.filters_from_json(data.get("filters")),
            previous_until=data.get("previous_until"),
        )


@dataclass
class Snapshot:
    """Every cached listener at one version, by id and by hook, with a fan-out index per hook.

    A snapshot is never changed once built (``load``/``of``): workers share it between threads.
    """

    version: bytes | None = None
    by_id: dict[int, CachedListener] = field(default_factory=dict)
    by_hook: dict[str, list[CachedListener]] = field(default_factory=lambda: defaultdict(list))
    indexes: dict[str, ListenerIndex] = field(default_factory=dict)

    @classmethod
    def of(cls, version: bytes | None, listeners: Iterable[CachedListener]) -> Snapshot:
        """A snapshot of ``listeners``, indexed."""
        snap = cls(version=version)
        for listener in sorted(listeners, key=lambda x: x.id):
            snap.by_id[listener.id] = listener
            snap.by_hook[listener.hook].append(listener)
        snap.indexes = {hook: _index(listeners) for hook, listeners in snap.by_hook.items()}
        return snap

    @classmethod
    def load(cls, version: bytes | None, raw: Mapping[bytes, bytes]) -> Snapshot:
        """A snapshot of the cache's raw hash; unreadable entries are logged and skipped."""
        listeners = []
        for value in raw.values():
            try:
                listeners.append(CachedListener.from_entry(json.loads(value)))
            except Exception as exc:  # one bad entry must not stop the others
                logger.error("durian: skipping unreadable cached listener: %s", exc)
        return cls.of(version, listeners)

    def matching(self, hook: str, payload: Mapping[str, Any]) -> list[CachedListener]:
        """Listeners of ``hook`` that keep events (active or disabled) whose filters all hold on ``payload``.

        Candidates come from the hook's ``ListenerIndex``, so the cost grows with the number of
        listeners that may match rather than with all of them; the result, in id order, equals
        testing each one.
        """
        index = self.indexes.get(hook)  # ``of`` indexes every hook it holds
        return index.matching(payload) if index is not None else []


def _index(listeners: Iterable[CachedListener]) -> ListenerIndex:
    """The fan-out index of the listeners that keep events (active or disabled)."""
    return ListenerIndex(x for x in listeners if x.keeps_events)


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
                    self._snapshot = Snapshot.load(version, raw)
        return self._snapshot


snapshots = SnapshotHolder()
