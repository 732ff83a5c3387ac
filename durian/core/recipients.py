"""Who receives an event: the one rule, applied to a snapshot of listeners.

``recipients(snapshot, event)`` decides it for every path (the workers' fan-out, local delivery
and replay): the listeners of the event's hook whose filters all hold on its payload, in id order,
among those that keep events. Every listener keeps events: an **active** one's are attempted, a
**paused** one's are kept for ``DURIAN_PAUSED_RETENTION`` and delivered in order when it is resumed
(``durian.storage.parked``; local delivery, which keeps nothing for later, stores them as dead
letters), and a **disabled** one's become dead letters, to be re-sent once it is enabled again.

A ``Snapshot`` is built from plain ``ListenerView`` values, whether they come from the Redis
listener cache (workers) or from the database (local delivery, replay).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..conf import settings
from . import match, sealing
from .event import Event
from .index import ListenerIndex

#: Listener states whose events are kept (attempted, kept until resumed, or stored as dead letters).
KEEPS_EVENTS = frozenset({"active", "paused", "disabled"})
#: The reason a listener waits while its URL is not validated (``DURIAN_VERIFY_ENDPOINTS``).
VALIDATION = "validation"


def awaits_validation(validated: bool) -> bool:
    """True when endpoints must be validated (``DURIAN_VERIFY_ENDPOINTS``, read now) and this one is not."""
    return not validated and bool(settings.VERIFY_ENDPOINTS)


@dataclass(frozen=True)
class ListenerView:
    """What delivery needs of a listener: where, how to sign, its state, its filters, and the
    payload format it asked for (``flat`` or ``standard``)."""

    id: int
    hook: str
    url: str
    #: The signing secrets, sealed (``durian.core.sealing``): opened only where a body is signed.
    all_secrets: tuple[str, ...]
    state: str
    filters: Mapping[str, match.Matcher]
    previous_until: float | None = None
    payload_format: str = "flat"
    #: Most requests in flight to it at once, across every worker (``None``: ``DURIAN_LISTENER_CONCURRENCY``).
    concurrency: int | None = None
    #: Most requests per second (``None``: no limit).
    rate_limit: float | None = None
    #: One delivery at a time, in commit order (``durian.pipeline.ordered``).
    ordered: bool = False
    #: Delays (seconds) before each retry (``None``: ``DURIAN_RETRY_SCHEDULE``); ``durian.pipeline.policy``.
    retry_schedule: tuple[float, ...] | None = None
    #: The listener's own headers, their values sealed: opened only where a request is made.
    headers: Mapping[str, str] = field(default_factory=dict)
    #: The payload fields its body carries (empty: all); filters still see the whole payload.
    fields: tuple[str, ...] = ()
    #: Why an active listener's events are kept for now rather than attempted, such as
    #: ``("backfill",)`` (``Listener.waits_for``); empty: none. ``"validation"`` is not taken from the
    #: cache but decided on each look from ``validated`` (see ``awaiting_validation``).
    waits_for: tuple[str, ...] = ()
    #: Its current URL passed the endpoint validation handshake (``durian.pipeline.validation``).
    validated: bool = True

    @property
    def active(self) -> bool:
        return self.state == "active"

    @property
    def awaiting_validation(self) -> bool:
        """It is active and its URL is not validated while ``DURIAN_VERIFY_ENDPOINTS`` is on (a paused
        listener waits anyway; a disabled one's events become dead letters). Read at each look, not
        cached: switching the setting on holds every unvalidated listener at once, whatever the cache
        entry was built under, and switching it off releases them."""
        return self.state == "active" and awaits_validation(self.validated)

    @property
    def waiting(self) -> bool:
        """Its events are kept, in order, and attempted later: a live event would be held (``holds``)."""
        return self.holds({})

    def holds(self, item: Mapping[str, Any]) -> bool:
        """True when delivery ``item`` must be kept for now rather than attempted: the listener is
        paused, or waits (``waits_for``) for a reason the item does not answer. The one place that
        says it, for the deliver step and the ordered lanes: a backfill's own items pass its
        ``"backfill"`` wait (they are what it waits for), never a pause."""
        if self.state == "paused" or self.awaiting_validation:  # nothing reaches an endpoint not validated
            return True
        reasons = set(self.waits_for)
        if item.get("backfill"):
            reasons.discard("backfill")
        return bool(reasons)

    @property
    def keeps_events(self) -> bool:
        """Active, paused (kept until resumed) or disabled (kept as dead letters)."""
        return self.state in KEEPS_EVENTS

    @property
    def secrets(self) -> tuple[str, ...]:
        """The secrets to sign with now, sealed: the previous one only until its grace period ends."""
        if self.previous_until is not None and time.time() >= self.previous_until:
            return self.all_secrets[:1]
        return self.all_secrets

    @classmethod
    def from_entry(cls, data: Mapping[str, Any]) -> ListenerView:
        """A view of the cached (JSON) form of a listener."""
        return cls(
            id=int(data["id"]),
            hook=data["hook"],
            url=sealing.unseal_url(data["url"]),  # cached with its password sealed; opened to post to it
            all_secrets=tuple(data["secrets"]),
            state=data.get("state", "active"),
            filters=match.filters_from_json(data.get("filters")),
            previous_until=data.get("previous_until"),
            payload_format=data.get("payload_format", "flat"),
            concurrency=data.get("concurrency"),
            rate_limit=data.get("rate_limit"),
            ordered=bool(data.get("ordered", False)),
            retry_schedule=tuple(data["retry_schedule"]) if data.get("retry_schedule") else None,
            headers=dict(data.get("headers") or {}),
            fields=tuple(data.get("fields") or ()),
            waits_for=tuple(r for r in data.get("waits_for") or () if r != VALIDATION),
            validated=bool(data.get("validated", False)),  # cached before validation existed: not validated
        )


@dataclass
class Snapshot:
    """Listeners at one version, by id and by hook, with a fan-out index per hook.

    A snapshot is never changed once built (``of``): workers share it between threads.
    """

    version: bytes | None = None
    by_id: dict[int, ListenerView] = field(default_factory=dict)
    by_hook: dict[str, list[ListenerView]] = field(default_factory=lambda: defaultdict(list))
    indexes: dict[str, ListenerIndex] = field(default_factory=dict)

    @classmethod
    def of(cls, version: bytes | None, listeners: Iterable[ListenerView]) -> Snapshot:
        """A snapshot of ``listeners``, indexed."""
        snap = cls(version=version)
        for listener in sorted(listeners, key=lambda x: x.id):
            snap.by_id[listener.id] = listener
            snap.by_hook[listener.hook].append(listener)
        snap.indexes = {hook: _index(members) for hook, members in snap.by_hook.items()}
        return snap

    def matching(self, hook: str, payload: Mapping[str, Any]) -> list[ListenerView]:
        """Listeners of ``hook`` that keep events and whose filters all hold on ``payload``.

        Candidates come from the hook's ``ListenerIndex``, so the cost grows with the number of
        listeners that may match rather than with all of them; the result, in id order, equals
        testing each one.
        """
        index = self.indexes.get(hook)  # ``of`` indexes every hook it holds
        return index.matching(payload) if index is not None else []


def recipients(snapshot: Snapshot, event: Event) -> list[ListenerView]:
    """The listeners that receive ``event``: the one rule every delivery path applies."""
    return snapshot.matching(event.hook, event.payload)


def _index(listeners: Iterable[ListenerView]) -> ListenerIndex:
    """The fan-out index of the listeners that keep events (active, paused or disabled)."""
    return ListenerIndex(x for x in listeners if x.keeps_events)
