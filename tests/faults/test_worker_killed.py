"""A worker process is SIGKILLed in the middle of a burst; a new one finishes the work."""

import time

import pytest

from durian.models import DeadLetter
from example_project.people.hooks import PersonHook

from .conftest import report, save_people, wait_until, webhook_ids

pytestmark = [pytest.mark.fault, pytest.mark.timeout(180)]

EVENTS = 5000


def test_sigkilled_worker_loses_no_event_of_a_5000_burst(cluster, receiver):
    PersonHook().listener(url=receiver.url).save()
    first = cluster.start_worker()

    save_people(EVENTS)
    wait_until(lambda: len(receiver.delivered) >= EVENTS // 4, 120, "a quarter of the burst")
    first.kill()
    killed_at = time.monotonic()
    at_kill = len(webhook_ids(receiver))
    cluster.start_worker()

    wait_until(lambda: len(webhook_ids(receiver)) >= EVENTS, 120, f"all {EVENTS} webhook-ids", every=0.2)
    recovered_in = time.monotonic() - killed_at
    time.sleep(1)  # let late duplicates, if any, arrive before counting them
    ids = webhook_ids(receiver)
    duplicates = sum(ids.values()) - len(ids)
    report(
        "worker SIGKILLed mid-burst",
        events=EVENTS,
        delivered_before_kill=at_kill,
        lost=EVENTS - len(ids),
        duplicates=duplicates,
        recovered_s=recovered_in,
    )
    assert len(ids) == EVENTS
    assert not DeadLetter.objects.exists()
