"""What a listener's backfill needs in Redis: the rows its live events were about meanwhile.

While a listener waits for its backfill (``Listener.waits_for``), the fan-out adds the row of each
live event it hands to that listener (``Event.row``) to the set ``<prefix>:backfill:<id>:rows``.
The backfill (``durian.pipeline.backfill``) skips those rows: their live events, kept until the
backfill is done, carry them. The set is dropped when a run starts and when it ends.
Every call raises ``redis.RedisError`` when Redis cannot be reached.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import redis

from ..conf import settings
from .lease import Lease

#: How long the live rows of a backfill are kept at most (a run that stopped and never resumed).
ROWS_TTL = 7 * 24 * 3600


def rows_key(listener_id: int) -> str:
    return f"{settings.KEY_PREFIX}:backfill:{listener_id}:rows"


def note_live(client: redis.Redis, rows: Mapping[int, Iterable[str]]) -> None:
    """Remember, per listener, the rows its live events were about while its backfill runs."""
    rows = {listener_id: list(found) for listener_id, found in rows.items()}
    rows = {listener_id: found for listener_id, found in rows.items() if found}
    if not rows:
        return
    pipe = client.pipeline(transaction=False)
    for listener_id, found in rows.items():
        pipe.sadd(rows_key(listener_id), *found)
        pipe.expire(rows_key(listener_id), ROWS_TTL)
    pipe.execute()


def live_among(client: redis.Redis, listener_id: int, rows: Iterable[str]) -> set[str]:
    """Those of ``rows`` that a live event for ``listener_id`` was about since its backfill began."""
    rows = list(rows)
    if not rows:
        return set()
    found = client.smismember(rows_key(listener_id), rows)
    return {row for row, present in zip(rows, found, strict=True) if present}


def forget(client: redis.Redis, listener_id: int) -> None:
    """Drop the live rows of a listener's backfill (a run begins, or is done)."""
    client.delete(rows_key(listener_id))


def run_lease(client: redis.Redis, listener_id: int, lease_ms: int = 60_000) -> Lease:
    """The lease one process holds while it runs a listener's backfill (renewed as it goes)."""
    return Lease(client, f"backfill:{listener_id}", lease_ms)
