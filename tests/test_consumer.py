"""The stream consumer: batches through the consumer group, reclaiming what a dead consumer left."""

import pytest
from django.db import transaction

from durian.conf import settings as durian_settings
from durian.storage import stream
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .inprocess import running_worker
from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fast_sweep(settings):
    """Workers sweep the outbox (and check the listener cache) every 0.2 s instead of 5 s."""
    settings.DURIAN_SWEEP_INTERVAL = 0.2


def test_entries_left_pending_by_a_dead_consumer_are_reclaimed_and_delivered(redis_client, receiver, settings):
    settings.DURIAN_CLAIM_IDLE_MS = 50
    PersonHook().listener(url=receiver.url).save()
    stream.ensure_group(redis_client)
    Person.objects.create(name="Orphan")
    (entry_id, event), *_ = stream.read(redis_client, "a-consumer-that-died", 10, None)
    assert redis_client.xpending(durian_settings.STREAM_KEY, durian_settings.CONSUMER_GROUP)["pending"] == 1

    with running_worker(threads=2):
        (request,) = receiver.wait_for(1)
    assert request.headers["webhook-id"].startswith(f"msg_{event.id}_")
    assert redis_client.xpending(durian_settings.STREAM_KEY, durian_settings.CONSUMER_GROUP)["pending"] == 0


def test_a_burst_in_one_transaction_is_delivered_in_full(worker, receiver):
    PersonHook().listener(url=receiver.url).save()
    with transaction.atomic():
        for i in range(300):
            Person.objects.create(name=f"P{i}")
    received = receiver.wait_for(300, timeout=60)
    assert sorted(r.json()["name"] for r in received) == sorted(f"P{i}" for i in range(300))
    assert len({r.headers["webhook-id"] for r in received}) == 300


def test_a_listener_change_lost_while_redis_was_down_reaches_the_workers_at_their_next_sweep(
    fast_sweep, worker, receiver, redis_client
):
    from durian.models import Listener

    listener = PersonHook().listener(url=receiver.url).match(name="Joe").save()
    Person.objects.create(name="Joe")
    receiver.wait_for(1)
    stamp = f"{durian_settings.KEY_PREFIX}:listeners:stamp"
    redis_client.delete(stamp)  # as if the publish of the change below was lost
    Listener.objects.filter(pk=listener.pk).update(filters={"name": {"op": "is", "value": "Ann"}})
    # Nothing in this process touches the cache: only the worker's own sweep can notice the change.
    wait_until(lambda: redis_client.exists(stamp), 30, "the worker's sweep to rebuild the listener cache")
    Person.objects.create(name="Ann")
    Person.objects.create(name="Joe")
    receiver.wait_for(2, timeout=30)
    Person.objects.create(name="Ann")
    receiver.wait_for(3, timeout=30)
    assert [b["name"] for b in receiver.bodies()] == ["Joe", "Ann", "Ann"]
