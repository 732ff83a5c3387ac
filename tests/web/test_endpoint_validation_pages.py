"""Endpoint validation on the pages and the API: the state shown, "Validate now", and a clear answer when it is off."""

from __future__ import annotations

import pytest
from django.urls import reverse

from durian.models import Listener
from example_project.people.hooks import PersonHook

from .api.conftest import token_client
from .conftest import dead_letter

pytestmark = pytest.mark.django_db

API = "/api/webhooks"
LIST = reverse("durian:listener-list")


@pytest.fixture
def verifying(settings, redis_client):
    settings.DURIAN_VERIFY_ENDPOINTS = True
    settings.DURIAN_WEBHOOK_ORIGIN = "shop.test"
    return settings


@pytest.fixture
def listener(alice, receiver) -> Listener:
    return PersonHook().listener(url=receiver.url, owner=alice).save()


def test_the_list_shows_a_listener_waiting_for_validation_and_a_validate_button(verifying, as_alice, listener):
    html = as_alice.get(LIST).content.decode()
    assert "waiting for endpoint validation" in html
    assert "waiting for validation: events are kept until the endpoint agrees" in html
    assert reverse("durian:listener-validate", kwargs={"pk": listener.pk}) in html
    assert ">Validate now</button>" in html


def test_validate_now_on_the_page_shows_the_refusal_then_the_success(verifying, as_alice, listener, receiver):
    url = reverse("durian:listener-validate", kwargs={"pk": listener.pk})

    refused = as_alice.post(url, follow=True).content.decode()

    # The receiver is on an allowed internal network (loopback): a client sees its status only.
    assert f"Listener {listener.pk}&#x27;s endpoint did not agree: HTTP 200." in refused
    assert "last try failed: HTTP 200;" in refused
    assert "next try" in refused
    assert receiver.handshakes[0].headers["webhook-request-origin"] == "shop.test"

    receiver.allow_origin("shop.test")
    done = as_alice.post(url, follow=True).content.decode()

    assert f"Listener {listener.pk}&#x27;s endpoint is validated: it gets its events." in done
    assert "waiting for endpoint validation" not in done
    assert 'class="validation validation-validated">validated <time' in done


def test_with_validation_off_the_page_says_so_and_sends_nothing(settings, as_alice, listener, receiver):
    html = as_alice.get(LIST).content.decode()
    assert "Validate now" not in html and "Endpoint validation" not in html

    answer = as_alice.post(reverse("durian:listener-validate", kwargs={"pk": listener.pk}), follow=True)

    assert "Endpoint validation is off on this site (DURIAN_VERIFY_ENDPOINTS)" in answer.content.decode()
    assert receiver.handshakes == []


def test_the_api_validate_action_answers_the_listener_with_its_validation(
    verifying, alice, listener, receiver, make_user
):
    api = token_client(alice)
    shown = api.get(f"{API}/listeners/{listener.pk}/").json()["validation"]
    assert shown == {
        "required": True,
        "state": "pending",
        "validated_at": None,
        "checked_at": None,
        "next_attempt_at": shown["next_attempt_at"],  # due now: the workers try it on their next sweep
        "attempts": 0,
        "error": "",
    }

    failed = api.post(f"{API}/listeners/{listener.pk}/validate/")
    assert failed.status_code == 200
    assert failed.json()["validation"]["state"] == "failed"
    assert failed.json()["validation"]["error"] == "HTTP 200"  # an internal receiver: a client sees its status only
    assert failed.json()["validation"]["attempts"] == 1
    staff = token_client(make_user("staff", "view", "change", staff=True))
    assert staff.get(f"{API}/listeners/{listener.pk}/").json()["validation"]["error"] == (
        "HTTP 200 without WebHook-Allowed-Origin: the endpoint must answer with 'shop.test' or '*' in it"
    )

    receiver.allow_origin("*")
    validated = api.post(f"{API}/listeners/{listener.pk}/validate/").json()["validation"]
    assert validated["state"] == "validated" and validated["error"] == "" and validated["validated_at"]
    assert validated["next_attempt_at"] is None


