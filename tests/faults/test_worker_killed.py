"""A worker process is SIGKILLed in the middle of a burst; a new one finishes the work."""

import time

import pytest

from durian.models import DeadLetter
from example_project.people.hooks import PersonHook

from .conftest import FAULTS_A, await_all, report, save_people, wait_until, webhook_ids

# FAULTS_A: two fault tests at most at once (tests/faults/conftest.py says why).
pytestmark = [pytest.mark.fault, FAULTS_A, pytest.mark.timeout(600)]

EVENTS = 5000


def test_sigkilled_worker_loses_no_event_of_a_5000_burst(cluster, receiver):
    PersonHook().listener(url=receiver.url).save()
    first = cluster.start_worker()

    killed_at = None
    saved_at_kill = EVENTS

    def kill_and_replace() -> None:
        nonlocal killed_at
        first.kill()
        killed_at = time.monotonic()
        cluster.start_worker(wait=False)

    saved: set[str] = set()
    for start in range(0, EVENTS, 250):  # the burst: 20 transactions of 250 saves
        saved |= save_people(250, per_transaction=250, prefix=f"b{start}-")
        if killed_at is None and len(receiver.delivered) >= EVENTS // 5:
            saved_at_kill = start + 250
            at_kill = len(webhook_ids(receiver))
            kill_and_replace()
    if killed_at is None:  # the workers lagged behind the saves: kill once a fifth is through
        wait_until(lambda: len(receiver.delivered) >= EVENTS // 5, 300, "a fifth of the burst")
        at_kill = len(webhook_ids(receiver))
        kill_and_replace()

    tally = await_all(receiver, EVENTS, timeout=300, saved=saved)
    report(
        "worker SIGKILLed mid-burst",
        tally,
        saved_before_kill=saved_at_kill,
        delivered_before_kill=at_kill,
        recovered_s=time.monotonic() - killed_at - 0.5,
    )
    # A SIGKILL can repeat only what was on the wire: at most the killed worker's 8 threads' batches.
    tally.assert_complete(max_duplicates=EVENTS // 100)
    assert not DeadLetter.objects.exists()
