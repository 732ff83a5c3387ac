"""The receiver refuses connections for a while, then accepts again."""

import time

import pytest

from durian.models import DeadLetter, Delivery
from durian.testing import Receiver
from example_project.people.hooks import PersonHook

from .conftest import FAULTS_A, await_all, report, save_people, wait_until

# FAULTS_A: two fault tests at most at once (tests/faults/conftest.py says why).
pytestmark = [pytest.mark.fault, FAULTS_A, pytest.mark.timeout(400)]

EVENTS = 200
OUTAGE = 3.0  # seconds; the retry schedule of the fault settings spans 0.5 + 1 + 2 + 4 + 8 = 15.5 s
# (the circuit holds deliveries while it is open: they come back after its cooling period)


def test_receiver_refusing_connections_for_a_while_gets_everything_without_dead_letters(cluster):
    first = Receiver().start()
    host, port = first.server.server_address[:2]
    PersonHook().listener(url=first.url).save()
    cluster.start_worker()
    first.stop()  # the port now refuses connections

    saved = save_people(EVENTS, per_transaction=50)
    # the listener's circuit opens after a few refused connections: the rest are held, not attempted
    wait_until(lambda: Delivery.objects.filter(ok=False).count() >= 5, 30, "the failures that open the circuit")
    time.sleep(max(0.0, OUTAGE - 1.0))
    with Receiver(host, port) as back:
        tally = await_all(back, EVENTS, saved=saved)
    failed = Delivery.objects.filter(ok=False).count()
    report(
        "receiver refusing connections",
        tally,
        failed_attempts=failed,
        dead_letters=DeadLetter.objects.count(),
        recovered_s=tally.seconds,
    )
    tally.assert_complete(max_duplicates=0)
    assert not DeadLetter.objects.exists()
    assert failed < EVENTS  # not one failed attempt per event: the circuit held them
