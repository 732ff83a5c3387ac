"""A worker gives back the Dramatiq messages it took and lost track of, and only those (``workers.taken``)."""

import dramatiq
import pytest

from durian.conf import settings as durian_settings
from durian.core.event import Event
from durian.pipeline import queue
from workers.taken import Taken

pytestmark = pytest.mark.django_db(transaction=True)


def take(broker: dramatiq.Broker, n: int) -> list[dramatiq.Message]:
    """Queue ``n`` deliveries and fetch them as a worker's consumer does: taken by this process."""
    import durian.tasks  # noqa: F401  (declares the queues, as in a worker)

    broker.flush_all()
    for i in range(n):
        queue.send([queue.item(Event(hook="person", payload={"name": f"p{i}"}), 1)])
    fetched = broker.do_fetch(durian_settings.QUEUE_NAME, n)
    return [dramatiq.Message.decode(data) for data in fetched]


def queued(broker: dramatiq.Broker) -> int:
    return broker.client.llen(f"{broker.namespace}:{durian_settings.QUEUE_NAME}")


def test_a_message_taken_and_never_started_goes_back_to_its_queue_once_idle_that_long(redis_client):
    broker = dramatiq.get_broker()
    if not hasattr(broker, "broker_id"):
        pytest.skip("only Dramatiq's Redis broker keeps sets of messages taken")
    take(broker, 2)
    record = Taken()
    assert record.give_back(broker, idle_ms=60_000) == 0  # just taken: a thread may be about to start it
    assert queued(broker) == 0
    assert record.give_back(broker, idle_ms=0) == 2
    assert queued(broker) == 2


def test_a_message_in_hand_is_never_given_back_however_long_it_runs(redis_client):
    broker = dramatiq.get_broker()
    if not hasattr(broker, "broker_id"):
        pytest.skip("only Dramatiq's Redis broker keeps sets of messages taken")
    running, lost = take(broker, 2)
    record = Taken()
    record.hold(running)
    assert record.give_back(broker, idle_ms=0) == 1  # the lost one
    assert record.give_back(broker, idle_ms=0) == 0
    assert queued(broker) == 1
    record.release(running)  # acknowledged: out of the set, nothing to give back
    broker.do_ack(durian_settings.QUEUE_NAME, running.options["redis_message_id"])
    assert record.give_back(broker, idle_ms=0) == 0


def test_a_message_waiting_in_the_worker_s_queue_for_a_thread_is_not_given_back(redis_client):
    from dramatiq.broker import MessageProxy
    from dramatiq.worker import _WorkQueueItem

    broker = dramatiq.get_broker()
    if not hasattr(broker, "broker_id"):
        pytest.skip("only Dramatiq's Redis broker keeps sets of messages taken")
    (waiting,) = take(broker, 1)
    worker = dramatiq.Worker(broker, worker_threads=1)  # not started: its work queue is all we need
    worker.work_queue.put(_WorkQueueItem(0, MessageProxy(waiting)))  # as its consumer thread puts it
    record = Taken()
    record.watch(worker)
    assert record.give_back(broker, idle_ms=0) == 0
    worker.work_queue.get()  # a thread took it... and the process lost it: it goes back
    assert record.give_back(broker, idle_ms=0) == 1
