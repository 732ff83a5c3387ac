"""A listener's concurrency cap holds across worker processes, and a killed worker gives its share back."""

import time

import pytest

from durian.models import DeadLetter
from example_project.people.hooks import PersonHook

from .conftest import FAULTS_B, await_all, report, save_people, wait_until
from .worker_settings import FAULT_SETTINGS

# FAULTS_B: two fault tests at most at once (tests/faults/conftest.py says why).
pytestmark = [pytest.mark.fault, FAULTS_B, pytest.mark.timeout(600)]


def test_two_worker_processes_together_never_exceed_a_listeners_cap(cluster, receiver):
    receiver.always(200, delay=0.1)  # slow enough that both processes want more than the cap
    PersonHook().listener(url=receiver.url, max_in_flight=4).save()
    # One Dramatiq thread each: a worker prefetches twice its threads in messages, so each takes two
    # of the burst's four messages (with 8 threads the first to fetch took all four, and rightly
    # posted everything alone within the cap).
    workers = [cluster.start_worker(threads=1), cluster.start_worker(threads=1)]
    saved = save_people(200, per_transaction=100, prefix="cap")
    tally = await_all(receiver, 200, saved=saved)
    # Who posted: each request came from a port; the workers still hold their keep-alive connections.
    port = receiver.server.server_address[1]
    posted = [sum(r.peer[1] in w.ports_connected_to(port) for r in list(receiver.requests)) for w in workers]
    report("cap across two processes", tally, max_in_flight=receiver.max_in_flight, posted_by_each=posted)
    tally.assert_complete()
    assert all(posted), f"both worker processes must post to the listener; their requests: {posted}"
    assert receiver.max_in_flight == 4  # used to the full, never beyond
    assert not DeadLetter.objects.exists()


def test_a_killed_workers_share_of_the_cap_comes_back_while_the_listener_stays_busy(cluster, receiver):
    receiver.always(200, delay=0.2)
    PersonHook().listener(url=receiver.url, max_in_flight=4).save()
    doomed, _survivor = cluster.start_worker(), cluster.start_worker()
    saved = save_people(400, per_transaction=100, prefix="k")
    receiver.wait_for(20, timeout=60)  # both workers post, sharing the 4 slots
    doomed.kill()  # its slots are never given back
    # The survivor keeps posting; the dead worker's slots run out one slot lifetime after their last renewal.
    time.sleep(FAULT_SETTINGS["DURIAN_TOTAL_TIMEOUT"] + 5.0 + 1.0)
    receiver.max_in_flight = 0  # from now on
    arrived = len(receiver.delivered)
    wait_until(lambda: len(receiver.delivered) >= arrived + 40, 60, "40 more deliveries")
    assert receiver.max_in_flight == 4  # the survivor alone uses the whole cap
    tally = await_all(receiver, 400, saved=saved)
    report("cap after a killed worker", tally, survivor_max_in_flight=receiver.max_in_flight)
    tally.assert_complete(max_duplicates=8)
