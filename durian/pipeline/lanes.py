"""Many deliveries in flight per worker process, in one lane per listener (``send``).

A worker process keeps one lane per listener and a set of delivery threads, each with its own
``requests`` session (``durian.transport.bounded``): ``DURIAN_DELIVERY_CONCURRENCY`` threads for
first attempts and ``DURIAN_RETRY_CONCURRENCY`` more for retries, so retries never take the first
attempts' capacity. A Dramatiq thread puts its message's attempts in their listeners' lanes and
waits until each is settled (posted, or held and queued again), so a message is acknowledged only
after its deliveries are settled. Every free delivery thread takes the next attempt of any lane
that may post more (round robin), so the threads stay busy for as long as some lane has work,
whichever message brought it: the pipe stays full to the last delivery.

A lane runs at most ``concurrency`` requests at once: the listener's own cap, else
``DURIAN_LISTENER_CONCURRENCY``, held both in the process and across every process and host
(``durian.storage.slots``). A lane takes the slots it needs in one Redis call as work arrives,
renews all it holds in one call a second, and gives back what it no longer needs (a killed
worker's slots run out on their own). With a ``rate_limit`` a delivery also waits for a slot of
Dramatiq's ``BucketRateLimiter``.

A message waits for its attempts up to ``DURIAN_HANDOFF_MS``; then those on the wire are handed on
(``durian.storage.inflight``) and settled by the thread that makes them, and those not started
are held (queued again for later) unless their lane is answering, in which case the message waits
for them up to 10 s. So a slow or silent listener never keeps a Dramatiq thread, or the delivery
threads, from the others, and the attempts kept in memory are bounded by the messages in hand.

Before posting, a message looks at its listeners' circuits (``durian.storage.circuit``): while one
is open its items are held until it half-opens; a half-open circuit lets one probe through first.
A connection failure or timeout counts towards opening it; once open, the lane holds what it has
not posted. Held items keep their attempt number: holding is not an attempt.

Redis on this path: the circuit check waits for Redis (``patiently``); the slots, when Redis
fails, fall back to the in-process cap (logged), since posting needs no Redis.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import redis
from django import db
from dramatiq.rate_limits import BucketRateLimiter

from ..conf import settings
from ..core.outcome import Outcome
from ..core.recipients import ListenerView
from ..storage import circuit, inflight, rates
from ..storage.connection import patiently
from ..storage.marks import marks
from ..storage.slots import Slots
from . import attempts, policy
from .attempts import Attempt

logger = logging.getLogger("durian.workers")

#: How long items held for a busy listener (at its cap, or slow) wait before they come back.
HOLD_SECONDS = 1.0
#: How often a lane renews the concurrency slots it holds.
SLOT_RENEW_SECONDS = 1.0
#: How long a message waits for attempts queued in a lane that keeps answering.
FLOWING_WAIT_SECONDS = 10.0
#: How long (seconds) a process trusts its read of a closed circuit without failures.
GATE_FRESH_SECONDS = 0.5
_NEVER = circuit.Gate("closed", read_at=0.0)
#: A message hands on queued attempts of a lane that answers, up to this many times the lane's cap.
HANDED_QUEUE_FACTOR = 2
KINDS = ("first", "retry")


@dataclass
class Sent:
    """What ``send`` did: the attempts made (in completion order) and those held, with their time."""

    made: list[tuple[Attempt, Outcome]] = field(default_factory=list)
    held: list[tuple[Attempt, float]] = field(default_factory=list)


def concurrency(listener: ListenerView) -> int:
    """How many requests may be in flight to ``listener`` at once."""
    return max(1, int(listener.concurrency or settings.LISTENER_CONCURRENCY))


def rate_limiter(client: redis.Redis, listener: ListenerView) -> BucketRateLimiter | None:
    """The listener's rate limiter (``durian.storage.rates``), if it has a ``rate_limit``."""
    return rates.limiter(client, listener.id, listener.rate_limit)


def _slot_ttl() -> int:
    """How long a lane's slot lasts after it was taken or renewed (ms): one attempt's longest time,
    plus a margin; a killed worker's slots come back that long after their last renewal."""
    return int((float(settings.TOTAL_TIMEOUT) + 5.0) * 1000)


# -- one message's attempts ----------------------------------------------------------------------------


