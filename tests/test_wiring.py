"""The explicit wiring: the actor's name, the old name for one release, the middleware check, the
public API, one validation for every way of making a listener, and one rule for who receives."""

from __future__ import annotations

import html
import json

import dramatiq
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import override_settings

import durian
from durian.checks import STREAM_CONSUMER, check_dramatiq
from durian.conf import dramatiq_broker
from durian.conf import settings as durian_settings
from durian.core import match
from durian.core.event import Event
from durian.core.recipients import ListenerView, Snapshot, recipients
from durian.listeners import validate_listener
from durian.models import DeadLetter, Listener
from durian.pipeline.queue import ACTOR_NAME, LEGACY_ACTOR_NAME, item
from example_project.people.hooks import PersonHook
from example_project.people.models import Person
from tests.test_delivery import LocalPersonHook, local_hook  # noqa: F401  (fixture)


def test_the_delivery_actor_is_named_durian_deliver_on_the_configured_queue():
    import durian.tasks  # noqa: F401

    actor = dramatiq.get_broker().get_actor(ACTOR_NAME)
    assert ACTOR_NAME == "durian.deliver"
    assert actor.queue_name == durian_settings.QUEUE_NAME


@pytest.mark.django_db(transaction=True)
def test_a_message_queued_under_the_old_actor_name_is_still_delivered(worker, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    event = Event(hook="person", payload={"name": "Old", "address": "", "created": True})
    message = dramatiq.Message(
        queue_name=durian_settings.QUEUE_NAME,
        actor_name=LEGACY_ACTOR_NAME,
        args=([item(event, listener.pk)],),
        kwargs={},
        options={},
    )
    dramatiq.get_broker().enqueue(message)
    (request,) = receiver.wait_for(1)
    assert request.headers["webhook-id"] == event.webhook_id(listener.pk)


def test_tasks_installs_the_stream_consumer_middleware_once():
    import durian.tasks  # noqa: F401
    from workers.middleware import StreamConsumerMiddleware, install

    broker = dramatiq.get_broker()
    install(broker)
    assert sum(isinstance(m, StreamConsumerMiddleware) for m in broker.middleware) == 1


def test_check_warns_when_the_broker_does_not_list_the_stream_consumer():
    broker = dramatiq_broker("redis://127.0.0.1:6379/0")
    assert STREAM_CONSUMER in broker["MIDDLEWARE"]
    assert [e.id for e in check_dramatiq()] == []
    broker["MIDDLEWARE"].remove(STREAM_CONSUMER)
    with override_settings(DRAMATIQ_BROKER=broker):
        assert [e.id for e in check_dramatiq()] == ["durian.W003"]


def test_the_public_api_is_listed_for_dir_and_star_imports():
    names = {"ModelHook", "Hook", "hooks", "Startswith", "Like", "Event", "DurianError", "listener_disabled"}
    assert names <= set(dir(durian))
    assert names <= set(durian.__all__)
    for name in durian.__all__:
        assert getattr(durian, name) is not None
    with pytest.raises(AttributeError):
        durian.nothing_here  # noqa: B018


def view(id: int, state: str, **filters) -> ListenerView:
    return ListenerView(id, "person", f"https://h.test/{id}", ("whsec_x",), state, filters)


def test_recipients_are_active_paused_and_disabled_listeners_whose_filters_hold():
    from durian.core.match import Startswith

    snapshot = Snapshot.of(
        None,
        [
            view(1, "active"),
            view(2, "paused"),
            view(3, "disabled"),
            view(4, "active", name=Startswith("X")),
            ListenerView(5, "order", "https://h.test/5", ("whsec_x",), "active", {}),
        ],
    )
    got = recipients(snapshot, Event(hook="person", payload={"name": "Joe"}))
    assert [x.id for x in got] == [1, 2, 3]


@pytest.mark.django_db(transaction=True)
def test_local_delivery_follows_the_same_rule(local_hook, receiver, redis_client):  # noqa: F811
    active = local_hook.listener(url=receiver.url + "/active").save()
    paused = local_hook.listener(url=receiver.url + "/paused").save()
    disabled = local_hook.listener(url=receiver.url + "/disabled").save()
    Listener.objects.filter(pk=paused.pk).update(state=Listener.State.PAUSED)
    Listener.objects.filter(pk=disabled.pk).update(state=Listener.State.DISABLED)
    Person.objects.create(name="Joe")
    (request,) = receiver.wait_for(1, timeout=5)
    assert request.path.endswith("/active")
    # local delivery keeps nothing for later: a paused listener's events are kept as dead letters
    assert sorted(DeadLetter.objects.values_list("listener_id", "attempts")) == [(paused.pk, 0), (disabled.pk, 0)]
    assert not active.dead_letters.exists()


@pytest.mark.django_db(transaction=True)
def test_replay_follows_the_same_rule(redis_client, receiver):
    from durian.storage import stream

    PersonHook().listener(url=receiver.url + "/active").save()
    paused = PersonHook().listener(url=receiver.url + "/paused").save()
    Listener.objects.filter(pk=paused.pk).update(state=Listener.State.PAUSED)
    stream.append([Event(hook="person", payload={"name": "Joe", "address": "", "created": True})], redis_client)
    from io import StringIO

    out = StringIO()
    call_command("durian_replay", "--since", "1h", "--dry-run", stdout=out)
    assert "Deliveries that would be queued: 2 to 2 listener(s)" in out.getvalue()  # the paused one's are kept for it


@pytest.fixture
def staff_client(client, db):
    User.objects.create_superuser("boss", "boss@example.com", "pw")
    client.login(username="boss", password="pw")
    return client


#: Filters the builder refuses, as JSON (what the admin form's field takes).
REFUSED_FILTERS = [
    '{"shoe_size": {"op": "is", "value": 42}}',  # a field the hook does not provide
    '{"name": {"op": "like", "value": "("}}',  # a pattern that does not compile
    '{"name": {"op": "bogus"}}',  # no such matcher
    "[1, 2]",  # not an object
]


def builders_refusal(filters: str) -> ValidationError:
    """What the builder's check (``validate_listener``, which ``hook.listener(...).save()`` runs on the
    listener it builds) raises for a listener with these filters."""
    listener = Listener(hook="person", url="https://client.test/hook", filters=json.loads(filters))
    with pytest.raises(ValidationError) as refused:
        validate_listener(listener)
    return refused.value


@pytest.mark.parametrize("filters", REFUSED_FILTERS)
def test_the_admin_form_validates_like_the_builder_and_shows_errors_on_the_form(staff_client, filters):
    refusal = builders_refusal(filters)
    data = json.loads(filters)
    if isinstance(data, dict):  # filters Python's builder can take: it says the same
        with pytest.raises(ValidationError) as builder:
            PersonHook().listener(url="https://client.test/hook").match(
                **{field: match.from_json(m) for field, m in data.items()}
            ).save()
        assert builder.value.messages == refusal.messages
    # On the form, under its filters field: a payload field's message says which field.
    expected = [
        message if field == "filters" else f"{field}: {message}"
        for field, messages in refusal.message_dict.items()
        for message in messages
    ]

    response = staff_client.post(
        "/admin/durian/listener/add/",
        {"hook": "person", "url": "https://client.test/hook", "filters": filters, "state": "active"},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["filters"] == expected
    page = html.unescape(response.content.decode())
    assert all(f"<li>{message}</li>" in page for message in expected)
    assert not Listener.objects.exists()


def test_the_admin_form_refuses_an_unregistered_hook(staff_client):
    response = staff_client.post(
        "/admin/durian/listener/add/",
        {"hook": "nope", "url": "https://client.test/hook", "filters": "{}", "state": "active"},
    )
    assert response.status_code == 200
    assert "No hook named 'nope' is registered." in html.unescape(response.content.decode())


def test_a_process_that_never_loaded_the_actors_knows_the_queues_it_sends_deliveries_to(redis_client):
    """A web process or a command queues deliveries without importing the worker's actors; its
    broker must still know those queues, or ``flush_all()`` in a project's tests leaves them full."""
    from dramatiq.brokers.redis import RedisBroker

    from durian.pipeline import queue

    previous = dramatiq.get_broker()
    fresh = RedisBroker(client=redis_client)  # as a process sees it before any actor is declared
    dramatiq.set_broker(fresh)
    try:
        event = Event(hook="person", payload={"name": "Web", "address": ""})
        queue.send([item(event, 1)])
        queue.send([item(event, 2)], retry=True)
        assert {durian_settings.QUEUE_NAME, queue.retry_queue_name()} <= fresh.get_declared_queues()
        fresh.flush_all()
        assert redis_client.hlen(f"dramatiq:{durian_settings.QUEUE_NAME}.msgs") == 0
        assert redis_client.hlen(f"dramatiq:{queue.retry_queue_name()}.msgs") == 0
    finally:
        dramatiq.set_broker(previous)
