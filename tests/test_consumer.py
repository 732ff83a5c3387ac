"""The stream consumer: batches through the consumer group, reclaiming what a dead consumer left."""

import dramatiq
import pytest
from django.db import transaction

from durian.conf import settings as durian_settings
from durian.storage import stream
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

pytestmark = pytest.mark.django_db(transaction=True)


def test_entries_left_pending_by_a_dead_consumer_are_reclaimed_and_delivered(redis_client, receiver, settings):
    settings.DURIAN_CLAIM_IDLE_MS = 50
    PersonHook().listener(url=receiver.url).save()
    stream.ensure_group(redis_client)
    Person.objects.create(name="Orphan")
    (entry_id, event), *_ = stream.read(redis_client, "a-consumer-that-died", 10, None)
    assert redis_client.xpending(durian_settings.STREAM_KEY, durian_settings.CONSUMER_GROUP)["pending"] == 1

    broker = dramatiq.get_broker()
    broker.flush_all()
    worker = dramatiq.Worker(broker, worker_threads=2, worker_timeout=100)
    worker.start()
    try:
        (request,) = receiver.wait_for(1)
    finally:
        worker.stop(timeout=10_000)
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


def test_a_listener_change_lost_while_redis_was_down_reaches_the_workers(worker, receiver, settings, redis_client):
    from durian.models import Listener
    from durian.storage import listener_cache as cache

    listener = PersonHook().listener(url=receiver.url).match(name="Joe").save()
    Person.objects.create(name="Joe")
    receiver.wait_for(1)
    redis_client.delete(f"{durian_settings.KEY_PREFIX}:listeners:stamp")  # as if a publish was lost
    Listener.objects.filter(pk=listener.pk).update(filters={"name": {"op": "is", "value": "Ann"}})
    assert cache.ensure_fresh(redis_client) is True
    assert cache.ensure_fresh(redis_client) is False
    Person.objects.create(name="Ann")
    receiver.wait_for(2)
    assert [b["name"] for b in receiver.bodies()] == ["Joe", "Ann"]
