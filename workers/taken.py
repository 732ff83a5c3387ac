"""Dramatiq messages this worker took from the Redis broker and lost track of: given back to their queue.

Dramatiq's Redis broker moves each message a worker process fetches into that process's set of
messages taken (``<namespace>:__acks__.<broker id>.<queue>``). It puts them back on their queue
only once the process stops beating (its heartbeat), as when it died. A live worker can still lose
track of one: the reply to a fetch is lost when Redis goes away after running it, or Dramatiq
rebuilds a consumer after an error with messages it had prefetched. Such a message stays taken
until the worker stops, which can be days.

So each worker looks at its own sets on every claim pass of its stream consumer. A message taken
``DURIAN_CLAIM_IDLE_MS`` ago or more that this process does not have in hand (waiting in its work
queue, started, or delayed) goes back to its queue, as Dramatiq's ``requeue`` does at shutdown.
Should one that was only passing from a fetch to the work queue be given back all the same, it
runs twice, and its idempotency keys make the second run a no-op.

Other brokers have no such sets (RabbitMQ redelivers what a closed channel held): nothing to do there.
"""

from __future__ import annotations

import logging
import threading
import time

import dramatiq

logger = logging.getLogger("durian.workers")


def _message_id(message: dramatiq.Message | None) -> str | None:
    return None if message is None else message.options.get("redis_message_id")


class Taken:
    """The messages this process has in hand (waiting for a thread, started or delayed, not yet
    acknowledged), and the ones its sets hold that it does not: given back once taken for too long."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._in_hand: set[str] = set()
        self._unknown_since: dict[tuple[str, str], float] = {}  # (queue, message id) -> first seen
        self._worker: dramatiq.Worker | None = None

    def watch(self, worker: dramatiq.Worker) -> None:
        """Count the messages waiting in ``worker``'s work queue for a thread as in hand too."""
        self._worker = worker

    def _waiting(self) -> set[str]:
        """Messages fetched and waiting for a thread (Dramatiq's ``Worker.work_queue``, whose items
        carry their ``message``); none if a later Dramatiq keeps them otherwise."""
        items = list(getattr(getattr(self._worker, "work_queue", None), "queue", ()))
        return {mid for item in items if (mid := _message_id(getattr(item, "message", None))) is not None}

    def hold(self, message: dramatiq.Message) -> None:
        """A worker thread started it, or the consumer delayed it (Dramatiq's hooks say so)."""
        if (mid := _message_id(message)) is not None:
            with self._lock:
                self._in_hand.add(mid)

    def release(self, message: dramatiq.Message) -> None:
        """It was acknowledged (or rejected): it left the set."""
        if (mid := _message_id(message)) is not None:
            with self._lock:
                self._in_hand.discard(mid)

    def give_back(self, broker: dramatiq.Broker, idle_ms: int) -> int:
        """Put back on its queue each message this process's sets have held for ``idle_ms`` or more
        without this process having it in hand; returns how many. Raises ``redis.RedisError``."""
        from dramatiq.brokers.redis import RedisBroker

        if not isinstance(broker, RedisBroker):
            return 0
        now = time.monotonic()
        seen: dict[tuple[str, str], float] = {}
        given = 0
        queues = sorted(broker.get_declared_queues() | broker.get_declared_delay_queues())
        pipe = broker.client.pipeline(transaction=False)  # every set in one round trip
        for queue in queues:
            pipe.smembers(f"{broker.namespace}:__acks__.{broker.broker_id}.{queue}")
        sets = pipe.execute()
        with self._lock:
            in_hand = self._in_hand | self._waiting()
        for queue, members in zip(queues, sets, strict=True):
            lost = {m.decode() if isinstance(m, bytes) else m for m in members} - in_hand
            due = []
            for mid in lost:
                since = seen[(queue, mid)] = self._unknown_since.get((queue, mid), now)
                if now - since >= idle_ms / 1000:
                    due.append(mid)
            if due:
                logger.warning(
                    "durian: %d message(s) of queue %s taken by this worker and never started; "
                    "putting them back on the queue (Redis went away while they were fetched?)",
                    len(due),
                    queue,
                )
                broker.do_requeue(queue, *due)
                given += len(due)
                for mid in due:
                    seen.pop((queue, mid), None)
        self._unknown_since = seen
        return given


#: This process's record (one per process, as Dramatiq's broker and its sets are).
taken = Taken()
