"""Many deliveries in flight per worker process, in one lane per listener (``send``).

A worker process keeps a pool of delivery threads, each with its own ``requests`` session
(``durian.transport.bounded``): ``DURIAN_DELIVERY_CONCURRENCY`` threads for first attempts and
``DURIAN_RETRY_CONCURRENCY`` more for retries, so retries never take the first attempts' capacity.
A Dramatiq thread hands its message's attempts to the pool, grouped by listener, and waits until
every one is settled (posted, or held and queued again), so a message is acknowledged only
after its deliveries are settled.

Each listener's group is a lane. A lane runs at most ``concurrency`` requests at once: the
listener's own cap, else ``DURIAN_LISTENER_CONCURRENCY``, held both in the process and across
every process and host (``durian.storage.slots``: a killed worker's slots run out on their own);
with a ``rate_limit`` it also waits for a slot of Dramatiq's ``BucketRateLimiter``. A lane that gets no slot within
``DURIAN_LANE_WAIT_MS`` (the listener is slow or silent) holds its items instead of waiting, so
a slow listener never keeps a Dramatiq thread, or the pool, from the others.

Before posting, the lane looks at the listener's circuit (``durian.storage.circuit``): while it is
open the items are held until it half-opens; a half-open circuit lets one probe through first.
A connection failure or timeout counts towards opening it; once open, the lane stops and holds
what it had not posted. Held items keep their attempt number: holding is not an attempt.

Redis on this path: the circuit check waits for Redis (``patiently``); the concurrency and rate
limiters, when Redis fails, fall back to the in-process cap (logged), since posting needs no Redis.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import redis
from dramatiq.rate_limits import BucketRateLimiter
from dramatiq.rate_limits.backends import RedisBackend

from ..conf import settings
from ..core.outcome import Outcome
from ..core.recipients import ListenerView
from ..storage import circuit, inflight
from ..storage.connection import patiently
from ..storage.marks import marks
from ..storage.slots import Slots
from .attempts import Attempt

logger = logging.getLogger("durian.workers")

Post = Callable[[Attempt], Outcome]
#: How long items held for a busy listener (at its cap, or slow) wait before they come back.
HOLD_SECONDS = 1.0
#: How often a lane renews the concurrency slot it posts under.
SLOT_RENEW_SECONDS = 1.0
Settle = Callable[[list[tuple[Attempt, Outcome]]], None]
Hold = Callable[[list[tuple[Attempt, float]]], None]


@dataclass
class Sent:
    """What ``send`` did: the attempts made (in completion order) and those held, with their time."""

    made: list[tuple[Attempt, Outcome]] = field(default_factory=list)
    held: list[tuple[Attempt, float]] = field(default_factory=list)


def is_down(outcome: Outcome) -> bool:
    """A connection failure or timeout: no HTTP answer, and not a refused URL."""
    return not outcome.ok and outcome.status_code is None and not outcome.final


def concurrency(listener: ListenerView) -> int:
    """How many requests may be in flight to ``listener`` at once."""
    return max(1, int(listener.concurrency or settings.LISTENER_CONCURRENCY))


# -- per process: the pools and the in-process share of each lane -----------------------------------

_lock = threading.Lock()
_pools: dict[tuple[int, str], ThreadPoolExecutor] = {}
_local: dict[int, int] = defaultdict(int)  # listener id -> requests in flight in this process
_answered: dict[int, float] = {}  # listener id -> when a request to it last ended (monotonic)
# listener id -> (until when, seen when): a lane of this process saw the listener's circuit open
_opened: dict[int, tuple[float, float]] = {}


def pool(kind: str) -> ThreadPoolExecutor:
    """This process's pool of delivery threads for ``kind`` (``first`` or ``retry``)."""
    key = (os.getpid(), kind)
    with _lock:
        if key not in _pools:
            size = settings.DELIVERY_CONCURRENCY if kind == "first" else settings.RETRY_CONCURRENCY
            _pools[key] = ThreadPoolExecutor(max(1, int(size)), thread_name_prefix=f"durian-{kind}")
        return _pools[key]


