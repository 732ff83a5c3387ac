"""Two worker processes share the stream through the consumer group."""

import time

import pytest

from durian.models import DeadLetter
from durian.storage.connection import get_redis
from durian.testing import Response
from example_project.people.hooks import PersonHook

from .conftest import await_all, report, save_people, wait_until, webhook_ids

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

EVENTS = 1000
#: How long the receiver takes to answer: real receivers take tens of milliseconds, so delivery is
#: bound by waiting, which more worker processes (and threads) share out.
LATENCY = 0.02


def drain_seconds(cluster, receiver, workers: int, prefix: str, expected: int) -> float:
    """Commit EVENTS events while no worker runs, start ``workers`` workers, and time the delivery.

    From the moment every worker is ready until the receiver holds ``expected`` webhook-ids.
    """
    save_people(EVENTS, prefix=prefix)
    started = [cluster.start_worker(threads=4, wait=False) for _ in range(workers)]
    wait_until(lambda: all(w.ready() for w in started), 60, "the workers to boot", every=0.05)
    began = time.monotonic()
    wait_until(lambda: len(webhook_ids(receiver)) >= expected, 120, f"{expected} webhook-ids", every=0.05)
    took = time.monotonic() - began
    for w in started:
        w.stop()
    return took


def test_two_workers_deliver_every_event_and_share_the_work(cluster, receiver):
    receiver.default = Response(200, b"ok", delay=LATENCY)
    PersonHook().listener(url=receiver.url).save()
    one = drain_seconds(cluster, receiver, 1, "one", EVENTS)
    two = drain_seconds(cluster, receiver, 2, "two", 2 * EVENTS)
    tally = await_all(receiver, 2 * EVENTS)
    consumers = get_redis("worker").xinfo_consumers("durian:events", "durian")
    report(
        "two workers",
        tally,
        one_worker_s=one,
        two_workers_s=two,
        throughput_ratio=one / two,
        consumers_that_read=len(consumers),
    )
    assert tally.lost == 0
    assert len(consumers) >= 2  # stream consumers of separate processes took entries from the group
    assert not DeadLetter.objects.exists()