class Job:
    """One attempt of one message, in a lane: queued, on the wire, then done or held."""

    __slots__ = ("attempt", "batch", "handed", "kind", "state")

    def __init__(self, attempt: Attempt, batch: Batch) -> None:
        self.attempt = attempt
        self.batch = batch
        self.kind = "retry" if attempt.number > 1 else "first"
        self.state = "queued"  # queued, flying, done, held
        self.handed = False  # handed on while queued (its message was acknowledged)


class Batch:
    """The attempts of one message: settled by the message's thread, or, once ``handed`` on, by
    the threads that end them."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self.jobs: list[Job] = []
        self.open = 0
        self.made: list[tuple[Attempt, Outcome]] = []
        self.held: list[tuple[Attempt, float]] = []
        self.done = threading.Event()
        self.handed = False

    def end(self, job: Job, state: str) -> None:
        """Called with the engine's lock held."""
        job.state = state
        self.open -= 1
        if self.open <= 0:
            self.done.set()


# -- a lane: one listener, in this process ---------------------------------------------------------------


class Lane:
    """One listener's queued attempts in this process, its requests in flight, the slots it holds
    and what it knows of the listener's circuit."""

    def __init__(self, listener: ListenerView, client: redis.Redis) -> None:
        self.listener = listener
        self.cap = concurrency(listener)  # read again with each message (settings at call time)
        self.grace = int(settings.LANE_WAIT_MS) / 1000
        self.queued: dict[str, deque[Job]] = {kind: deque() for kind in KINDS}
        self.in_flight = 0
        self.tokens: list[str] = []
        self.renewed = time.monotonic()
        self.slots_down_until = 0.0  # Redis failed: the in-process cap alone until then
        self.stop_until = 0.0  # the circuit is open (or the listener went away): hold, until then
        self.opened_seen = 0.0  # when (epoch) a lane of this process saw the circuit open
        self.probe = ""  # "", "wanted" (one probe may go), "flying"
        self.fails_seen = False
        self.answered = 0.0  # when (monotonic) a request to it last ended
        self.idle_since = time.monotonic()
        self.busy_since = 0.0  # when (monotonic) its first request now in flight started
        self.handed_queued = 0  # queued attempts of acknowledged messages
        self.rotating = dict.fromkeys(KINDS, False)  # in the engine's rotation of that kind
        self.slots = Slots.of_listener(client, listener.id, concurrency(listener), _slot_ttl())
        self.rate = rate_limiter(client, listener)

    def waiting(self) -> int:
        return sum(len(q) for q in self.queued.values())

    def room(self, now: float) -> int:
        """How many more requests it may start now."""
        if self.stop_until > time.time() or self.probe == "flying":
            return 0
        if self.probe == "wanted":
            return 1 if self.in_flight == 0 else 0
        if self.slots_down_until >= now:  # Redis failed: the in-process cap alone
            return max(0, self.cap - self.in_flight)
        # within the slots held, and within its share when other processes want some (the keeper
        # gives back what is above it as requests end)
        return max(0, min(self.cap, len(self.tokens), self.slots.share) - self.in_flight)

    def startable(self, kind: str, now: float) -> int:
        """How many of its queued attempts of ``kind`` may start now: as many threads are woken."""
        return min(len(self.queued[kind]), self.room(now)) if self.queued[kind] else 0

    def wanted_slots(self) -> int:
        """Slots to take now: enough for what waits, up to the cap."""
        if self.stop_until > time.time():
            return 0
        return min(self.cap, self.in_flight + self.waiting()) - len(self.tokens)

    def flowing(self, now: float | None = None) -> bool:
        """It answered within the last second, or its requests started less than
        ``DURIAN_LANE_WAIT_MS`` ago (``grace``, read with each message): its slots free up soon."""
        now = time.monotonic() if now is None else now
        return now - self.answered < 1.0 or (self.in_flight > 0 and now - self.busy_since < self.grace)

    def apply_gate(self, gate: circuit.Gate) -> None:
        """What a circuit read says (engine lock held): "closed" read after this process saw it
        open reopens the lane (staff closed it); an older "closed" is older news."""
        if gate.state == "closed":
            if self.stop_until and self.opened_seen < gate.read_at:
                self.stop_until = 0.0
        elif gate.state == "probe" and not self.probe:
            self.probe = "wanted"
            self.stop_until = 0.0


