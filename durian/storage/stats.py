"""Delivery health in figures, read from the delivery records with a handful of aggregate queries.

The admin dashboard, the listener pages and the metrics all read their figures here, so every
page says the same thing. Each function costs one or two queries whatever the number of rows:
the database groups and counts, Python only sums a few hundred groups.

Latency percentiles come from a histogram: each attempt's duration is counted in a bucket of
``LATENCY_BUCKETS_MS`` and a percentile is the upper bound of the bucket where it falls (so p99 =
"at most this long"), as Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

import redis
from django.db import connections, router
from django.db.models import Case, Count, Func, IntegerField, Q, Value, When
from django.db.models.functions import Substr, TruncHour
from django.utils import timezone

from ..models import DeadLetter, Delivery, Listener, OutboxEvent
from . import stream

#: Upper bounds (ms) of the latency histogram's buckets; slower attempts fall in the last, open one.
LATENCY_BUCKETS_MS = (
    1, 2, 3, 5, 7, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700,
    1000, 1500, 2000, 3000, 5000, 7000, 10000, 15000, 20000, 30000,
)  # fmt: skip
#: This many failures in a row (or a disabled listener, or dead letters waiting) make the badge red.
RED_AFTER_FAILURES = 3

Level = Literal["ok", "warning", "failing", "paused"]


@dataclass
class Hour:
    """One hour of deliveries: attempts, successes, and latency percentiles (ms, bucket upper bounds)."""

    start: datetime.datetime
    attempts: int = 0
    delivered: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS_MS) + 1))

    @property
    def success_rate(self) -> float | None:
        return self.delivered / self.attempts if self.attempts else None

    def percentile(self, q: float) -> int | None:
        """The ``q`` (0..1) latency percentile, in ms; ``None`` without attempts."""
        return percentile(self.buckets, q)


def percentile(buckets: list[int], q: float) -> int | None:
    """The upper bound (ms) of the bucket holding the ``q`` percentile of a latency histogram."""
    total = sum(buckets)
    if not total:
        return None
    rank, seen = q * total, 0
    for i, count in enumerate(buckets):
        seen += count
        if seen >= rank and count:
            return LATENCY_BUCKETS_MS[i] if i < len(LATENCY_BUCKETS_MS) else LATENCY_BUCKETS_MS[-1] * 2
    return LATENCY_BUCKETS_MS[-1] * 2


def _bucket() -> Case:
    whens = [When(duration_ms__lte=bound, then=Value(i)) for i, bound in enumerate(LATENCY_BUCKETS_MS)]
    return Case(*whens, default=Value(len(LATENCY_BUCKETS_MS)), output_field=IntegerField())


def _hour() -> Func:
    """The UTC hour of ``created_at``, computed by the database itself.

    On SQLite ``TruncHour`` is a Python function called per row (30 s at a million rows); the
    stored text (``YYYY-MM-DD HH:MM:SS``, UTC) cut after the hour is the same key, natively.
    """
    if connections[router.db_for_read(Delivery)].vendor == "sqlite":
        return Substr("created_at", 1, 13)
    return TruncHour("created_at", tzinfo=datetime.UTC)


def _as_hour(value: str | datetime.datetime) -> datetime.datetime:
    if isinstance(value, str):
        return datetime.datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC)


def hourly(since: datetime.datetime, until: datetime.datetime | None = None) -> list[Hour]:
    """Every hour from ``since`` to ``until`` (now), oldest first, empty hours included. One query."""
    until = until or timezone.now()
    start = since.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
    hours: dict[datetime.datetime, Hour] = {}
    at = start
    while at <= until:
        hours[at] = Hour(at)
        at += datetime.timedelta(hours=1)
    rows = (
        Delivery.objects.filter(created_at__gte=since, created_at__lte=until)
        .annotate(hour=_hour(), bucket=_bucket())
        .values("hour", "bucket", "ok")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        hour = hours.get(_as_hour(row["hour"]))
        if hour is None:
            continue
        hour.attempts += row["n"]
        hour.delivered += row["n"] if row["ok"] else 0
        hour.buckets[row["bucket"]] += row["n"]
    return list(hours.values())


@dataclass
class ListenerFigures:
    """One listener's figures over a window."""

    listener: Listener
    attempts: int = 0
    failures: int = 0
    dead_letters: int = 0

    @property
    def success_rate(self) -> float | None:
        return (self.attempts - self.failures) / self.attempts if self.attempts else None

    @property
    def level(self) -> Level:
        return level(self.listener, self.failures, self.dead_letters)


