"""The Redis Stream that carries events from the site to the workers."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import redis

from .conf import settings
from .event import Event

logger = logging.getLogger("durian.stream")

#: A stream entry: its id, and its event (``None`` for a malformed entry, to acknowledge and skip).
Entry = tuple[str, Event | None]


def append(events: Sequence[Event], client: redis.Redis) -> list[str]:
    """Append events in one pipelined round trip; returns their stream ids."""
    if not events:
        return []
    key, maxlen = settings.STREAM_KEY, int(settings.STREAM_MAXLEN)
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


def read(client: redis.Redis, consumer: str, count: int, block_ms: int | None) -> list[Entry]:
    """New entries for ``consumer`` through the group, waiting up to ``block_ms``."""
    try:
        reply = client.xreadgroup(
            settings.CONSUMER_GROUP, consumer, {settings.STREAM_KEY: ">"}, count=count, block=block_ms
        )
    except redis.ResponseError as exc:
        if "NOGROUP" not in str(exc):
            raise
        ensure_group(client)
        return []
    return _entries(reply[0][1]) if reply else []


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
    return _entries(reply[1])


def ack(client: redis.Redis, ids: Iterable[str]) -> int:
    """Acknowledge handled entries."""
    ids = list(ids)
    return client.xack(settings.STREAM_KEY, settings.CONSUMER_GROUP, *ids) if ids else 0


def _entries(raw: Iterable[tuple[bytes, dict]]) -> list[Entry]:
    out: list[Entry] = []
    for entry_id, fields in raw:
        if not fields:  # deleted by trimming while pending
            continue
        try:
            out.append((_s(entry_id), Event.from_fields(fields)))
        except (KeyError, ValueError) as exc:
            logger.error("durian: skipping malformed stream entry %s: %s", _s(entry_id), exc)
            out.append((_s(entry_id), None))
    return out


def _s(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