# -- the settler: attempts of acknowledged messages ------------------------------------------------------


class Settler:
    """Settles, in batches on one thread of its own, the attempts whose message was acknowledged
    before they ended (``policy.settle``: records, health, retries), then clears their in-flight
    records. One thread, so a worker process holds one database connection for them, not one per
    delivery thread (a worker's 125 delivery threads exhausted PostgreSQL's 100 connections)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.waiting: list[tuple[redis.Redis, Attempt, Outcome]] = []
        self.settling = 0  # taken from ``waiting``, not settled yet
        self.wake = threading.Event()
        self.thread: threading.Thread | None = None

    def add(self, client: redis.Redis, attempt: Attempt, outcome: Outcome) -> None:
        with self.lock:
            self.waiting.append((client, attempt, outcome))
            if self.thread is None:
                self.thread = threading.Thread(target=self._run, name="durian-settler", daemon=True)
                self.thread.start()
        self.wake.set()

    def pending(self) -> int:
        with self.lock:
            return len(self.waiting) + self.settling

    def _run(self) -> None:
        while True:
            self.wake.wait(1.0)
            self.wake.clear()
            with self.lock:
                batch, self.waiting = self.waiting, []
                self.settling = len(batch)
            if not batch:
                db.close_old_connections()  # idle: give the connection back (CONN_MAX_AGE)
                continue
            by_client: dict[int, tuple[redis.Redis, list[tuple[Attempt, Outcome]]]] = {}
            for client, attempt, outcome in batch:
                by_client.setdefault(id(client), (client, []))[1].append((attempt, outcome))
            for client, made in by_client.values():
                try:
                    policy.settle(client, made)
                except Exception:  # their in-flight records stay: the deliveries come back through them
                    logger.exception("durian: could not settle %d delivery(ies)", len(made))
                    continue
                for attempt, _ in made:
                    marks.settled(attempt.webhook_id)
            with self.lock:
                self.settling = 0
            time.sleep(0.01)  # let a few more end: one batch, not one settle each


# -- the engine: every lane of this process and its delivery threads -------------------------------------


class Engine:
    """This process's lanes, the delivery threads that post their attempts, and the keeper thread
    that takes, renews and gives back the lanes' slots."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready = {kind: threading.Condition(self.lock) for kind in KINDS}
        self.lanes: dict[int, Lane] = {}
        self.rotation: dict[str, deque[Lane]] = {kind: deque() for kind in KINDS}
        self.threads = dict.fromkeys(KINDS, 0)
        self.keeper: threading.Thread | None = None
        self.wake_keeper = threading.Event()
        self.closed: dict[int, circuit.Gate] = {}  # listener id -> a "closed" read of its circuit
        self.settler = Settler()

    # -- the message's side --

    def submit(
        self, items: Sequence[Attempt], gates: dict[int, circuit.Gate], client: redis.Redis
    ) -> tuple[Batch, list[tuple[Attempt, float]]]:
        """Queue ``items`` in their lanes; returns the batch and the attempts held at once."""
        batch = Batch(client)
        held: list[tuple[Attempt, float]] = []
        grow: list[Lane] = []
        with self.lock:
            for attempt in items:
                gate = gates[attempt.listener.id]
                lane = self._lane(attempt.listener, client)
                until = self._holds(lane, gate)
                if until:
                    held.append((attempt, until))
                    continue
                job = Job(attempt, batch)
                batch.jobs.append(job)
                batch.open += 1
                if not lane.rotating[job.kind]:
                    lane.rotating[job.kind] = True
                    self.rotation[job.kind].append(lane)
                lane.queued[job.kind].append(job)
                if lane not in grow:
                    lane.cap = lane.slots.limit = concurrency(lane.listener)
                    lane.grace = int(settings.LANE_WAIT_MS) / 1000
                    grow.append(lane)
            if not batch.open:
                batch.done.set()
        for lane in grow:
            self._take_slots(lane)
        with self.lock:
            for kind in KINDS:
                self.ready[kind].notify(sum(lane.startable(kind, now=time.monotonic()) for lane in grow))
        self._start_threads()
        return batch, held

    def wait(self, batch: Batch, client: redis.Redis) -> None:
        """Wait for ``batch`` up to ``DURIAN_HANDOFF_MS``, then hand on what is on the wire and what
        is queued in a lane that answers (up to ``HANDED_QUEUE_FACTOR`` times its cap, queued in
        all); wait longer (up to 10 s) for the rest of such lanes; hold what waits in the others."""
        started = time.monotonic()
        if batch.done.wait(int(settings.HANDOFF_MS) / 1000):
            return
        while True:
            with self.lock:
                now = time.monotonic()
                waited = now - started
                keep, handed, hold = [], [], []
                flowing: dict[int, bool] = {}  # by listener, looked at once per pass
                for job in batch.jobs:
                    if job.state != "queued":
                        continue
                    lane = self._lane_of(job)
                    lid = lane.listener.id
                    if lid not in flowing:
                        flowing[lid] = lane.flowing(now)
                    if not flowing[lid]:
                        hold.append(job)
                    elif lane.handed_queued < HANDED_QUEUE_FACTOR * lane.cap:
                        lane.handed_queued += 1
                        job.handed = True
                        handed.append(job)
                    elif waited < FLOWING_WAIT_SECONDS:
                        keep.append(job)
                    else:
                        hold.append(job)
                if not keep:
                    now = time.time()
                    for job in hold:
                        lane = self._lane_of(job)
                        lane.queued[job.kind].remove(job)
                        batch.held.append((job.attempt, max(lane.stop_until, now + HOLD_SECONDS)))
                        batch.end(job, "held")
                    on = {
                        j.attempt.webhook_id: j.attempt.context for j in batch.jobs if j.state == "flying" or j.handed
                    }
                    if not on:
                        return
                    break
                for job in handed:  # not yet: they count again at the next look
                    job.handed = False
                    self._lane_of(job).handed_queued -= 1
            if batch.done.wait(0.05):
                return
        try:  # recorded first: a request that ends meanwhile clears its record once settled
            inflight.hand_on(client, on)
        except redis.RedisError as exc:  # cannot hand them on: wait for them here instead
            logger.warning("durian: could not hand on %d delivery(ies) (%s); waiting", len(on), exc)
            batch.done.wait()
            return
        with self.lock:
            batch.handed = True
            # ended, or held, while their records were written: the message settles them
            settled = [a for a, _ in [*batch.made, *batch.held] if a.webhook_id in on]
        for attempt in settled:
            marks.settled(attempt.webhook_id)

    def gates(self, client: redis.Redis, listener_ids: set[int]) -> dict[int, circuit.Gate]:
        """The circuit of each listener: read from Redis, except a closed one without failures
        read less than ``GATE_FRESH_SECONDS`` ago by this process (one read per listener then, not
        one per message). Waits for Redis."""
        now = time.time()
        with self.lock:
            fresh = {
                i: self.closed[i] for i in listener_ids if now - self.closed.get(i, _NEVER).read_at < GATE_FRESH_SECONDS
            }
        wanted = listener_ids - fresh.keys()
        if wanted:
            found = patiently(lambda: circuit.check(client, wanted), "check circuits")
            with self.lock:
                for listener_id, gate in found.items():
                    if gate.state == "closed" and not gate.fails:
                        self.closed[listener_id] = gate
                    else:
                        self.closed.pop(listener_id, None)
            fresh.update(found)
        return fresh

    # -- the delivery threads' side --

    def _run(self, kind: str) -> None:
        job, lane = self._next(kind)
        while True:
            outcome, stop = self._post(job, lane)
            job, lane = self._end(job, lane, outcome, stop, kind)

    def _next(self, kind: str) -> tuple[Job, Lane]:
        """The next attempt of ``kind`` any lane may start; waits for one."""
        with self.lock:
            while True:
                found = self._take(kind, time.monotonic())
                if found is not None:
                    return found
                self.ready[kind].wait(1.0)

    def _take(self, kind: str, now: float) -> tuple[Job, Lane] | None:
        """The next attempt of ``kind`` a lane may start now, round robin, marked flying; ``None``
        when there is none (the engine's lock is held)."""
        rotation = self.rotation[kind]
        for _ in range(len(rotation)):
            lane = rotation.popleft()
            queue = lane.queued[kind]
            if not queue:
                lane.rotating[kind] = False  # leaves the rotation until work arrives
                continue
            rotation.append(lane)
            if lane.room(now):
                job = queue.popleft()
                job.state = "flying"
                if job.handed:
                    lane.handed_queued -= 1
                if not lane.in_flight:
                    lane.busy_since = now
                lane.in_flight += 1
                if lane.probe == "wanted":
                    lane.probe = "flying"
                return job, lane
        return None

    def _post(self, job: Job, lane: Lane) -> tuple[Outcome | None, float]:
        """Post the attempt; its outcome (``None``: it failed unexpectedly and is held) and until
        when its lane stops."""
        attempt = job.attempt
        try:
            if lane.rate is not None:
                rates.wait(lane.rate)
            outcome = attempts.post(attempt)
            policy.end_lease(job.batch.client, attempt, outcome)
        except Exception:
            logger.exception("durian: delivering %s failed; holding it", attempt.webhook_id)
            return None, time.time() + 1.0
        return outcome, self.observe(lane, outcome)

    def observe(self, lane: Lane, outcome: Outcome) -> float:
        """Feed the listener's circuit with an attempt's outcome; returns until when the lane
        stops (the circuit opened, or 410 Gone: the listener is being disabled), else 0."""
        if not outcome.ok:
            with self.lock:
                self.closed.pop(lane.listener.id, None)
        stop = circuit.feed(lane.slots.client, lane.listener.id, outcome, lane.fails_seen or bool(lane.probe))
        lane.fails_seen = outcome.down
        if outcome.gone:  # the rest come back as dead letters
            stop = time.time()
        if stop:
            with self.lock:
                lane.stop_until = max(lane.stop_until, stop)
                lane.opened_seen = time.time()
        return stop

    def admits(self, listener: ListenerView, gate: circuit.Gate, client: redis.Redis) -> bool:
        """Whether a message that read ``gate`` would queue attempts for ``listener`` now (else it
        holds them): what the gate says, unless this process has seen the circuit open since."""
        with self.lock:
            return not self._holds(self._lane(listener, client), gate)

    def _holds(self, lane: Lane, gate: circuit.Gate) -> float:
        """Until when ``lane`` holds what a message that read ``gate`` brings (0: it queues it).
        The engine's lock is held."""
        lane.apply_gate(gate)
        if gate.held:
            return gate.until
        return lane.stop_until if lane.stop_until > time.time() else 0.0

    def _end(self, job: Job, lane: Lane, outcome: Outcome | None, stop: float, kind: str) -> tuple[Job, Lane]:
        """The attempt ended (``outcome``), or failed unexpectedly (``None``: it is held); returns
        the next attempt of ``kind`` this thread posts. The end and the next attempt share one
        hold of the engine's lock when one is ready (one acquisition per attempt, not two)."""
        held: list[tuple[Job, float]] = []
        found: tuple[Job, Lane] | None = None
        with self.lock:
            lane.in_flight -= 1
            lane.answered = time.monotonic()
            if lane.probe == "flying":
                lane.probe = ""
            if stop:
                lane.stop_until = max(lane.stop_until, stop)
                for kind in KINDS:
                    while lane.queued[kind]:
                        held.append((lane.queued[kind].popleft(), lane.stop_until))
            elif lane.stop_until and outcome is not None and not outcome.down and lane.stop_until <= time.time():
                lane.stop_until = 0.0
            batch = job.batch
            late = batch.handed
            if outcome is None:
                held.append((job, stop))
            else:
                if not late:
                    batch.made.append((job.attempt, outcome))
                batch.end(job, "done")
            leftovers = self._hold_jobs(held)
            # No one is woken here: this thread takes the next attempt itself (waking another
            # would cost a context switch per attempt).
            found = self._take(kind, time.monotonic())
        if late and outcome is not None:  # its message was acknowledged: the settler settles it
            self.settler.add(batch.client, job.attempt, outcome)
        self._hold_leftovers(leftovers)
        return found or self._next(kind)

    def _hold_leftovers(self, leftovers: list[tuple[redis.Redis, list[tuple[Attempt, float]]]]) -> None:
        """Hold attempts of acknowledged messages (outside the lock); their in-flight records go."""
        for client, items in leftovers:
            try:
                policy.hold(client, items)
            except Exception:  # their in-flight records stay: they come back through them
                logger.exception("durian: could not hold %d delivery(ies)", len(items))
                continue
            for attempt, _ in items:
                marks.settled(attempt.webhook_id)

    def _hold_jobs(self, held: list[tuple[Job, float]]) -> list[tuple[redis.Redis, list[tuple[Attempt, float]]]]:
        """Hold queued jobs (engine lock held): a message still waiting gets them back; handed-on
        ones are returned, with their batch's client, to hold outside the lock."""
        leftovers: dict[int, tuple[redis.Redis, list[tuple[Attempt, float]]]] = {}
        now = time.time()
        for job, until in held:
            until = max(until, now + 0.1)
            if job.handed and job.state == "queued":
                self.lanes[job.attempt.listener.id].handed_queued -= 1
            batch = job.batch
            if batch.handed:
                leftovers.setdefault(id(batch), (batch.client, []))[1].append((job.attempt, until))
            else:
                batch.held.append((job.attempt, until))
            batch.end(job, "held")
        return list(leftovers.values())

    # -- slots --

    def _take_slots(self, lane: Lane) -> None:
        with self.lock:
            wanted = lane.wanted_slots()
        if wanted <= 0 or lane.slots_down_until > time.monotonic():
            return
        try:
            tokens = lane.slots.acquire_many(wanted, held=len(lane.tokens))
        except redis.RedisError as exc:  # the in-process cap still holds
            logger.warning("durian: lane slots unavailable (%s); posting under the process cap", exc)
            with self.lock:
                lane.slots_down_until = time.monotonic() + 1.0
            return
        if tokens:
            with self.lock:
                lane.tokens.extend(tokens)
                now = time.monotonic()
                for kind in KINDS:
                    self.ready[kind].notify(min(len(tokens), lane.startable(kind, now)))
        elif wanted > 0:
            self.wake_keeper.set()

    def _keep(self) -> None:
        """The keeper thread: takes slots lanes still want (others held them), renews the slots held
        once a second, gives back what idle lanes hold, and forgets long-idle lanes."""
        while True:
            self.wake_keeper.wait(0.05)
            self.wake_keeper.clear()
            now = time.monotonic()
            with self.lock:
                lanes = list(self.lanes.values())
            for lane in lanes:
                try:
                    self._keep_lane(lane, now)
                except redis.RedisError as exc:
                    logger.warning("durian: could not keep the slots of listener %s (%s)", lane.listener.id, exc)
                except Exception:
                    logger.exception("durian: could not keep the slots of listener %s", lane.listener.id)

    def _keep_lane(self, lane: Lane, now: float) -> None:
        with self.lock:
            stale: list[tuple[Job, float]] = []
            if lane.handed_queued and not lane.flowing():  # acknowledged, and going nowhere: hold them
                until = time.time() + HOLD_SECONDS
                for kind in KINDS:
                    for job in [j for j in lane.queued[kind] if j.handed]:
                        lane.queued[kind].remove(job)
                        stale.append((job, until))
            leftovers = self._hold_jobs(stale)
            busy = lane.in_flight or lane.waiting()
            if busy:
                lane.idle_since = now
            free = len(lane.tokens) - lane.in_flight  # slots held, not in use now
            surplus = free if not lane.waiting() and now - lane.idle_since >= 0.2 else 0
            surplus = max(surplus, min(free, len(lane.tokens) - lane.slots.share))  # above its share: others want some
            release: list[str] = []
            if surplus > 0:
                release, lane.tokens = lane.tokens[:surplus], lane.tokens[surplus:]
            leaving = bool(release) and not lane.tokens and not lane.waiting()
            renew = list(lane.tokens) if now - lane.renewed >= SLOT_RENEW_SECONDS else []
            forget = not busy and not lane.tokens and now - lane.idle_since > 60 and not lane.stop_until
            if forget:
                del self.lanes[lane.listener.id]
        self._hold_leftovers(leftovers)
        if release:
            lane.slots.release_many(release, leaving=leaving)
        if renew:
            kept = set(lane.slots.renew_many(renew))
            with self.lock:
                lane.renewed = now
                lost = [t for t in renew if t not in kept]
                if lost:
                    logger.warning(
                        "durian: %d slot(s) of listener %s ran out; taking them again", len(lost), lane.listener.id
                    )
                    lane.tokens = [t for t in lane.tokens if t not in lost]
        if lane.wanted_slots() > 0 and lane.waiting():
            self._take_slots(lane)

    # -- plumbing --

    def _lane(self, listener: ListenerView, client: redis.Redis) -> Lane:
        lane = self.lanes.get(listener.id)
        if lane is None:
            lane = self.lanes[listener.id] = Lane(listener, client)
        elif lane.listener is not listener:  # a newer snapshot: its rate as of now (its cap: ``submit``)
            if lane.listener.rate_limit != listener.rate_limit:
                lane.rate = rate_limiter(client, listener)
            lane.listener = listener
        return lane

    def _lane_of(self, job: Job) -> Lane:
        return self.lanes[job.attempt.listener.id]

    def _start_threads(self) -> None:
        with self.lock:
            if self.keeper is None:
                self.keeper = threading.Thread(target=self._keep, name="durian-slots", daemon=True)
                self.keeper.start()
            for kind in KINDS:
                size = max(1, int(settings.DELIVERY_CONCURRENCY if kind == "first" else settings.RETRY_CONCURRENCY))
                while self.threads[kind] < size:
                    self.threads[kind] += 1
                    name = f"durian-{kind}-{self.threads[kind]}"
                    threading.Thread(target=self._run, args=(kind,), name=name, daemon=True).start()

    def forget(self) -> None:
        """Forget every lane, what waits in them and the circuits read (a test's worker stopped:
        the next one starts from a clean process state). Requests on the wire end as they would."""
        with self.lock:
            self.lanes.clear()
            for kind in KINDS:
                self.rotation[kind].clear()
            self.closed.clear()

    def in_flight(self) -> int:
        with self.lock:
            return sum(lane.in_flight for lane in self.lanes.values())

    def handed_on(self) -> int:
        """Attempts of acknowledged messages still queued, on the wire, or to settle in this process."""
        with self.lock:
            return (
                self.settler.pending()
                + sum(1 for lane in self.lanes.values() for q in lane.queued.values() for job in q if job.handed)
                + sum(lane.in_flight for lane in self.lanes.values())
            )


