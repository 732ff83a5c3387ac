"""A delivery handed on twice sends one webhook; a replay sends it again on purpose."""

import pytest

from durian.core.event import Event
from durian.pipeline.queue import item
from durian.storage import idempotency
from example_project.people.hooks import PersonHook

from .waiting import deliver_now, wait_until

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


def test_a_webhook_id_another_worker_is_posting_is_not_posted_again_meanwhile_but_once_its_lease_runs_out(
    listener, receiver, redis_client, worker
):
    event = Event(hook="person", payload={"name": "Joe", "address": "a"})
    wid = event.webhook_id(listener.pk)
    redis_client.set(idempotency.key(wid), "other-worker", px=1500)  # its lease; it dies while posting
    taken = idempotency.claim(redis_client, wid, "me")
    assert taken.state == "busy" and 0 < taken.retry_in_ms <= 1500
    deliver_now([item(event, listener.pk)])  # looks again after the lease, in a delayed message
    assert receiver.requests == []
    (request,) = receiver.wait_for(1, timeout=30)
    assert request.headers["webhook-id"] == wid
    wait_until(lambda: idempotency.delivered(redis_client, wid), 30, "the webhook-id to be marked delivered")
    assert len(receiver.requests) == 1


def test_a_replay_delivers_again_on_purpose(listener, receiver):
    event = Event(hook="person", payload={"name": "Joe", "address": "a"})
    deliver_now([item(event, listener.pk)])
    deliver_now([item(event, listener.pk, replay=True)])
    assert len(receiver.requests) == 2
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 1


def test_the_first_delivery_a_process_marks_is_marked_done(redis_client):
    """The marks start their thread on first use; that first mark must land as "done", not as an
    in-flight record to clear (a lost done mark lets a duplicate through once the lease runs out)."""
    from durian.storage.marks import Marks

    fresh = Marks()  # as in a worker process that has marked nothing yet
    redis_client.set(idempotency.key("msg_first_1"), "a-lease", px=60_000)
    fresh.delivered("msg_first_1")
    wait_until(lambda: idempotency.delivered(redis_client, "msg_first_1"), 10, "the first mark to be written as done")
    assert fresh.pending() == 0
