"""Delivery records: failed attempts stored at once in full, successful ones in background batches."""

import pytest

from durian.core.event import Event
from durian.models import Delivery
from durian.pipeline import lanes
from durian.pipeline.queue import item
from durian.storage.recorder import recorder
from example_project.people.hooks import PersonHook
from tests.test_delivery import wait_until
from workers.actors import deliver


def deliver_now(items):
    """What the actor does with one message, and then the requests it handed on, settled."""
    deliver.fn(items)
    assert lanes.drain(30)


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listener(receiver, redis_client):
    return PersonHook().listener(url=receiver.url).save()


def test_a_failed_attempt_is_recorded_before_the_message_is_done(listener, receiver):
    receiver.respond(500, body=b"down for maintenance")
    event = Event(hook="person", payload={"name": "Joe", "address": "a"})
    deliver_now([item(event, listener.pk)])
    record = Delivery.objects.get()
    assert (record.ok, record.status_code, record.webhook_id) == (False, 500, event.webhook_id(listener.pk))
    assert "HTTP 500" in record.error


def test_successful_attempts_are_recorded_in_one_background_batch_soon_after(listener, receiver, settings):
    settings.DURIAN_RECORD_INTERVAL_MS = 100
    events = [Event(hook="person", payload={"name": f"P{i}", "address": "a"}) for i in range(30)]
    deliver_now([item(e, listener.pk) for e in events])
    assert len(receiver.requests) == 30
    wait_until(lambda: Delivery.objects.count() == 30, timeout=5)
    assert recorder.pending() == 0
    assert set(Delivery.objects.values_list("webhook_id", flat=True)) == {e.webhook_id(listener.pk) for e in events}
    assert all(d.ok and d.status_code == 200 and d.attempt == 1 for d in Delivery.objects.all())


def test_flush_stores_what_is_waiting_at_once(listener, receiver, settings):
    settings.DURIAN_RECORD_INTERVAL_MS = 60_000
    deliver_now([item(Event(hook="person", payload={"name": "Joe", "address": "a"}), listener.pk)])
    assert recorder.flush() + Delivery.objects.count() >= 1  # the recorder thread may have been faster
    assert Delivery.objects.filter(ok=True).count() == 1


def test_with_batching_off_every_record_is_stored_at_once(listener, receiver, settings):
    settings.DURIAN_RECORD_INTERVAL_MS = 0
    deliver_now([item(Event(hook="person", payload={"name": "Joe", "address": "a"}), listener.pk)])
    assert Delivery.objects.filter(ok=True).count() == 1
