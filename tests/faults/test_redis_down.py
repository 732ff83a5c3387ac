"""Redis goes away (stopped, or frozen, or a peer that never answers) while the site saves."""

import statistics
import time

import pytest
from django.db import transaction

from durian.models import OutboxEvent
from durian.storage import connection as durian_connection
from durian.storage.connection import get_redis
from durian.testing import BlackHole
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .conftest import FAULTS_A, await_all, report

# FAULTS_A: two fault tests at most at once (tests/faults/conftest.py says why).
pytestmark = [pytest.mark.fault, FAULTS_A, pytest.mark.timeout(400)]

#: What Redis trouble may add to one save: the request-path timeout (1 s) plus generous slack for a
#: busy machine; still far below what redis-py's default retries take (about 4 s refused, 60 s silent).
BOUND = 1.0 + 2.0


def timed_save(i: int, prefix: str) -> float:
    """One save, in its own transaction (even ``i``) or in autocommit mode (odd ``i``); its duration."""
    started = time.monotonic()
    if i % 2:
        Person.objects.create(name=f"{prefix}{i}", address="a", secret="s")
    else:
        with transaction.atomic():
            Person.objects.create(name=f"{prefix}{i}", address="a", secret="s")
    return time.monotonic() - started


def test_redis_stopped_during_1000_saves_then_restarted_delivers_all(cluster, receiver):
    PersonHook().listener(url=receiver.url).save()
    cluster.start_worker()
    durations = {"before": [], "during": [], "after": []}
    phase = "before"
    for i in range(1000):
        if i == 300:
            cluster.redis.stop()
            stopped_at = time.monotonic()
            phase = "during"
        if i == 700:
            waiting = OutboxEvent.objects.count()
            cluster.redis.restart()
            restarted_at = time.monotonic()
            phase = "after"
        durations[phase].append(timed_save(i, "outage"))
        time.sleep(0.005)
    outage = restarted_at - stopped_at
    assert waiting >= 390  # the saves during the outage waited in the outbox (a few got through before)

    tally = await_all(receiver, 1000, saved={f"outage{i}" for i in range(1000)})
    recovered_in = time.monotonic() - restarted_at - 0.5
    baseline = statistics.median(durations["before"])
    extra = max(durations["during"]) - baseline
    report(
        "Redis stopped during 1000 saves",
        tally,
        outage_s=outage,
        waited_in_outbox=waiting,
        save_median_ms=baseline * 1000,
        max_extra_per_save_s=extra,
        recovered_s=recovered_in,
    )
    tally.assert_complete(max_duplicates=0)
    assert extra < BOUND
    assert not OutboxEvent.objects.exists()


def test_saves_return_within_the_bound_while_redis_is_frozen(cluster, receiver):
    PersonHook().listener(url=receiver.url).save()
    cluster.start_worker()
    timed_save(0, "warm")
    cluster.redis.freeze()  # SIGSTOP: connections open, nothing answers
    try:
        durations = []
        for i in range(1, 21):
            durations.append(timed_save(i, "frozen"))
            time.sleep(0.1)
    finally:
        cluster.redis.thaw()
    tally = await_all(receiver, 21, saved={"warm0"} | {f"frozen{i}" for i in range(1, 21)})
    report(
        "Redis frozen (SIGSTOP) during 20 saves",
        tally,
        # a save that timed out left its events in the outbox though Redis got them later: relayed twice
        relayed_twice=get_redis("worker").xlen("durian:events") - 21,
        slowest_save_s=max(durations),
        saves_that_waited=sum(d > 0.5 for d in durations),
        recovered_s=tally.seconds,
    )
    assert max(durations) < BOUND
    tally.assert_complete(max_duplicates=0)


def test_saves_return_within_the_bound_when_redis_accepts_and_never_answers(cluster, receiver, settings):
    PersonHook().listener(url=receiver.url).save()
    cluster.start_worker()
    with BlackHole() as hole:
        settings.DURIAN_REDIS_URL = f"redis://127.0.0.1:{hole.port}/0"  # the site only; workers reach the real Redis
        durations = [timed_save(i, "blackhole") for i in range(20)]
    settings.DURIAN_REDIS_URL = cluster.redis.url  # the site reaches its Redis again
    durian_connection.reset()
    tally = await_all(
        receiver, 20, what="all 20 events (through the sweep)", saved={f"blackhole{i}" for i in range(20)}
    )
    report(
        "Redis peer that never answers, 20 saves",
        tally,
        slowest_save_s=max(durations),
        saves_that_waited=sum(d > 0.5 for d in durations),
        swept_in_s=tally.seconds,
    )
    assert max(durations) < BOUND
    tally.assert_complete(max_duplicates=0)
