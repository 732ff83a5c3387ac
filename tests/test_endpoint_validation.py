"""Endpoint validation (``DURIAN_VERIFY_ENDPOINTS``): the CloudEvents webhook abuse-protection handshake.

A listener whose URL has not agreed to get webhooks (``OPTIONS`` with ``WebHook-Request-Origin``,
answered with ``WebHook-Allowed-Origin``) gets no events; they are kept, and delivered once it agrees.
Real receivers, a real worker, a real forward proxy.
"""

from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from durian.checks import check_settings
from durian.core.event import Event
from durian.models import DeadLetter, Listener
from durian.pipeline import queue, validation
from durian.registry import hooks
from durian.storage import parked
from durian.storage.lease import Lease
from durian.testing import FixedResolver, Receiver
from durian.transport.handshake import webhook_origin
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .proxy import ForwardProxy, port_of
from .test_delivery import LocalPersonHook
from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = "webhooks.durian.test"


@pytest.fixture
def verifying(settings):
    """Validation on, with a named origin, and quick rounds: the sweep every 0.1 s, a retry 0.2 s after a refusal."""
    settings.DURIAN_VERIFY_ENDPOINTS = True
    settings.DURIAN_WEBHOOK_ORIGIN = ORIGIN
    settings.DURIAN_SWEEP_INTERVAL = 0.1
    settings.DURIAN_VERIFY_SCHEDULE = [0.2]
    return settings


def names_of(receiver: Receiver) -> list[str]:
    return [body["name"] for body in receiver.bodies()]


@pytest.mark.parametrize("ordered", [False, True], ids=["unordered", "ordered"])
def test_an_endpoint_that_does_not_answer_the_handshake_gets_no_events_and_gets_them_once_it_answers(
    verifying, worker, receiver, ordered
):
    listener = PersonHook().listener(url=receiver.url, ordered=ordered).save()
    for name in ("Ann", "Bob", "Cid"):
        Person.objects.create(name=name)

    receiver.wait_for_handshakes(3)  # asked at once, then again on its schedule: refused each time
    assert receiver.requests == [], "an endpoint that never agreed got an event"
    listener.refresh_from_db()
    assert listener.validation_state == "failed"
    assert "WebHook-Allowed-Origin" in listener.validation_error
    assert listener.waits_for == ("validation",)

    receiver.allow_origin("*")

    receiver.wait_for(3)
    got = names_of(receiver)
    assert (got if ordered else sorted(got)) == ["Ann", "Bob", "Cid"]  # none lost; an ordered listener's in order
    listener.refresh_from_db()
    assert listener.validation_state == "validated" and listener.waits_for == ()
    Person.objects.create(name="Dee")  # from now on, delivered as it comes
    receiver.wait_for(4)
    assert names_of(receiver)[3] == "Dee"
    assert len({r.headers["webhook-id"] for r in receiver.requests}) == 4  # nothing twice


def test_the_handshake_names_the_sites_origin_carries_the_listeners_headers_and_the_exact_origin_is_accepted(
    verifying, redis_client, receiver
):
    listener = PersonHook().listener(url=receiver.url, rate_limit=2, headers={"Authorization": "Bearer t0k"}).save()
    receiver.allow_origin(ORIGIN)

    result = validation.run(listener.pk)

    assert result is not None and result.ok
    (asked,) = receiver.handshakes
    assert asked.method == "OPTIONS" and asked.path == "/hook"
    assert asked.headers["webhook-request-origin"] == ORIGIN
    assert asked.headers["webhook-request-rate"] == "120"  # 2 per second, said per minute
    assert asked.headers["authorization"] == "Bearer t0k"  # the listener's own headers go with it
    listener.refresh_from_db()
    assert listener.validation_state == "validated" and listener.validation_error == ""