_engines: dict[int, Engine] = {}
_engines_lock = threading.Lock()


def engine() -> Engine:
    """This process's engine (a forked child gets its own)."""
    pid = os.getpid()
    with _engines_lock:
        found = _engines.get(pid)
        if found is None:
            found = _engines[pid] = Engine()
        return found


# -- the pool of ordered lanes ---------------------------------------------------------------------------

_pools: dict[tuple[int, str], ThreadPoolExecutor] = {}
_pools_lock = threading.Lock()


def pool(kind: str) -> ThreadPoolExecutor:
    """This process's pool of threads for ``kind`` (``ordered``: the ordered listeners' lanes)."""
    key = (os.getpid(), kind)
    with _pools_lock:
        if key not in _pools:
            size = max(1, int(settings.DELIVERY_CONCURRENCY))
            _pools[key] = ThreadPoolExecutor(size, thread_name_prefix=f"durian-{kind}")
        return _pools[key]


def in_flight() -> int:
    """Requests in flight in this process now (all listeners)."""
    return engine().in_flight()


def drain(timeout: float) -> bool:
    """Wait up to ``timeout`` seconds for this process's requests in flight to settle (shutdown)."""
    deadline = time.monotonic() + timeout
    while engine().handed_on() and time.monotonic() < deadline:
        time.sleep(0.05)
    return not engine().handed_on()


# -- a message ---------------------------------------------------------------------------------------------


def send(batch: Sequence[Attempt], client: redis.Redis) -> Sent:
    """Post ``batch`` in its listeners' lanes on this process's delivery threads
    (``attempts.post``; each lease ends as ``policy.end_lease`` says, right after its attempt).

    Waits until each attempt ended, or up to ``DURIAN_HANDOFF_MS`` (longer while a lane with
    queued attempts keeps answering): then attempts not started are held, and those on the wire
    (and queued for an answering lane) are handed on (``durian.storage.inflight``): the threads
    that end them settle each through ``policy.settle``. Returns the rest: made, and held.
    """
    sent = Sent()
    if not batch:
        return sent
    eng = engine()
    gates = eng.gates(client, {a.listener.id for a in batch})
    message, held = eng.submit(batch, gates, client)
    sent.held.extend(held)
    eng.wait(message, client)
    with eng.lock:
        sent.made.extend(message.made)
        sent.held.extend(message.held)
        message.made, message.held = [], []
    return sent