def test_the_api_refuses_to_validate_when_validation_is_off(alice, listener, receiver):
    answer = token_client(alice).post(f"{API}/listeners/{listener.pk}/validate/")
    assert answer.status_code == 400
    assert answer.json() == {
        "detail": "Endpoint validation is off on this site (DURIAN_VERIFY_ENDPOINTS): every listener gets its events."
    }
    assert receiver.handshakes == []


def test_the_validation_state_is_read_only_in_the_api(verifying, alice, listener):
    answer = token_client(alice).patch(
        f"{API}/listeners/{listener.pk}/", {"validation": {"state": "validated"}}, format="json"
    )
    assert answer.status_code == 400
    assert answer.json() == {"validation": ["This field is read-only."]}
    assert Listener.objects.get(pk=listener.pk).validation_state == "pending"


def test_another_users_listener_cannot_be_validated(verifying, bob, listener, receiver):
    assert token_client(bob).post(f"{API}/listeners/{listener.pk}/validate/").status_code == 404
    assert receiver.handshakes == []


def test_a_new_url_through_the_api_is_validated_again(verifying, alice, listener, receiver):
    receiver.allow_origin("*")
    api = token_client(alice)
    api.post(f"{API}/listeners/{listener.pk}/validate/")

    moved = api.patch(f"{API}/listeners/{listener.pk}/", {"url": receiver.url + "/v2"}, format="json").json()

    assert moved["validation"]["state"] == "pending" and moved["validation"]["attempts"] == 0
    described = api.patch(f"{API}/listeners/{listener.pk}/", {"description": "same URL"}, format="json").json()
    assert described["validation"]["state"] == "pending"


def test_the_openapi_schema_has_the_validate_action_and_the_read_only_validation(alice):
    schema = token_client(alice).get(f"{API}/schema/?format=json").json()

    action = schema["paths"]["/api/webhooks/listeners/{id}/validate/"]["post"]
    assert {"200", "400", "404", "429"} <= set(action["responses"])
    assert "DURIAN_VERIFY_ENDPOINTS" in action["responses"]["400"]["description"]
    validation = schema["components"]["schemas"]["Listener"]["properties"]["validation"]
    assert validation["readOnly"] is True
    states = schema["components"]["schemas"]["ValidationStateEnum"]["enum"]
    assert states == ["pending", "failed", "validated"]
    assert schema["components"]["schemas"]["StateEnum"]["enum"] == ["active", "paused", "disabled"]


def test_no_dead_letter_is_re_sent_to_an_endpoint_not_validated(verifying, as_alice, alice, listener, receiver):
    letter = dead_letter(listener)
    retry = reverse("durian:dead-letter-retry", kwargs={"pk": listener.pk, "letter_pk": letter.pk})

    page = as_alice.post(retry, follow=True).content.decode()
    api = token_client(alice).post(f"{API}/listeners/{listener.pk}/dead-letters/{letter.pk}/retry/")

    assert "endpoint is not validated yet: nothing is sent to it (no test event, no re-sent dead letter)" in page
    assert api.status_code == 400 and "endpoint is not validated yet" in api.json()["detail"]
    assert receiver.requests == [] and receiver.handshakes == []
    assert "Endpoint validation" in page  # the listener's page shows its validation state


def test_a_new_password_in_the_url_is_the_same_endpoint(verifying, alice, receiver):
    url = receiver.url.replace("http://", "http://bob:old-pw@")
    listener = PersonHook().listener(url=url, owner=alice).save()
    receiver.allow_origin("*")
    token_client(alice).post(f"{API}/listeners/{listener.pk}/validate/")

    listener.refresh_from_db()
    listener.url = receiver.url.replace("http://", "http://bob:new-pw@")
    listener.save()

    assert listener.validation_state == "validated"
    listener.url = receiver.url.replace("http://", "http://eve:new-pw@")
    listener.save()
    assert listener.validation_state == "pending"


def test_a_new_listeners_secret_page_says_how_to_answer_the_validation_request(verifying, as_alice):
    created = as_alice.post(
        reverse("durian:listener-create", kwargs={"hook": "person"}),
        {
            "url": "https://client.test/hooks",
            "filter-name-op": "any",
            "filter-address-op": "any",
            "filter-created-op": "any",
        },
        follow=True,
    ).content.decode()

    assert '<h2 id="validation-heading">Endpoint validation</h2>' in created
    assert "<code>WebHook-Allowed-Origin: shop.test</code>" in created
