"""Backfill on subscribe (issue 20): a listener made with ``backfill=True`` first receives one event
for each existing row its filters match, in primary-key order, then its live events, with none lost
and none twice. Checked against a real receiver and a real worker; the pages, admin and the API are
in tests/web/.

The rule for rows that would otherwise come twice: live events committed while the backfill runs wait
and are delivered after it; a row whose live event is kept that way is left to that event (it carries
the same or a newer state); a change committed after the backfill read its row arrives as its own
live event.
"""

from __future__ import annotations

import io
import json
import time

import pytest
import redis
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from standardwebhooks import Webhook

from durian.exceptions import PayloadError
from durian.hook import Hook
from durian.match import Startswith
from durian.models import Backfill, DeadLetter, Delivery, Listener
from durian.pipeline import backfill as backfills
from durian.pipeline.resend import resend
from durian.registry import hooks
from durian.storage import listener_cache
from example_project.people.hooks import PersonHook
from example_project.people.models import Person
from tests.inprocess import running_worker

URL = "https://client.test/hook"


class PingHook(Hook):
    """A hook fired by hand: no rows to backfill."""

    name = "backfill.ping"
    provides_args = ["n"]


class BrokenPersonHook(PersonHook):
    """A hook whose ``shape()`` fails on some rows."""

    name = "person.broken"

    def shape(self, instance, data):
        if instance.name == "Bad":
            raise PayloadError("no bad rows")
        return data


@pytest.fixture
def broken_hook():
    hooks.register(BrokenPersonHook)
    yield
    hooks.unregister(BrokenPersonHook)


@pytest.fixture
def ping_hook():
    hooks.register(PingHook)
    yield
    hooks.unregister(PingHook)


def names(requests) -> list[str]:
    return [r.json()["name"] for r in requests]


def backfilled(requests) -> list:
    return [r for r in requests if r.headers.get("durian-backfill") == "1"]


def live(requests) -> list:
    return [r for r in requests if "durian-backfill" not in r.headers]


def existing(*people: tuple[str, str]) -> list[Person]:
    """Rows the site had before the listener: written without firing hooks (their events, if any,
    were delivered long ago), in primary-key order."""
    Person.objects.bulk_create([Person(name=name, address=address) for name, address in people])
    return list(Person.objects.order_by("pk"))


def wait_until(check, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


# -- what a receiver gets --------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_backfill_sends_the_existing_matching_rows_then_live_events_none_lost_and_none_twice(
    redis_client, receiver, settings
):
    settings.DURIAN_BACKFILL_CHUNK = 1  # one row at a time: rows change between chunks
    settings.DURIAN_SWEEP_INTERVAL = 0.2
    ann, bob, _, _ = existing(
        ("Jo Ann", "1 Main St"),
        ("Jo Bob", "2 Main St"),
        ("Xavier", "3 Main St"),  # does not match the filter
        ("Jo Cy", "4 Main St"),
    )
    hook = hooks.get("person")
    listener = PersonHook().listener(url=receiver.url, backfill=True).match(name=Startswith("Jo")).save()
    assert listener_cache.view(Listener.objects.get(pk=listener.pk)).waits_for == ("backfill",)

    def meanwhile(backfill: Backfill) -> None:
        if backfill.read == 1:  # Ann was read and sent; Bob, Xavier and Cy were not
            bob.address = "2b Main St"
            bob.save()  # before the backfill reads Bob: his live event carries him
            Person.objects.create(name="Jo Dee", address="5 Main St")  # after the watermark: live only
            ann.address = "1b Main St"
            ann.save()  # after the backfill read Ann: her change arrives as its own live event

    with running_worker():  # starts on an empty queue: the backfill is run here, as the actor runs it
        backfills.run(listener.pk, hook, progress=meanwhile)  # in this process, to change rows between chunks
        receiver.wait_for(5)
        time.sleep(0.5)  # nothing more comes
        requests = receiver.delivered

    bodies = [(r.json()["name"], r.json()["address"]) for r in requests]
    assert len(bodies) == len(set(bodies)) == 5, bodies  # nothing twice
    # Queued in primary-key order (an ordered listener also gets them in that order, see below); Bob
    # is left to his live event, Xavier does not match.
    assert sorted((r.json()["name"], r.json()["address"]) for r in backfilled(requests)) == [
        ("Jo Ann", "1 Main St"),
        ("Jo Cy", "4 Main St"),
    ]
    assert sorted((r.json()["name"], r.json()["address"]) for r in live(requests)) == [
        ("Jo Ann", "1b Main St"),  # changed after the backfill read it: its own live event
        ("Jo Bob", "2b Main St"),  # changed before the backfill read it: carried by its live event
        ("Jo Dee", "5 Main St"),  # made after the backfill began: live only
    ]
    assert requests.index(live(requests)[0]) > requests.index(backfilled(requests)[-1])
    assert all(r.json()["created"] is False for r in backfilled(requests))
    assert all(set(r.json()) == {"name", "address", "created"} for r in requests)  # the row's key stays here

    backfill = Backfill.objects.get(listener=listener)
    assert (backfill.state, backfill.total, backfill.read, backfill.sent, backfill.skipped) == ("done", 4, 4, 2, 1)
    assert backfill.describe() == "done: 4 of 4 rows read, 2 events sent"
    assert listener_cache.view(Listener.objects.get(pk=listener.pk)).waits_for == ()
    for request in requests:  # signed like any delivery
        Webhook(listener.secret).verify(request.body, request.headers)
    wait_until(lambda: Delivery.objects.filter(listener=listener, ok=True).count() == 5)  # and recorded


