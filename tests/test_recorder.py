"""Delivery records: failed attempts stored at once in full, successful ones in background batches."""

import pytest

from durian.core.event import Event
from durian.models import Delivery
from durian.pipeline.queue import item
from durian.storage import recorder as recorder_module
from durian.storage.recorder import Recorder
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .inprocess import running_worker
from .waiting import deliver_now, wait_until

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def recorder(monkeypatch):
    """This test's own recorder (and thread): no test waits on an interval an earlier test set."""
    own = Recorder()
    monkeypatch.setattr(recorder_module, "recorder", own)
    return own


@pytest.fixture
def batches(monkeypatch):
    """The size of every statement batch the recorder stores, in order."""
    sizes = []
    insert = recorder_module._insert

    def counting(records):
        sizes.append(len(records))
        insert(records)

    monkeypatch.setattr(recorder_module, "_insert", counting)
    return sizes


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


def test_successful_attempts_are_recorded_in_one_background_batch_soon_after(
    listener, receiver, settings, recorder, batches
):
    # Long enough that the 30 concurrent attempts all finish within one interval, however the
    # delivery threads interleave them; the claim is one insert per interval, not per attempt.
    settings.DURIAN_RECORD_INTERVAL_MS = 2000
    events = [Event(hook="person", payload={"name": f"P{i}", "address": "a"}) for i in range(30)]
    deliver_now([item(e, listener.pk) for e in events])
    assert len(receiver.requests) == 30
    wait_until(lambda: Delivery.objects.count() == 30, 30, "30 delivery records")
    assert recorder.pending() == 0
    assert batches == [30]
    assert set(Delivery.objects.values_list("webhook_id", flat=True)) == {e.webhook_id(listener.pk) for e in events}
    assert all(d.ok and d.status_code == 200 and d.attempt == 1 for d in Delivery.objects.all())


def test_flush_stores_what_is_waiting_at_once(listener, receiver, settings, recorder):
    settings.DURIAN_RECORD_INTERVAL_MS = 60_000
    deliver_now([item(Event(hook="person", payload={"name": "Joe", "address": "a"}), listener.pk)])
    assert (recorder.pending(), Delivery.objects.count()) == (1, 0)
    assert recorder.flush() == 1
    assert (recorder.pending(), Delivery.objects.filter(ok=True).count()) == (0, 1)


def test_with_batching_off_every_record_is_stored_at_once(listener, receiver, settings, recorder):
    settings.DURIAN_RECORD_INTERVAL_MS = 0
    deliver_now([item(Event(hook="person", payload={"name": "Joe", "address": "a"}), listener.pk)])
    assert Delivery.objects.filter(ok=True).count() == 1
    assert recorder.pending() == 0


def test_a_worker_that_shuts_down_stores_the_records_still_waiting(listener, receiver, settings, recorder):
    settings.DURIAN_RECORD_INTERVAL_MS = 60_000  # the batch would wait a minute
    with running_worker(threads=2):
        Person.objects.create(name="Joe")
        receiver.wait_for(1, timeout=30)
        wait_until(lambda: recorder.pending() == 1, 30, "the record to wait in the batch")
        assert Delivery.objects.count() == 0
    assert Delivery.objects.filter(ok=True, listener=listener).count() == 1
