"""What a subscriber sets and gets (issue 20): its own headers, the fields it receives, and CloudEvents.

Each is set from the builder here (the web form, admin and the API are in tests/web/), and checked
against a real receiver and a real worker: headers received and forged ones refused, only the chosen
fields sent while filters still see the whole payload, and a CloudEvent the ``cloudevents`` SDK reads,
still signed with the Standard Webhooks headers.
"""

from __future__ import annotations

import io
import json

import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from durian.core import headers as own_headers
from durian.core import sealing
from durian.match import Startswith
from durian.models import Listener
from durian.storage import listener_cache
from durian.web.sample import send_test_event
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

TOKEN_CHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def stored_row(listener: Listener) -> str:
    """The listener's row as the database holds it, as text."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT headers FROM durian_listener WHERE id = %s", [listener.pk])
        (value,) = cursor.fetchone()
    return value if isinstance(value, str) else json.dumps(value)


# -- headers ---------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_listener_s_headers_reach_the_receiver_and_forged_ones_are_refused(worker, receiver):
    listener = (
        PersonHook().listener(url=receiver.url, headers={"Authorization": "Bearer t0ken", "X-Tenant": "acme"}).save()
    )
    Person.objects.create(name="Jim")
    (request,) = receiver.wait_for(1)
    assert request.headers["authorization"] == "Bearer t0ken"
    assert request.headers["x-tenant"] == "acme"
    assert request.headers["durian-event"] == "person"
    assert Webhook(listener.secret).verify(request.body, request.headers)["name"] == "Jim"

    for forged in (
        "webhook-signature",
        "Webhook-Id",
        "Durian-Event",
        "Content-Type",
        "content-length",
        "Host",
        "User-Agent",
        "Transfer-Encoding",
        "Connection",
        "Upgrade",
    ):
        with pytest.raises(ValidationError) as refused:
            PersonHook().listener(url=receiver.url, headers={forged: "v1,forged"}).save()
        assert list(refused.value.message_dict) == ["headers"]
        assert forged in refused.value.message_dict["headers"][0]
    assert Listener.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_forged_header_stored_by_hand_is_never_sent(worker, receiver, redis_client):
    listener = PersonHook().listener(url=receiver.url).save()
    Listener.objects.filter(pk=listener.pk).update(  # a row written around the checks
        headers={"Webhook-Signature": sealing.seal("v1,forged"), "X-Ok": sealing.seal("yes")}
    )
    listener_cache.rebuild(redis_client)
    Person.objects.create(name="Jim")
    (request,) = receiver.wait_for(1)
    assert request.headers["x-ok"] == "yes"
    assert "forged" not in request.headers["webhook-signature"]
    Webhook(listener.secret).verify(request.body, request.headers)


@pytest.mark.django_db
def test_header_values_are_sealed_in_the_database_and_the_listener_cache_and_shown_masked(redis_client):
    listener = PersonHook().listener(url="https://client.test/hook", headers={"Authorization": "Bearer t0ken"}).save()
    assert "t0ken" not in stored_row(listener)
    assert "t0ken" not in json.dumps(listener_cache.entry(listener))
    assert Listener.objects.get(pk=listener.pk).headers == {"Authorization": "Bearer t0ken"}
    assert listener.masked_headers == {"Authorization": "***"}
    assert listener_cache.view(listener).headers["Authorization"] != "Bearer t0ken"  # still sealed


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({f"X-{n}": "v" for n in range(21)}, "at most 20 headers"),
        ({"X-Big": "v" * 4100}, "at most 4096 are allowed"),
        ({"Bad Name": "v"}, "is not a header name"),
        ({"X-Line": "a\r\nInjected: yes"}, "text on one line"),
        ({"X-Empty": ""}, "text on one line"),
        ({"X-Number": 5}, "text on one line"),
        (["Authorization"], "must be a JSON object"),
    ],
)
def test_bad_headers_are_refused_naming_the_field(headers, message):
    with pytest.raises(ValidationError) as refused:
        PersonHook().listener(url="https://client.test/hook", headers=headers).save()
    assert list(refused.value.message_dict) == ["headers"]
    assert any(message in m for m in refused.value.message_dict["headers"])
    assert not Listener.objects.exists()


@given(
    name=st.text(alphabet=TOKEN_CHARS, min_size=1, max_size=40),
    value=st.text(alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=200),
)
def test_any_token_name_that_is_not_reserved_with_a_printable_value_is_accepted(name, value):
    if own_headers.refused(name):
        with pytest.raises(ValidationError):
            own_headers.validate_headers({name: value})
    else:
        own_headers.validate_headers({name: value})


@given(
    name=st.text(min_size=1, max_size=20).filter(lambda n: any(c not in TOKEN_CHARS for c in n)),
)
def test_a_name_that_is_not_an_rfc_7230_token_is_refused(name):
    with pytest.raises(ValidationError) as refused:
        own_headers.validate_headers({name: "v"})
    assert "is not a header name" in refused.value.messages[0]


@given(value=st.text(min_size=1, max_size=30).filter(lambda v: any(ord(c) < 0x20 or ord(c) == 0x7F for c in v)))
def test_a_value_with_a_control_character_is_refused(value):
    with pytest.raises(ValidationError):
        own_headers.validate_headers({"X-Value": value})


def test_a_masked_value_keeps_the_stored_one_and_a_new_value_replaces_it():
    stored = {"Authorization": "Bearer old", "X-Tenant": "acme"}
    assert own_headers.restore({"authorization": "***", "X-Tenant": "beta"}, stored) == {
        "authorization": "Bearer old",
        "X-Tenant": "beta",
    }
    assert own_headers.restore({}, stored) == {}  # dropping a header deletes it
    with pytest.raises(ValidationError, match="no stored value"):
        own_headers.restore({"X-New": "***"}, stored)


# -- fields ----------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_only_the_chosen_fields_are_sent_and_filters_still_see_the_whole_payload(worker, receiver):
    listener = PersonHook().listener(url=receiver.url, fields=["name"]).match(address=Startswith("5 ")).save()
    standard = PersonHook().listener(url=receiver.url + "?standard", fields=["name"], payload_format="standard").save()
    Person.objects.create(name="Ann", address="9 Side St")  # filtered out by a field it does not receive
    Person.objects.create(name="Jim", address="5 Main St")
    requests = receiver.wait_for(3)
    flat = [Webhook(listener.secret).verify(r.body, r.headers) for r in requests if r.path == "/hook"]
    envelopes = [Webhook(standard.secret).verify(r.body, r.headers) for r in requests if r.path != "/hook"]
    assert flat == [{"name": "Jim"}]
    assert sorted(e["data"]["name"] for e in envelopes) == ["Ann", "Jim"]
    assert all(set(e["data"]) == {"name"} for e in envelopes)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (["name", "secret"], "provides no field 'secret'"),
        (["name", "name"], "named twice"),
        ("name", "must be a JSON list"),
        ([1], "must be a JSON list"),
    ],
)
def test_fields_the_hook_does_not_provide_are_refused(fields, message):
    with pytest.raises(ValidationError) as refused:
        PersonHook().listener(url="https://client.test/hook", fields=fields).save()
    assert list(refused.value.message_dict) == ["fields"]
    assert message in refused.value.message_dict["fields"][0]


@pytest.mark.django_db(transaction=True)
def test_a_test_event_carries_the_listener_s_headers_and_fields(receiver):
    listener = PersonHook().listener(url=receiver.url, fields=["address"], headers={"X-Tenant": "acme"}).save()
    send_test_event(listener)
    (request,) = receiver.wait_for(1)
    assert request.headers["x-tenant"] == "acme"
    assert set(request.json()) == {"address"}


# -- CloudEvents -----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_cloudevents_listener_gets_a_valid_structured_cloudevent_still_signed(worker, receiver, settings):
    settings.DURIAN_CLOUDEVENTS_SOURCE = "https://shop.example/"
    listener = PersonHook().listener(url=receiver.url, payload_format="cloudevents", fields=["name"]).save()
    Person.objects.create(name="Jim", address="5 Main St")
    (request,) = receiver.wait_for(1)
    assert request.headers["content-type"] == "application/cloudevents+json"
    Webhook(listener.secret).verify(request.body, request.headers)  # Standard Webhooks headers still sent
    # the SDK reads (and checks) the structured message
    event = from_http_event(HTTPMessage(headers=request.headers, body=request.body))
    assert event.get_specversion() == "1.0"
    assert event.get_id() == request.headers["webhook-id"]
    assert event.get_source() == "https://shop.example/"
    assert event.get_type() == "person"
    assert event.get_datacontenttype() == "application/json"
    assert event.get_time() is not None and event.get_time().tzinfo is not None
    assert event.get_data() == {"name": "Jim"}


@pytest.mark.django_db
def test_the_cloudevents_source_defaults_to_the_site_s_url(settings):
    from durian.transport.delivery import cloudevents_source

    settings.DURIAN_CLOUDEVENTS_SOURCE = None
    settings.ALLOWED_HOSTS = ["*", ".shop.example", "other.example"]
    assert cloudevents_source() == "https://shop.example"
    settings.ALLOWED_HOSTS = ["*"]
    assert cloudevents_source() == "https://localhost"


@pytest.mark.django_db(transaction=True)
def test_after_a_key_rotation_and_reseal_header_values_are_sent_with_the_old_key_dropped(worker, receiver):
    old_key, new_key = "old key " * 4, "new key " * 4
    with override_settings(DURIAN_SECRET_KEYS=[old_key]):
        PersonHook().listener(url=receiver.url, headers={"Authorization": "Bearer t0ken"}).save()
    with override_settings(DURIAN_SECRET_KEYS=[new_key, old_key]):
        call_command("durian_reseal", stdout=io.StringIO())
    with override_settings(DURIAN_SECRET_KEYS=[new_key]):
        assert Listener.objects.get().headers == {"Authorization": "Bearer t0ken"}
        Person.objects.create(name="After")
        (request,) = receiver.wait_for(1)
    assert request.headers["authorization"] == "Bearer t0ken"