@pytest.mark.django_db(transaction=True)
def test_a_backfill_run_by_a_worker_sends_every_matching_row_then_live_events(worker, receiver, settings):
    settings.DURIAN_BACKFILL_CHUNK = 2
    settings.DURIAN_SWEEP_INTERVAL = 0.2
    existing(*[(f"Jo {n}", f"{n} Main St") for n in range(5)])
    listener = PersonHook().listener(url=receiver.url, backfill=True).save()
    Person.objects.create(name="Jo new", address="9 Main St")
    requests = receiver.wait_for(6)
    assert sorted(names(backfilled(requests))) == [f"Jo {n}" for n in range(5)]
    assert requests.index(live(requests)[0]) > requests.index(backfilled(requests)[-1])
    assert names(live(requests)) == ["Jo new"]
    wait_until(lambda: Backfill.objects.get(listener=listener).state == "done")


@pytest.mark.django_db(transaction=True)
def test_a_backfilled_delivery_that_fails_is_retried_on_the_listener_s_schedule(worker, receiver, settings):
    existing(("Jo", "1 Main St"))
    receiver.respond(500)
    listener = PersonHook().listener(url=receiver.url, backfill=True, retry_schedule=[1]).save()
    first, second = receiver.wait_for(2, delivered=False)
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert second.headers["durian-backfill"] == "1"
    assert second.at - first.at >= 0.7
    wait_until(lambda: Delivery.objects.filter(listener=listener).count() == 2)


@pytest.mark.django_db(transaction=True)
def test_a_backfilled_dead_letter_re_sent_from_admin_is_still_marked(worker, receiver):
    existing(("Jo", "1 Main St"))
    receiver.respond(500, times=2)
    listener = PersonHook().listener(url=receiver.url, backfill=True, retry_schedule=[1]).save()
    receiver.wait_for(2, delivered=False)
    wait_until(lambda: DeadLetter.objects.filter(listener=listener).exists())
    letter = DeadLetter.objects.get(listener=listener)
    assert letter.backfill
    assert resend([letter]) == (1, 0)
    third = receiver.requests[-1]
    assert third.headers["durian-backfill"] == "1" and third.status == 200


@pytest.mark.django_db(transaction=True)
def test_an_ordered_listener_gets_its_backfill_one_at_a_time_before_its_live_events(worker, receiver, settings):
    settings.DURIAN_BACKFILL_CHUNK = 1  # the lane runs while rows are still added in front
    settings.DURIAN_SWEEP_INTERVAL = 0.2
    existing(*[(f"Jo {n}", "x") for n in range(6)])
    PersonHook().listener(url=receiver.url, backfill=True, ordered=True).save()
    Person.objects.create(name="Jo new", address="x")
    requests = receiver.wait_for(7)
    assert names(requests) == [*(f"Jo {n}" for n in range(6)), "Jo new"]
    assert len(backfilled(requests)) == 6