def test_an_endpoint_that_allows_another_origin_is_refused(verifying, redis_client, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    receiver.allow_origin("someone-else.test")

    result = validation.run(listener.pk)

    assert result is not None and not result.ok
    listener.refresh_from_db()
    assert listener.validation_state == "failed"
    assert listener.validation_error == (
        f"HTTP 200 with WebHook-Allowed-Origin 'someone-else.test': the endpoint must allow '{ORIGIN}' or '*'"
    )
    assert listener.validation_next_at is not None  # tried again on its schedule
    assert listener.waits_for == ("validation",)


def test_an_endpoint_that_answers_with_an_error_is_refused_with_its_status(verifying, redis_client, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    receiver.allow_origin("*", status=404)
    result = validation.run(listener.pk)
    assert result is not None and not result.ok
    assert result.error == "HTTP 404: the endpoint must answer the validation request (OPTIONS) with 2xx"


def test_the_origin_defaults_to_the_host_of_the_cloudevents_source(settings):
    settings.DURIAN_CLOUDEVENTS_SOURCE = "https://events.shop.test/webhooks"
    assert webhook_origin() == "events.shop.test"
    settings.DURIAN_WEBHOOK_ORIGIN = "hooks.shop.test"
    assert webhook_origin() == "hooks.shop.test"


def test_a_new_url_is_validated_again_and_gets_nothing_until_it_answers(verifying, worker, receiver):
    receiver.allow_origin("*")
    listener = PersonHook().listener(url=receiver.url).save()
    wait_until(lambda: Listener.objects.get(pk=listener.pk).validation_state == "validated", what="validation")
    Person.objects.create(name="Ann")
    receiver.wait_for(1)

    with Receiver() as moved:
        listener.url = moved.url
        listener.save()
        assert listener.validation_state == "pending"
        Person.objects.create(name="Bob")
        moved.wait_for_handshakes(2)
        assert moved.requests == [] and names_of(receiver) == ["Ann"]  # not to the new URL, nor the old one

        moved.allow_origin(ORIGIN)

        moved.wait_for(1)
        assert names_of(moved) == ["Bob"]
    assert names_of(receiver) == ["Ann"]


def test_switching_validation_on_holds_listeners_cached_before_it(settings, worker, receiver, redis_client):
    """The cache entry was built with validation off: the worker still decides with the setting as it is now."""
    settings.DURIAN_SWEEP_INTERVAL = 0.1
    listener = PersonHook().listener(url=receiver.url).save()
    Person.objects.create(name="Ann")
    receiver.wait_for(1)
    assert receiver.handshakes == []  # validation off: no handshake, delivered at once

    settings.DURIAN_VERIFY_ENDPOINTS = True
    settings.DURIAN_VERIFY_SCHEDULE = [0.2]
    Person.objects.create(name="Bob")
    receiver.wait_for_handshakes(1)
    wait_until(lambda: parked.count(redis_client, listener.pk) == 1, what="Bob's event kept")
    assert names_of(receiver) == ["Ann"]

    receiver.allow_origin("*")
    receiver.wait_for(2)
    assert names_of(receiver) == ["Ann", "Bob"]


def test_the_handshake_goes_through_the_egress_proxy(verifying, redis_client, receiver):
    verifying.DURIAN_RESOLVER = FixedResolver({"plain.test": ["127.0.0.1"]})
    url = f"http://plain.test:{port_of(receiver)}/hook"
    with ForwardProxy(names={"plain.test": "127.0.0.1"}) as proxy:
        verifying.DURIAN_PROXY = proxy.url()
        listener = PersonHook().listener(url=url).save()
        receiver.allow_origin("*")

        result = validation.run(listener.pk)

        assert result is not None and result.ok
        assert proxy.seen == [("OPTIONS", url)]
        assert receiver.handshakes[0].headers["webhook-request-origin"] == ORIGIN


def test_a_handshake_to_a_refused_address_is_not_sent(verifying, redis_client, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    verifying.DURIAN_ALLOWED_NETWORKS = []  # loopback is no longer a destination

    result = validation.run(listener.pk)

    assert result is not None and not result.ok and result.error.startswith("Refused")
    assert receiver.handshakes == []


def test_a_local_hook_sends_nothing_to_an_endpoint_not_validated_and_keeps_the_event_as_a_dead_letter(
    verifying, redis_client, receiver
):
    hooks.register(LocalPersonHook)
    try:
        hooks["person-local"].listener(url=receiver.url).save()
        Person.objects.create(name="Joe")
    finally:
        hooks.unregister(LocalPersonHook)
    assert receiver.requests == []
    letter = DeadLetter.objects.get()
    assert (letter.payload["name"], letter.last_error) == ("Joe", "The listener's endpoint is not validated yet.")


def test_no_test_event_goes_to_an_endpoint_not_validated(verifying, redis_client, receiver):
    staff = User.objects.create_user("staff", is_staff=True, is_superuser=True)
    listener = PersonHook().listener(url=receiver.url, owner=staff).save()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff).key}")

    answer = api.post(f"/api/webhooks/listeners/{listener.pk}/test/")

    assert answer.status_code == 400
    assert "endpoint is not validated yet" in answer.json()["detail"]
    assert receiver.requests == [] and receiver.handshakes == []
    receiver.allow_origin("*")
    assert api.post(f"/api/webhooks/listeners/{listener.pk}/validate/").json()["validation"]["state"] == "validated"
    assert api.post(f"/api/webhooks/listeners/{listener.pk}/test/").json()["ok"] is True


def test_a_malformed_schedule_or_origin_is_reported_by_manage_py_check(settings):
    settings.DURIAN_VERIFY_SCHEDULE = []
    settings.DURIAN_WEBHOOK_ORIGIN = "https://shop.test/"
    found = {e.id: e.msg for e in check_settings()}
    assert (
        found["durian.E015"] == "DURIAN_VERIFY_SCHEDULE must be a non-empty list of positive delays in seconds, got []."
    )
    assert found["durian.E016"].startswith("DURIAN_WEBHOOK_ORIGIN must be a DNS name")
    settings.DURIAN_VERIFY_SCHEDULE = [60, 3600]
    settings.DURIAN_WEBHOOK_ORIGIN = "shop.test"
    assert not {"durian.E015", "durian.E016"} & {e.id for e in check_settings()}


def test_a_listener_being_validated_by_another_process_is_not_asked_twice(verifying, redis_client, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    other = Lease(redis_client, f"validation:{listener.pk}")
    assert other.acquire()

    assert validation.run(listener.pk) is None
    assert receiver.handshakes == []

    other.release()
    assert validation.run(listener.pk) is not None
    assert len(receiver.handshakes) == 1


def test_durian_status_lists_the_listeners_waiting_for_validation_and_what_they_keep(verifying, redis_client, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    item = queue.item(Event(hook="person", payload={"name": "Ann"}), listener.pk)
    parked.park(redis_client, [item])
    validation.run(listener.pk)

    out = StringIO()
    call_command("durian_status", stdout=out)

    assert "Listeners waiting for endpoint validation (their events are kept): 1" in out.getvalue()
    assert f"#{listener.pk} person -> {receiver.url}: 1 event(s) kept; last try: HTTP 200 without" in out.getvalue()
