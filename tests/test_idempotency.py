"""A delivery handed on twice sends one webhook; a replay sends it again on purpose."""

import pytest

from durian.core.event import Event
from durian.pipeline import lanes
from durian.pipeline.queue import item
from durian.storage import idempotency
from example_project.people.hooks import PersonHook
from workers.actors import deliver


def deliver_now(items):
    """What the actor does with one message, and then the requests it handed on, settled."""
    deliver.fn(items)
    assert lanes.drain(30)


pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def listener(receiver, redis_client):
    return PersonHook().listener(url=receiver.url).save()


def test_the_same_delivery_handed_on_twice_reaches_the_receiver_once(listener, receiver):
    event = Event(hook="person", payload={"name": "Joe", "address": "a"})
    deliver_now([item(event, listener.pk)])
    deliver_now([item(event, listener.pk)])  # e.g. a reclaimed stream entry, or a redelivered message
    assert [r.headers["webhook-id"] for r in receiver.requests] == [event.webhook_id(listener.pk)]


def test_a_failed_attempt_gives_the_webhook_id_back_for_its_retry(listener, receiver, redis_client):
    event = Event(hook="person", payload={"name": "Joe", "address": "a"})
    receiver.respond(500)
    deliver_now([item(event, listener.pk)])
    assert not idempotency.delivered(redis_client, event.webhook_id(listener.pk))
    deliver_now([item(event, listener.pk, attempt=2)])
    assert [r.status for r in receiver.requests] == [500, 200]
    assert idempotency.delivered(redis_client, event.webhook_id(listener.pk))


def test_a_webhook_id_another_worker_is_posting_is_not_posted_again_meanwhile(listener, receiver, redis_client):
    event = Event(hook="person", payload={"name": "Joe", "address": "a"})
    wid = event.webhook_id(listener.pk)
    assert idempotency.claim(redis_client, wid, "other-worker").go
    taken = idempotency.claim(redis_client, wid, "me")
    assert taken.state == "busy" and 0 < taken.retry_in_ms <= idempotency.lease_ms()
    deliver_now([item(event, listener.pk)])  # looks again after the lease, in a delayed message
    assert receiver.requests == []


def test_a_replay_delivers_again_on_purpose(listener, receiver):
    event = Event(hook="person", payload={"name": "Joe", "address": "a"})
    deliver_now([item(event, listener.pk)])
    deliver_now([item(event, listener.pk, replay=True)])
    assert len(receiver.requests) == 2
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1
