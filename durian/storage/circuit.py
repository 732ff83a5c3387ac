"""A circuit breaker per listener, shared by every worker process and host through Redis.

One hash per listener (``<prefix>:circuit:<id>``) holds its state:

- **closed** (no hash, or ``open_until`` 0): deliveries go; ``fails`` counts connection failures
  and timeouts in a row (an HTTP answer, even a 500, proves the endpoint is up and resets it);
- **open** (``now < open_until``): after ``DURIAN_CIRCUIT_FAILURES`` failures in a row nothing is
  attempted; deliveries are held (queued again for ``open_until``), not burned as attempts. Each
  time the circuit opens again in a row, the cooling period doubles, from
  ``DURIAN_CIRCUIT_COOLING`` up to ``DURIAN_CIRCUIT_COOLING_MAX`` seconds;
- **half-open** (``now >= open_until``): one worker wins the probe (``probe_until``, a lease of
  one attempt's length); its outcome closes the circuit or opens it for longer. The others hold.

``waiting`` counts deliveries held now (what ``durian_status`` and the listener pages show).
``opened_at`` is when the circuit first opened in this run of openings (kept while it reopens,
cleared when it closes), and a sorted set (``<prefix>:circuits:open``, scored by ``opened_at``)
lists the circuits that are not closed, so that ``durian.storage.alerts`` finds the ones open for
long without scanning the keyspace.

Redis calls here and their outcome when Redis is down: ``check`` raises (the caller waits for
Redis before posting, see ``durian.storage.connection.patiently``); ``record`` and ``released``
log and drop the bookkeeping (the worst case is one more probe, or a stale ``waiting`` figure).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import redis

from ..conf import settings
from ..core.outcome import Outcome
from .connection import get_redis

logger = logging.getLogger("durian.circuit")

# KEYS[1] circuit hash; ARGV: now (s), probe lease (s), hold (1: count the deliveries held)
_CHECK = """
local s = redis.call('hmget', KEYS[1], 'open_until', 'probe_until', 'fails')
local open_until = tonumber(s[1] or '0')
local fails = tonumber(s[3] or '0')
local now = tonumber(ARGV[1])
if open_until == 0 then return {'closed', '0', fails} end
if now < open_until then return {'open', tostring(open_until), fails} end
local probe_until = tonumber(s[2] or '0')
if now < probe_until then return {'probing', tostring(probe_until), fails} end
redis.call('hset', KEYS[1], 'probe_until', tostring(now + tonumber(ARGV[2])))
return {'probe', '0', fails}
"""

# KEYS[1] circuit hash, KEYS[2] the set of open circuits; ARGV: now, failures to open, base
# cooling, max cooling, ttl (s), listener id
_DOWN = """
local s = redis.call('hmget', KEYS[1], 'open_until', 'fails', 'opens')
local open_until = tonumber(s[1] or '0')
local fails = tonumber(s[2] or '0') + 1
local opens = tonumber(s[3] or '0')
local now = tonumber(ARGV[1])
if open_until > 0 or fails >= tonumber(ARGV[2]) then
  if open_until > now then
    redis.call('hset', KEYS[1], 'fails', fails)
    return tostring(open_until)
  end
  opens = opens + 1
  local cooling = math.min(tonumber(ARGV[3]) * 2 ^ (opens - 1), tonumber(ARGV[4]))
  open_until = now + cooling
  redis.call('hset', KEYS[1], 'fails', fails, 'opens', opens, 'open_until', tostring(open_until), 'probe_until', '0')
  if opens == 1 or redis.call('hexists', KEYS[1], 'opened_at') == 0 then
    redis.call('hset', KEYS[1], 'opened_at', ARGV[1])
    redis.call('zadd', KEYS[2], ARGV[1], ARGV[6])
  end
else
  redis.call('hset', KEYS[1], 'fails', fails)
end
redis.call('expire', KEYS[1], ARGV[5])
return tostring(open_until)
"""


@dataclass(frozen=True)
class Gate:
    """What ``check`` found for one listener: may this worker post now, and if not, until when."""

    state: str  # closed, open, probing (another worker probes), probe (this worker probes)
    until: float = 0.0
    fails: int = 0
    #: When it was read (epoch seconds, taken before the round trip): what happened after may differ.
    read_at: float = 0.0

    @property
    def closed(self) -> bool:
        return self.state == "closed"

    @property
    def held(self) -> bool:
        """Deliveries wait: the circuit is open, or another worker's probe is on the wire."""
        return self.state in ("open", "probing")


@dataclass(frozen=True)
class Circuit:
    """A listener's circuit as the status pages show it."""

    listener_id: int
    state: str  # closed, open, half-open
    open_until: float
    fails: int
    waiting: int

    def describe(self) -> str:
        """``"circuit open until 12:05, 14 waiting"``, or ``"circuit closed"``."""
        if self.state == "closed":
            return "circuit closed" + (f" ({self.fails} failure(s) in a row)" if self.fails else "")
        until = time.strftime("%H:%M:%S", time.localtime(self.open_until))
        head = f"circuit open until {until}" if self.state == "open" else "circuit half-open (probing)"
        return f"{head}, {self.waiting} waiting"


def key(listener_id: int) -> str:
    return f"{settings.KEY_PREFIX}:circuit:{listener_id}"


def open_key() -> str:
    """The sorted set of circuits not closed: member the listener id, score ``opened_at``."""
    return f"{settings.KEY_PREFIX}:circuits:open"


def _probe_lease() -> float:
    return float(settings.TOTAL_TIMEOUT) + 5.0