@pytest.mark.django_db(transaction=True)
def test_a_backfill_resumes_where_a_stopped_run_was_without_sending_a_row_twice(redis_client, receiver, settings):
    settings.DURIAN_BACKFILL_CHUNK = 2
    rows = existing(*[(f"Jo {n}", "x") for n in range(5)])
    listener = PersonHook().listener(url=receiver.url, backfill=True).save()
    hook = hooks.get("person")

    def redis_lost_after_the_first_chunk(backfill: Backfill) -> None:
        raise redis.ConnectionError("Connection reset by peer")

    with running_worker():  # starts on an empty queue: the backfills below run here
        with pytest.raises(redis.ConnectionError):
            backfills.run(listener.pk, hook, progress=redis_lost_after_the_first_chunk)
        backfill = Backfill.objects.get(listener=listener)
        assert (backfill.state, backfill.position, backfill.read, backfill.sent) == ("running", str(rows[1].pk), 2, 2)
        assert Listener.objects.get(pk=listener.pk).waits_for == ("backfill",)  # still waiting for the rest
        # Had the worker been killed between queueing the chunk and saving its position, the next run would
        # queue that chunk again: with the same event ids, so it is delivered once.
        Backfill.objects.filter(listener=listener).update(position=None, read=0, sent=0)
        backfill = backfills.run(listener.pk, hook)  # what the actor's retry does
        assert (backfill.state, backfill.read, backfill.sent) == ("done", 5, 5)
        receiver.wait_for(5)
        time.sleep(0.5)
        requests = receiver.delivered
    assert sorted(names(requests)) == [f"Jo {n}" for n in range(5)]  # each once


@pytest.mark.django_db(transaction=True)
def test_a_failing_backfill_says_why_and_stops_holding_the_live_events(redis_client, broken_hook):
    existing(("Jo", "x"), ("Bad", "x"))
    listener = BrokenPersonHook().listener(url=URL, backfill=True).save()
    with pytest.raises(PayloadError):
        backfills.run(listener.pk, hooks.get("person.broken"))
    backfill = Backfill.objects.get(listener=listener)
    assert backfill.state == "failed" and backfill.read == 0
    assert backfill.describe() == "failed after 0 of 2 rows read, 0 events sent: PayloadError: no bad rows"
    assert listener_cache.view(Listener.objects.get(pk=listener.pk)).waits_for == ()


@pytest.mark.django_db(transaction=True)
def test_a_listener_deleted_during_its_backfill_ends_it_quietly(redis_client, settings):
    settings.DURIAN_BACKFILL_CHUNK = 1
    existing(("Jo 1", "x"), ("Jo 2", "x"))
    listener = PersonHook().listener(url=URL, backfill=True).save()
    assert backfills.run(listener.pk, hooks.get("person"), progress=lambda b: Listener.objects.all().delete()) is None
    assert not Backfill.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_a_listener_saved_after_its_backfill_is_published_without_the_wait(redis_client):
    listener = PersonHook().listener(url=URL, backfill=True).save()  # this instance saw the backfill pending
    backfills.run(listener.pk, hooks.get("person"))
    listener.pause()
    listener.enable()
    holder = listener_cache.SnapshotHolder()
    assert holder.get(redis_client).by_id[listener.pk].waits_for == ()


@pytest.mark.django_db(transaction=True)
def test_with_no_worker_handing_off_events_the_backfill_goes_on_after_a_while_and_says_so(
    redis_client, settings, caplog
):
    settings.DURIAN_BACKFILL_SETTLE_WAIT = 0.3
    settings.DURIAN_BACKFILL_CHUNK = 1
    existing(("Jo 1", "x"), ("Jo 2", "x"))
    listener = PersonHook().listener(url=URL, backfill=True).save()
    Person.objects.create(name="Jo 3", address="x")  # its event waits in the stream: no worker reads it
    started = time.monotonic()
    backfill = backfills.run(listener.pk, hooks.get("person"))
    assert time.monotonic() - started < 2  # waited once, not once per chunk
    assert (backfill.state, backfill.sent) == ("done", 3)
    assert "going on without waiting (a row changed meanwhile may arrive twice)" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_worker_finding_the_backfill_run_elsewhere_looks_again_later(redis_client):
    import dramatiq

    from durian.conf import settings as durian_settings
    from durian.storage import backfill as live
    from workers.actors import backfill as actor

    listener = PersonHook().listener(url=URL, backfill=True).save()
    broker = dramatiq.get_broker()
    if not hasattr(broker, "client"):
        pytest.skip("reads the Redis broker's delayed messages")
    broker.flush_all()
    assert live.run_lease(redis_client, listener.pk).acquire()  # another process runs it
    actor.fn(listener.pk)
    delayed = broker.client.hvals(f"dramatiq:{durian_settings.QUEUE_NAME}.DQ.msgs")
    assert [json.loads(raw)["actor_name"] for raw in delayed] == ["durian.backfill"]
    assert Backfill.objects.get(listener=listener).state == "pending"  # left to the process that runs it