def level(listener: Listener, failures: int, dead_letters: int) -> Level:
    """The badge of a listener: ``failing`` (red), ``warning`` (amber), ``ok`` (green) or ``paused``."""
    if listener.state == Listener.State.PAUSED:
        return "paused"
    if listener.state == Listener.State.DISABLED or dead_letters or listener.consecutive_failures >= RED_AFTER_FAILURES:
        return "failing"
    if failures or listener.consecutive_failures:
        return "warning"
    return "ok"


def for_listeners(listeners: Iterable[Listener], since: datetime.datetime) -> dict[int, ListenerFigures]:
    """Figures of the given listeners since ``since`` (attempts, failures, dead letters). Two queries."""
    figures = {x.pk: ListenerFigures(x) for x in listeners}
    if not figures:
        return figures
    attempts = (
        Delivery.objects.filter(listener_id__in=figures, created_at__gte=since)
        .values("listener_id")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(ok=False)))
        .order_by()
    )
    for row in attempts:
        figures[row["listener_id"]].attempts = row["n"]
        figures[row["listener_id"]].failures = row["failed"]
    for listener_id, n in _dead_letters(figures):
        figures[listener_id].dead_letters = n
    return figures


def _dead_letters(listener_ids: Iterable[int]) -> list[tuple[int, int]]:
    return list(
        DeadLetter.objects.filter(listener_id__in=list(listener_ids), status=DeadLetter.Status.DEAD)
        .values_list("listener_id")
        .annotate(n=Count("id"))
        .order_by()
    )


def failing_most(since: datetime.datetime, limit: int = 10) -> list[ListenerFigures]:
    """The listeners with the most failed attempts since ``since``, most first. Three queries."""
    rows = list(
        Delivery.objects.filter(created_at__gte=since)
        .values("listener_id")
        .annotate(n=Count("id"), failed=Count("id", filter=Q(ok=False)))
        .filter(failed__gt=0)
        .order_by("-failed", "listener_id")[:limit]
    )
    listeners = Listener.objects.select_related("owner").in_bulk([r["listener_id"] for r in rows])
    dead = dict(_dead_letters(listeners))
    out = []
    for row in rows:
        listener = listeners.get(row["listener_id"])
        if listener is not None:
            out.append(ListenerFigures(listener, row["n"], row["failed"], dead.get(listener.pk, 0)))
    return out


@dataclass
class Backlog:
    """What waits now: stream entries not yet read, read but not acknowledged, outbox rows."""

    lag: int
    pending: int
    outbox: int
    dead_letters: int


def backlog(client: redis.Redis) -> Backlog:
    """The backlog now: Redis for the stream, two counts in the database."""
    groups = stream.groups(client)
    return Backlog(
        lag=sum(int(g.get("lag") or 0) for g in groups),
        pending=sum(int(g.get("pending") or 0) for g in groups),
        outbox=OutboxEvent.objects.count(),
        dead_letters=DeadLetter.objects.filter(status=DeadLetter.Status.DEAD).count(),
    )


def listeners_by_state() -> dict[str, int]:
    """How many listeners are in each state (every state named, zero included)."""
    counts = dict(Listener.objects.order_by().values_list("state").annotate(n=Count("id")))
    return {state: counts.get(state, 0) for state in Listener.State.values}
