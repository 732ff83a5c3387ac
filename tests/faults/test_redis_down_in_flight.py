"""Redis stops while deliveries are in flight: a slow receiver keeps a backlog moving, the CPU is busy."""

import subprocess
import sys
import time
import uuid

import dramatiq
import pytest

from durian.conf import settings as durian_settings
from durian.core.event import Event
from durian.pipeline import queue
from durian.storage.connection import get_redis
from example_project.people.hooks import PersonHook

from .conftest import FAULTS_B, await_all, report, save_people, wait_until

# FAULTS_B: two fault tests at most at once (tests/faults/conftest.py says why).
pytestmark = [pytest.mark.fault, FAULTS_B, pytest.mark.timeout(240)]

EVENTS = 600


class BusyCPU:
    """Processes that burn CPU on every core, as other work on a shared machine does."""

    def __init__(self, count: int = 4) -> None:
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(count)]

    def stop(self) -> None:
        for p in self.procs:
            p.kill()
            p.wait()


@pytest.mark.parametrize("run", [1, 2, 3])
def test_redis_stopped_while_deliveries_are_in_flight_loses_none(cluster, receiver, run):
    receiver.always(200, delay=0.05)  # a slow receiver: requests stay in flight
    PersonHook().listener(url=receiver.url).save()
    save_people(EVENTS, per_transaction=100, prefix=f"r{run}-")
    busy = BusyCPU()
    try:
        cluster.start_worker()
        wait_until(lambda: len(receiver.delivered) >= EVENTS // 4, 60, "a quarter of the events delivered")
        cluster.redis.stop()
        stopped_with = len(receiver.delivered)
        time.sleep(3)
        cluster.redis.restart()
        tally = await_all(receiver, EVENTS, timeout=120)
    finally:
        busy.stop()
    names = {r.json()["name"] for r in receiver.delivered}
    report(f"Redis stopped with deliveries in flight (run {run})", tally, delivered_before_stop=stopped_with)
    assert names == {f"r{run}-{i}" for i in range(EVENTS)}
    assert tally.lost == 0


def test_a_message_a_live_worker_took_as_redis_went_away_is_delivered_without_restarting_it(cluster, receiver):
    """Redis ran a worker's fetch, then went away before the reply reached the worker: the message
    sits in the set of messages that worker took, and Dramatiq gives such a set back only once its
    worker stops beating. The worker lives on; the delivery must not wait for its next restart."""
    listener = PersonHook().listener(url=receiver.url).save()
    worker = cluster.start_worker()
    client = get_redis("worker")  # the cluster's Redis, which the worker's broker uses too
    wait_until(lambda: client.zcard("dramatiq:__heartbeats__") == 1, 30, "the worker's first heartbeat")
    (worker_id,) = [m.decode() for m in client.zrange("dramatiq:__heartbeats__", 0, -1)]

    # What the lost reply leaves behind: the message's body kept, its id in the worker's set, on no queue.
    message_id = str(uuid.uuid4())
    event = Event(hook="person", payload={"name": "Taken", "address": "", "created": True})
    message = dramatiq.Message(
        queue_name=durian_settings.QUEUE_NAME,
        actor_name=queue.ACTOR_NAME,
        args=([queue.item(event, listener.pk)],),
        kwargs={},
        options={"redis_message_id": message_id},
    )
    client.hset(f"dramatiq:{durian_settings.QUEUE_NAME}.msgs", message_id, message.encode())
    client.sadd(f"dramatiq:__acks__.{worker_id}.{durian_settings.QUEUE_NAME}", message_id)
    cluster.redis.stop()
    cluster.redis.restart()

    (request,) = receiver.wait_for(1, timeout=60)
    assert request.json()["name"] == "Taken"
    assert worker.process.poll() is None  # the same worker, still running
    assert client.zrange("dramatiq:__heartbeats__", 0, -1) == [worker_id.encode()]  # under the same identity