def drain(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for this process's requests in flight to settle (shutdown)."""
    deadline = time.monotonic() + timeout
    while in_flight() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not in_flight()


def _take_local(listener_id: int, cap: int, want: int) -> int:
    with _lock:
        n = max(0, min(want, cap - _local[listener_id]))
        _local[listener_id] += n
        return n


def _give_local(listener_id: int, n: int = 1) -> None:
    with _lock:
        _local[listener_id] -= n


def _forget_opened(listener_id: int, read_at: float | None = None) -> None:
    """Forget that a lane saw the circuit open: it answered, or a gate read since says closed.

    A gate read before the lane saw it open (a message checked its circuits, then waited for a
    thread) is older news, and changes nothing.
    """
    with _lock:
        seen = _opened.get(listener_id)
        if seen is not None and (read_at is None or seen[1] < read_at):
            del _opened[listener_id]


def in_flight() -> int:
    """Requests in flight in this process now (all listeners)."""
    with _lock:
        return sum(_local.values())


def _backend(client: redis.Redis) -> RedisBackend:
    return RedisBackend(client=client)


# -- a lane: one listener's items of one message --------------------------------------------------


class Lane:
    """One listener's items, posted by up to ``concurrency`` pool threads."""

    def __init__(self, listener: ListenerView, items: Sequence[Attempt], gate: circuit.Gate, client: redis.Redis):
        self.listener = listener
        self.todo: deque[Attempt] = deque(items)
        self.client = client
        self.lock = threading.Lock()
        self.made: list[tuple[Attempt, Outcome]] = []
        self.active: dict[str, Attempt] = {}  # posting now, by webhook-id
        self.late: Callable[[Attempt, Outcome], None] | None = None  # set once handed on
        self.leftover: Callable[[list[tuple[Attempt, float]]], None] | None = None  # set once handed on
        self.workers = 0  # pool threads working on this lane now
        self.stop_until = 0.0  # the circuit opened: hold the rest until then
        self.fails_seen = gate.fails > 0
        self.probing = gate.state == "probe"
        if gate.state == "closed":  # Redis is the truth (staff may have closed it), once read after what lanes saw
            _forget_opened(listener.id, gate.read_at)
        key = f"{settings.KEY_PREFIX}:lane:{listener.id}"
        self.slots = Slots(client, key, limit=concurrency(listener), ttl_ms=_slot_ttl())
        self.rate = rate_limiter(client, listener)

    def next(self) -> Attempt | None:
        with self.lock:
            until, _ = _opened.get(self.listener.id, (0.0, 0.0))
            if not self.stop_until and until > time.time():
                self.stop_until = until  # another lane saw the circuit open: stop too
            if self.stop_until or not self.todo:
                return None
            attempt = self.todo.popleft()
            self.active[attempt.webhook_id] = attempt
            return attempt

    def settle(self, attempt: Attempt, outcome: Outcome) -> None:
        """Keep the outcome (or settle it here, once handed on), and feed the listener's circuit."""
        _answered[self.listener.id] = time.monotonic()
        with self.lock:
            self.active.pop(attempt.webhook_id, None)
            late = self.late
            if late is None:
                self.made.append((attempt, outcome))
        if is_down(outcome):
            self.fails_seen = True
            until = circuit.down(self.client, self.listener.id)
            if until:
                _opened[self.listener.id] = (until, time.time())
                with self.lock:
                    self.stop_until = until
        elif self.fails_seen or self.probing:
            self.fails_seen = False
            _forget_opened(self.listener.id)
            circuit.up(self.client, self.listener.id)
        if outcome.gone:
            with self.lock:
                self.stop_until = time.time()  # the listener is being disabled: the rest go to dead letters
        self.probing = False
        if late is not None:
            late(attempt, outcome)

    def hand_on(
        self, late: Callable[[Attempt, Outcome], None], leftover: Callable[[list[tuple[Attempt, float]]], None]
    ) -> dict[str, Attempt]:
        """Let the lane's threads go on alone: each attempt settles through ``late`` and items the
        lane does not post (its circuit opened) go to ``leftover``. Returns the attempts handed on
        (in flight, and not started yet); none when no thread works on the lane any more."""
        with self.lock:
            if not self.workers:
                return {}
            self.late, self.leftover = late, leftover
            handed = dict(self.active)
            handed.update((a.webhook_id, a) for a in self.todo)
            return handed

    def started(self, n: int) -> None:
        with self.lock:
            self.workers += n

    def run(self, post: Post) -> None:
        """A pool thread's work: take a slot, then post items until none are left (or the circuit opens)."""
        try:
            if not self._with_slot(post):
                logger.info("durian: listener %s is at its concurrency cap; holding", self.listener.id)
        finally:
            _give_local(self.listener.id)
            with self.lock:
                self.workers -= 1
                last = not self.workers
                leftover, rest = self.leftover, list(self.todo)
                if last and leftover is not None:
                    self.todo.clear()
            if last and leftover is not None and rest:
                until = self.held_until()
                try:
                    leftover([(a, until) for a in rest])
                except Exception:  # their in-flight records stay: they come back through them
                    logger.exception("durian: could not hold %d delivery(ies)", len(rest))

    def _with_slot(self, post: Post) -> bool:
        deadline = time.monotonic() + int(settings.LANE_WAIT_MS) / 1000
        while True:
            try:
                token = self.slots.acquire()
            except redis.RedisError as exc:  # the in-process cap still holds
                logger.warning("durian: lane slots unavailable (%s); posting under the process cap", exc)
                self._post_all(post, None)
                return True
            if token is not None:
                try:
                    return self._post_all(post, token)
                finally:
                    self._release(token)
            if not self.todo or time.monotonic() >= deadline:
                return False
            time.sleep(0.02)

    def _post_all(self, post: Post, token: str | None) -> bool:
        """Post items while the slot ``token`` lasts (renewed once a second); False if it was lost."""
        renewed = time.monotonic()
        while True:
            if token is not None and time.monotonic() - renewed >= SLOT_RENEW_SECONDS:
                if not self._renew(token):
                    return False
                renewed = time.monotonic()
            attempt = self.next()
            if attempt is None:
                return True
            self._wait_for_rate()
            if not self.post_one(attempt, post):
                return True

    def _renew(self, token: str) -> bool:
        try:
            return self.slots.renew(token)
        except redis.RedisError as exc:  # keep it: the in-process cap still holds
            logger.warning("durian: could not renew a lane slot (%s); going on", exc)
            return True

    def _release(self, token: str) -> None:
        try:
            self.slots.release(token)
        except redis.RedisError as exc:  # it runs out by itself
            logger.warning("durian: could not give back a lane slot (%s)", exc)

    def post_one(self, attempt: Attempt, post: Post) -> bool:
        """Post one attempt and settle it; if that fails unexpectedly, hold it (and the rest)."""
        try:
            outcome = post(attempt)
        except Exception:
            logger.exception("durian: delivering %s failed; holding it", attempt.webhook_id)
            with self.lock:
                self.active.pop(attempt.webhook_id, None)
                self.todo.appendleft(attempt)
                self.stop_until = self.stop_until or time.time() + 1.0
            return False
        self.settle(attempt, outcome)
        return True

    def _wait_for_rate(self) -> None:
        if self.rate is None:
            return
        while True:
            try:
                with self.rate.acquire(raise_on_failure=False) as got:
                    if got:
                        return
            except redis.RedisError as exc:
                logger.warning("durian: rate limiter unavailable (%s); posting", exc)
                return
            time.sleep(0.02)

    def held_until(self) -> float:
        """When the items left should come back: when the circuit half-opens, else in a second."""
        return self.stop_until or time.time() + HOLD_SECONDS


def _slot_ttl() -> int:
    """How long a lane's slot lasts after it was taken or renewed (ms): one attempt's longest time,
    plus a margin; a killed worker's slots come back that long after their last renewal."""
    return int((float(settings.TOTAL_TIMEOUT) + 5.0) * 1000)


def rate_limiter(client: redis.Redis, listener: ListenerView) -> BucketRateLimiter | None:
    rate = listener.rate_limit
    if not rate:
        return None
    key = f"{settings.KEY_PREFIX}:rate:{listener.id}"
    if rate >= 1:
        return BucketRateLimiter(_backend(client), key, limit=int(rate), bucket=1000)
    return BucketRateLimiter(_backend(client), key, limit=1, bucket=int(1000 / rate))


# -- a message: its lanes, posted in the pool --------------------------------------------------------


def send(attempts: Sequence[Attempt], post: Post, settle: Settle, hold: Hold, client: redis.Redis) -> Sent:
    """Post ``attempts`` in per-listener lanes on this process's pool.

    Waits until each attempt is settled, or up to ``DURIAN_HANDOFF_MS``: then the lanes still
    working are handed on (``durian.storage.inflight``): their threads go on alone, settling each
    attempt through ``settle`` and holding what they do not post through ``hold``.
    """
    sent = Sent()
    groups: dict[tuple[int, bool], list[Attempt]] = defaultdict(list)
    for a in attempts:
        groups[(a.listener.id, a.number > 1)].append(a)
    if not groups:
        return sent
    gates = patiently(lambda: circuit.check(client, {lid for lid, _ in groups}), "check circuits")
    lanes: list[tuple[Lane, ThreadPoolExecutor]] = []
    for (listener_id, retry), items in groups.items():
        gate = gates[listener_id]
        if gate.held:
            sent.held.extend((a, gate.until) for a in items)
            continue
        lane = Lane(items[0].listener, items, gate, client)
        if lane.probing:  # a half-open circuit: one probe, here; the rest only if it went through
            first = lane.next()
            if first is not None:
                lane.post_one(first, post)
        lanes.append((lane, pool("retry" if retry else "first")))
    futures: list[Future[None]] = []
    waiting = [(lane, executor) for lane, executor in lanes if not _start(lane, executor, post, futures)]
    started = time.monotonic()
    while waiting:  # at this process's cap: wait for a slot while the listener answers, else hold
        now = time.monotonic()
        waiting = [(lane, ex) for lane, ex in waiting if _worth_waiting(lane.listener.id, now - started)]
        time.sleep(0.02)
        waiting = [(lane, executor) for lane, executor in waiting if not _start(lane, executor, post, futures)]
    _wait(futures, [lane for lane, _ in lanes], settle, hold, client)
    for lane, _ in lanes:
        with lane.lock:
            sent.made.extend(lane.made)
            if lane.late is None:  # not handed on: what it did not post is held
                until = lane.held_until()
                sent.held.extend((a, until) for a in lane.todo)
    return sent


def _worth_waiting(listener_id: int, waited: float) -> bool:
    """Wait ``DURIAN_LANE_WAIT_MS`` for a slot; up to 10 s while the listener answers (a slot frees soon)."""
    if waited < int(settings.LANE_WAIT_MS) / 1000:
        return True
    return waited < 10.0 and time.monotonic() - _answered.get(listener_id, 0.0) < 1.0


def _start(lane: Lane, executor: ThreadPoolExecutor, post: Post, futures: list[Future[None]]) -> bool:
    """Start the lane's pool threads, as many as its free slots in this process allow. False if none."""
    if lane.stop_until or not lane.todo:
        return True
    cap = concurrency(lane.listener)
    n = _take_local(lane.listener.id, cap, min(cap, len(lane.todo)))
    lane.started(n)
    futures.extend(executor.submit(lane.run, post) for _ in range(n))
    return n > 0


def _wait(futures: list[Future[None]], lanes: list[Lane], settle: Settle, hold: Hold, client: redis.Redis) -> None:
    """Wait for the lanes' threads, up to ``DURIAN_HANDOFF_MS``; then hand on the lanes still working."""
    done, pending = wait(futures, timeout=int(settings.HANDOFF_MS) / 1000)
    if pending:

        def late(attempt: Attempt, outcome: Outcome) -> None:
            try:
                settle([(attempt, outcome)])
            except Exception:  # its in-flight record stays: the delivery comes back through it
                logger.exception("durian: could not settle %s", attempt.webhook_id)
                return
            marks.settled(attempt.webhook_id)

        def leftover(held: list[tuple[Attempt, float]]) -> None:
            hold(held)
            for a, _ in held:
                marks.settled(a.webhook_id)

        handed: dict[str, Attempt] = {}
        for lane in lanes:
            handed.update(lane.hand_on(late, leftover))
        try:
            inflight.hand_on(client, {k: a.context for k, a in handed.items()})
        except redis.RedisError as exc:  # cannot hand them on: wait for them here instead
            logger.warning("durian: could not hand on %d request(s) in flight (%s); waiting", len(handed), exc)
            done, pending = wait(futures)
    for f in done:
        exc = f.exception()
        if exc is not None:
            logger.error("durian: a delivery lane failed", exc_info=exc)