# -- making one ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_backfill_is_only_for_a_model_hook(ping_hook, redis_client):
    with pytest.raises(ValidationError) as info:
        PingHook().listener(url=URL, backfill=True).save()
    assert info.value.message_dict == {
        "backfill": ["Hook 'backfill.ping' is not tied to a model: only a ModelHook's rows can be backfilled."]
    }
    assert not Listener.objects.exists()


@pytest.mark.django_db
def test_a_delete_hook_cannot_be_backfilled(invoice_hooks, redis_client):
    from tests.testapp.hooks import InvoiceDeletedHook

    with pytest.raises(ValidationError) as info:
        InvoiceDeletedHook().listener(url=URL, backfill=True).save()
    assert list(info.value.message_dict) == ["backfill"]
    assert "deleted" in info.value.message_dict["backfill"][0]
    assert not Listener.objects.exists()


@pytest.mark.django_db
def test_a_hook_delivered_in_the_saving_process_cannot_be_backfilled(redis_client):
    class LocalPersonHook(PersonHook):
        name = "person.local"
        async_ = False

    hooks.register(LocalPersonHook)
    try:
        with pytest.raises(ValidationError) as info:
            LocalPersonHook().listener(url=URL, backfill=True).save()
    finally:
        hooks.unregister(LocalPersonHook)
    assert info.value.message_dict == {
        "backfill": ["Hook 'person.local' delivers in the saving process (async_ = False): it cannot be backfilled."]
    }


@pytest.mark.django_db
def test_a_listener_without_backfill_waits_for_nothing(redis_client):
    listener = PersonHook().listener(url=URL).save()
    assert not Backfill.objects.exists()
    assert listener.waits_for == ()


@pytest.mark.django_db
def test_a_backfill_with_no_rows_is_done_at_once(redis_client):
    listener = PersonHook().listener(url=URL, backfill=True).save()
    assert Listener.objects.get(pk=listener.pk).waits_for == ("backfill",)
    backfill = backfills.run(listener.pk, hooks.get("person"))
    assert (backfill.state, backfill.total, backfill.sent) == ("done", 0, 0)
    assert Listener.objects.get(pk=listener.pk).waits_for == ()


# -- manage.py durian_backfill ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_durian_backfill_runs_a_listener_s_backfill_again(redis_client, receiver):
    existing(("Jo", "1 Main St"))
    listener = PersonHook().listener(url=receiver.url).save()
    out = io.StringIO()
    with running_worker():
        call_command("durian_backfill", str(listener.pk), stdout=out, stderr=io.StringIO())
        backfill = Backfill.objects.get(listener=listener)
        assert (backfill.state, backfill.sent, backfill.run) == ("done", 1, 1)
        assert "1 of 1 rows read, 1 events sent" in out.getvalue()
        call_command("durian_backfill", str(listener.pk), stdout=out, stderr=io.StringIO())
        assert Backfill.objects.get(listener=listener).run == 2
        requests = receiver.wait_for(2)
    assert names(requests) == ["Jo", "Jo"]
    assert requests[0].headers["webhook-id"] != requests[1].headers["webhook-id"]  # a new run, new events


@pytest.mark.django_db
def test_durian_status_lists_the_backfills_not_done(redis_client):
    existing(("Jo", "x"))
    listener = PersonHook().listener(url=URL, backfill=True).save()
    out = io.StringIO()
    call_command("durian_status", stdout=out)
    assert f"Backfills not done: 1\n  listener {listener.pk}: waiting for a worker" in out.getvalue()
    backfills.run(listener.pk, hooks.get("person"))
    out = io.StringIO()
    call_command("durian_status", stdout=out)
    assert "Backfills not done" not in out.getvalue()


@pytest.mark.django_db
def test_durian_backfill_names_what_is_wrong(ping_hook, redis_client):
    with pytest.raises(CommandError, match="No listener with id 999"):
        call_command("durian_backfill", "999")
    with pytest.raises(CommandError, match="is not a listener id"):
        call_command("durian_backfill", "abc")
    listener = Listener.objects.create(hook="backfill.ping", url=URL)
    with pytest.raises(CommandError, match="only a ModelHook's rows can be backfilled"):
        call_command("durian_backfill", str(listener.pk))
