"""The Redis Stream that carries events from the site to the workers."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import redis

from ..conf import settings
from ..core.event import Event

logger = logging.getLogger("durian.stream")

#: A stream entry: its id, and its event (``None`` for a malformed entry, to acknowledge and skip).
Entry = tuple[str, Event | None]


def append(events: Sequence[Event], client: redis.Redis) -> list[str]:
    """Append events in one pipelined round trip; returns their stream ids."""
    if not events:
        return []
    key, cap = settings.STREAM_KEY, settings.STREAM_MAXLEN
    maxlen = int(cap) if cap else None
    pipe = client.pipeline(transaction=False)
    for event in events:
        pipe.xadd(key, event.to_fields(), maxlen=maxlen, approximate=True)
    return [_s(i) for i in pipe.execute()]


def history(client: redis.Redis, start: str = "-", end: str = "+", count: int | None = None) -> list[Entry]:
    """Entries still in the stream between two ids, oldest first, whether consumed or not."""
    return _entries(client.xrange(settings.STREAM_KEY, start, end, count=count))


def ensure_group(client: redis.Redis) -> None:
    """Create the consumer group (and the stream) when missing."""
    try:
        client.xgroup_create(settings.STREAM_KEY, settings.CONSUMER_GROUP, id="0", mkstream=True)
    except redis.ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def read(
    client: redis.Redis, consumer: str, count: int, block_ms: int | None, own_pending: bool = False
) -> list[Entry]:
    """New entries for ``consumer`` through the group, waiting up to ``block_ms``.

    ``own_pending=True`` reads instead the entries this consumer read earlier and has not
    acknowledged (after an error interrupted their hand-off).
    """
    try:
        reply = client.xreadgroup(
            settings.CONSUMER_GROUP,
            consumer,
            {settings.STREAM_KEY: "0" if own_pending else ">"},
            count=count,
            block=None if own_pending else block_ms,
        )
    except redis.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        ensure_group(client)
        return []
    return _entries(reply[0][1], pending=True) if reply else []


def claim_stale(client: redis.Redis, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
    """Take over entries left pending by consumers that stopped (XAUTOCLAIM)."""
    try:
        reply = client.xautoclaim(
            settings.STREAM_KEY, settings.CONSUMER_GROUP, consumer, min_idle_ms, "0-0", count=count
        )
    except redis.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        ensure_group(client)
        return []
    return _entries(reply[1], pending=True)


def ack(client: redis.Redis, ids: Iterable[str]) -> int:
    """Acknowledge handled entries."""
    ids = list(ids)
    return client.xack(settings.STREAM_KEY, settings.CONSUMER_GROUP, *ids) if ids else 0


def settled_below(client: redis.Redis) -> tuple[int, int] | None:
    """The lowest entry id the consumer group may still hand off: its oldest pending entry, capped at
    the one after its last-delivered id. Every entry below it has been handed off and acknowledged.

    One transaction (XINFO GROUPS and XPENDING), so no entry read in between can slip under it.
    ``None`` when the group does not exist yet. Raises ``redis.RedisError``.
    """
    pipe = client.pipeline(transaction=True)
    pipe.xinfo_groups(settings.STREAM_KEY)
    pipe.xpending(settings.STREAM_KEY, settings.CONSUMER_GROUP)
    try:
        found, pending = pipe.execute()
    except redis.ResponseError:  # no stream or no group yet
        return None
    group = next((g for g in found if _s(g["name"]) == settings.CONSUMER_GROUP), None)
    if group is None:
        return None
    ms, seq = _id(_s(group["last-delivered-id"]))
    floor = (ms, seq + 1)
    if pending["pending"]:
        floor = min(floor, _id(_s(pending["min"])))
    return floor


def last_id(client: redis.Redis) -> tuple[int, int] | None:
    """The id of the stream's newest entry, or ``None`` when it holds none. Raises ``redis.RedisError``."""
    newest = client.xrevrange(settings.STREAM_KEY, count=1)
    return _id(_s(newest[0][0])) if newest else None


def _entries(raw: Iterable[tuple[bytes, dict]], pending: bool = False) -> list[Entry]:
    """Entries of a reply; with ``pending``, one deleted by trimming while pending comes as ``(id, None)``,
    so that it is acknowledged (else it would stay pending for ever, and hold up ordered listeners)."""
    out: list[Entry] = []
    for entry_id, fields in raw:
        if not fields:  # deleted by trimming while pending
            if pending:
                out.append((_s(entry_id), None))
            continue
        try:
            out.append((_s(entry_id), Event.from_fields(fields)))
        except (KeyError, ValueError) as exc:
            logger.error("durian: skipping malformed stream entry %s: %s", _s(entry_id), exc)
            out.append((_s(entry_id), None))
    return out


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# -- inspection and maintenance (operator commands) ------------------------------------------------