def check(client: redis.Redis, listener_ids: Iterable[int]) -> dict[int, Gate]:
    """The gate of each listener, in one pipelined round trip. Raises ``redis.RedisError``."""
    ids = list(dict.fromkeys(listener_ids))
    pipe = client.pipeline(transaction=False)
    now = time.time()
    for listener_id in ids:
        pipe.eval(_CHECK, 1, key(listener_id), now, _probe_lease())
    gates = {}
    for listener_id, (state, until, fails) in zip(ids, pipe.execute(), strict=True):
        gates[listener_id] = Gate(_text(state), float(until), int(fails), now)
    return gates


def down(client: redis.Redis, listener_id: int) -> float:
    """Count a connection failure or timeout; returns ``open_until`` (0: still closed)."""
    try:
        ttl = int(float(settings.CIRCUIT_COOLING_MAX) * 4 + 3600)
        until = client.eval(
            _DOWN,
            2,
            key(listener_id),
            open_key(),
            time.time(),
            int(settings.CIRCUIT_FAILURES),
            float(settings.CIRCUIT_COOLING),
            float(settings.CIRCUIT_COOLING_MAX),
            ttl,
            listener_id,
        )
        return float(until)
    except redis.RedisError as exc:
        logger.warning("durian: could not count a failure of listener %s: %s", listener_id, exc)
        return 0.0


def feed(client: redis.Redis, listener_id: int, outcome: Outcome, failing: bool) -> float:
    """Feed the circuit with an attempt's outcome: a connection failure or timeout counts (returns
    ``open_until`` once it is open); any answer closes a circuit that had ``failing`` seen."""
    if outcome.down:
        return down(client, listener_id)
    if failing:
        up(client, listener_id)
    return 0.0


def up(client: redis.Redis, listener_id: int) -> None:
    """The endpoint answered: close the circuit and reset its count (keeps ``waiting``)."""
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hdel(key(listener_id), "fails", "opens", "open_until", "probe_until", "opened_at", "alerted")
        pipe.zrem(open_key(), listener_id)
        pipe.execute()
    except redis.RedisError as exc:
        logger.warning("durian: could not close the circuit of listener %s: %s", listener_id, exc)


def held(client: redis.Redis, counts: Mapping[int, int]) -> None:
    """Add (or, negative, remove) deliveries to the ``waiting`` count of each listener."""
    if not counts:
        return
    try:
        pipe = client.pipeline(transaction=False)
        for listener_id, n in counts.items():
            pipe.hincrby(key(listener_id), "waiting", n)
        for listener_id, total in zip(counts, pipe.execute(), strict=True):
            if int(total) < 0:
                client.hset(key(listener_id), "waiting", 0)
    except redis.RedisError as exc:
        logger.warning("durian: could not count held deliveries: %s", exc)


def state(client: redis.Redis, listener_ids: Iterable[int]) -> dict[int, Circuit]:
    """The circuit of each listener, for status pages (no probe is taken)."""
    ids = list(listener_ids)
    pipe = client.pipeline(transaction=False)
    for listener_id in ids:
        pipe.hmget(key(listener_id), "open_until", "fails", "waiting", "probe_until")
    now = time.time()
    out = {}
    for listener_id, (open_until, fails, waiting, _probe) in zip(ids, pipe.execute(), strict=True):
        until = float(open_until or 0)
        name = "closed" if until == 0 else ("open" if now < until else "half-open")
        out[listener_id] = Circuit(listener_id, name, until, int(fails or 0), max(0, int(waiting or 0)))
    return out


def describe(listener_ids: Iterable[int], client: redis.Redis | None = None) -> dict[int, str]:
    """Each listener's circuit in words, for pages; never raises (Redis down: says so)."""
    ids = list(listener_ids)
    try:
        found = state(client or get_redis("request"), ids)
    except redis.RedisError:
        return dict.fromkeys(ids, "circuit unknown (Redis unreachable)")
    return {i: c.describe() for i, c in found.items()}


def troubled(client: redis.Redis) -> list[Circuit]:
    """Every circuit not closed, or with deliveries waiting (``durian_status``)."""
    ids = []
    for name in client.scan_iter(match=f"{settings.KEY_PREFIX}:circuit:*", count=500):
        tail = (name.decode() if isinstance(name, bytes) else name).rsplit(":", 1)[1]
        if tail.isdigit():
            ids.append(int(tail))
    found = state(client, sorted(ids))
    return [c for c in found.values() if c.state != "closed" or c.waiting]


def reset(client: redis.Redis, listener_id: int) -> None:
    """Forget a listener's circuit (it was deleted, or staff closed it)."""
    client.delete(key(listener_id))
    client.zrem(open_key(), listener_id)


def open_since(client: redis.Redis, before: float) -> dict[int, float]:
    """Listener id -> ``opened_at`` of each circuit open since before ``before`` (epoch seconds) and
    not yet alerted about in this run of openings. Entries of circuits closed meanwhile (or whose
    hash expired) are dropped from the set."""
    found = {int(m): float(score) for m, score in client.zrangebyscore(open_key(), "-inf", before, withscores=True)}
    if not found:
        return {}
    pipe = client.pipeline(transaction=False)
    for listener_id in found:
        pipe.hmget(key(listener_id), "open_until", "alerted")
    out = {}
    for (listener_id, opened_at), (open_until, alerted) in zip(found.items(), pipe.execute(), strict=True):
        if float(open_until or 0) == 0:
            client.zrem(open_key(), listener_id)
        elif not alerted:
            out[listener_id] = opened_at
    return out


def mark_alerted(client: redis.Redis, listener_id: int) -> None:
    """Its owner was told of this run of openings: ``open_since`` leaves it out until it closes."""
    client.hset(key(listener_id), "alerted", 1)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