def length(client: redis.Redis) -> int:
    """How many entries the stream holds now."""
    return int(client.xlen(settings.STREAM_KEY))


def groups(client: redis.Redis) -> list[dict]:
    """Every consumer group of the stream, with ``lag`` (entries not yet read) filled in."""
    key = settings.STREAM_KEY
    try:
        found = client.xinfo_groups(key)
    except redis.ResponseError:  # no stream yet
        return []
    out = []
    for g in found:
        info = {_s(k): (_s(v) if isinstance(v, bytes) else v) for k, v in g.items()}
        if info.get("lag") is None:  # Redis < 7 does not report it: count the unread entries
            info["lag"] = len(client.xrange(key, min="(" + info["last-delivered-id"], max="+", count=100_000))
        out.append(info)
    return out


def consumers(client: redis.Redis, group: str) -> list[dict]:
    """Consumers of ``group``: ``name``, ``pending``, ``idle`` (ms)."""
    return [
        {_s(k): (_s(v) if isinstance(v, bytes) else v) for k, v in c.items()}
        for c in client.xinfo_consumers(settings.STREAM_KEY, group)
    ]


def drop_consumer(client: redis.Redis, group: str, name: str) -> None:
    """Forget a consumer of ``group`` (it has nothing pending)."""
    client.xgroup_delconsumer(settings.STREAM_KEY, group, name)


def _beat_key(name: str) -> str:
    return f"{settings.KEY_PREFIX}:consumer-alive:{name}"


def beat_ttl() -> int:
    """Seconds a consumer's heartbeat lasts: three sweeps, at least 30 s."""
    return max(30, int(3 * float(settings.SWEEP_INTERVAL)))


def beat(client: redis.Redis, name: str) -> None:
    """Say that consumer ``name`` is running (it blocks waiting for entries, so Redis's idle time cannot)."""
    client.set(_beat_key(name), "1", ex=beat_ttl())


def alive(client: redis.Redis, names: Sequence[str]) -> set[str]:
    """The consumers among ``names`` whose heartbeat has not run out."""
    if not names:
        return set()
    found = client.mget([_beat_key(n) for n in names])
    return {n for n, v in zip(names, found, strict=True) if v is not None}


def trim_floor(client: redis.Redis) -> str | None:
    """The lowest entry id some group still needs: its oldest pending entry, else the first unread one.

    ``None`` when no group exists (nothing was consumed yet: nothing may be trimmed).
    """
    floors = []
    for g in groups(client):
        pending = client.xpending(settings.STREAM_KEY, g["name"])
        if pending["pending"]:
            floors.append(_id(_s(pending["min"])))
        else:
            ms, seq = _id(g["last-delivered-id"])
            floors.append((ms, seq + 1))
    if not floors:
        return None
    ms, seq = min(floors)
    return f"{ms}-{seq}"


def safe_min_id(client: redis.Redis, min_id: str) -> str | None:
    """``min_id``, lowered to ``trim_floor`` when a group still needs older entries (``None``: trim nothing)."""
    floor = trim_floor(client)
    if floor is None:
        return None
    ms, seq = min(_id(min_id), _id(floor))
    return f"{ms}-{seq}"


def trim_before(client: redis.Redis, min_id: str, dry_run: bool = False) -> int:
    """Remove entries older than ``min_id`` (never ones a group still needs); returns how many."""
    limit = safe_min_id(client, min_id)
    if limit is None:
        return 0
    if dry_run:
        return len(client.xrange(settings.STREAM_KEY, min="-", max="(" + limit, count=10_000_000))
    return int(client.xtrim(settings.STREAM_KEY, minid=limit, approximate=False))


def between(client: redis.Redis, start_ms: int, end_ms: int, page: int = 500) -> Iterable[Entry]:
    """Entries appended between two unix times (ms, both included), oldest first, page by page."""
    start, end = f"{start_ms}-0", f"{end_ms}-18446744073709551615"
    while entries := history(client, start, end, count=page):
        yield from entries
        if len(entries) < page:
            return
        start = "(" + entries[-1][0]


def id_time_ms(entry_id: str) -> int:
    """The unix time (ms) at which an entry was appended (the first part of its id)."""
    return _id(entry_id)[0]


def _id(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)
