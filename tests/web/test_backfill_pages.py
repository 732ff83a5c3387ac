"""Backfill on subscribe from the web form, admin and the API: asked for on creation only, refused with
a message naming ``backfill`` for a hook without rows, and its progress shown on the listener's page,
in admin and in the API's ``backfill_status``. (What a receiver gets: tests/test_backfill.py.)"""

from __future__ import annotations

import html

import pytest
from django.urls import reverse

from durian.hook import Hook
from durian.models import Backfill, Listener
from durian.pipeline import backfill as backfills
from durian.registry import hooks
from durian.web.forms import ListenerForm
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .api.conftest import token_client
from .conftest import client_for, text

API = "/api/webhooks"
ANY_ROWS = {"filter-name-op": "any", "filter-address-op": "any", "filter-created-op": "any"}
pytestmark = pytest.mark.django_db


class PingHook(Hook):
    """Fired by hand: no rows."""

    name = "backfill.ping"
    provides_args = ["n"]


@pytest.fixture
def ping_hook():
    hooks.register(PingHook)
    yield
    hooks.unregister(PingHook)


# -- the web form ----------------------------------------------------------------------------------


def test_the_create_form_offers_a_backfill_and_the_edit_form_does_not(alices_listener):
    assert "backfill" in ListenerForm(hook=PersonHook()).fields
    assert "backfill" not in ListenerForm(hook=PersonHook(), instance=alices_listener).fields


def test_a_hook_without_rows_is_offered_no_backfill(ping_hook):
    assert "backfill" not in ListenerForm(hook=PingHook()).fields


def test_the_form_makes_a_listener_with_its_backfill(as_alice, redis_client):
    response = as_alice.post(
        reverse("durian:listener-create", kwargs={"hook": "person"}),
        {"url": "http://127.0.0.1:9/hook", **ANY_ROWS, "payload_format": "flat", "backfill": "on"},
    )
    assert response.status_code == 302, response.content
    listener = Listener.objects.get()
    assert Backfill.objects.get(listener=listener).state == "pending"
    assert listener.waits_for == ("backfill",)


def test_without_the_box_ticked_there_is_no_backfill(as_alice, redis_client):
    as_alice.post(
        reverse("durian:listener-create", kwargs={"hook": "person"}),
        {"url": "http://127.0.0.1:9/hook", **ANY_ROWS, "payload_format": "flat"},
    )
    assert Listener.objects.get().waits_for == ()
    assert not Backfill.objects.exists()


def test_the_listener_page_shows_the_backfill_s_progress(alice, as_alice, redis_client):
    Person.objects.bulk_create([Person(name="Ann"), Person(name="Bob")])
    listener = PersonHook().listener(url="http://127.0.0.1:9/hook", owner=alice, backfill=True).save()
    deliveries = reverse("durian:listener-deliveries", kwargs={"pk": listener.pk})
    assert "Backfill" in text(as_alice.get(deliveries)) and "waiting for a worker" in text(as_alice.get(deliveries))
    backfills.run(listener.pk, hooks.get("person"))
    assert "done: 2 of 2 rows read, 2 events sent" in text(as_alice.get(deliveries))
    assert "done: 2 of 2 rows read, 2 events sent" in text(as_alice.get(reverse("durian:listener-list")))
    Backfill.objects.filter(listener=listener).update(state="failed", error="PayloadError: bad shape()")
    assert "failed after 2 of 2 rows read, 2 events sent: PayloadError: bad shape()" in text(as_alice.get(deliveries))


# -- admin -----------------------------------------------------------------------------------------


def test_admin_makes_a_listener_with_its_backfill_and_shows_its_progress(staff, redis_client):
    client = client_for(staff)
    response = client.post(
        "/admin/durian/listener/add/",
        {
            "hook": "person",
            "url": "https://client.test/hook",
            "filters": "{}",
            "state": "active",
            "payload_format": "flat",
            "backfill": "on",
        },
    )
    assert response.status_code == 302, html.unescape(response.content.decode())
    listener = Listener.objects.get()
    assert Backfill.objects.get(listener=listener).state == "pending"
    page = text(client.get(f"/admin/durian/listener/{listener.pk}/change/"))
    assert "waiting for a worker" in page
    assert 'name="backfill"' not in page  # asked for on creation only


def test_admin_refuses_a_backfill_of_a_hook_without_rows(staff, ping_hook, redis_client):
    response = client_for(staff).post(
        "/admin/durian/listener/add/",
        {
            "hook": "backfill.ping",
            "url": "https://client.test/hook",
            "filters": "{}",
            "state": "active",
            "backfill": "on",
        },
    )
    assert "only a ModelHook's rows can be backfilled" in text(response)
    assert not Listener.objects.exists()


# -- the API ---------------------------------------------------------------------------------------


def test_the_api_makes_a_listener_with_its_backfill_and_shows_its_progress(alice, redis_client):
    client = token_client(alice)
    Person.objects.bulk_create([Person(name="Ann")])
    response = client.post(
        f"{API}/listeners/", {"hook": "person", "url": "http://127.0.0.1:9/x", "backfill": True}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert "backfill" not in body  # write-only
    assert body["backfill_status"]["state"] == "pending"
    backfills.run(body["id"], hooks.get("person"))
    status = client.get(f"{API}/listeners/{body['id']}/").json()["backfill_status"]
    assert (status["state"], status["total"], status["read"], status["sent"]) == ("done", 1, 1, 1)
    assert status["description"] == "done: 1 of 1 rows read, 1 events sent"


def test_a_listener_without_backfill_has_no_backfill_status(alice, alices_listener):
    body = token_client(alice).get(f"{API}/listeners/{alices_listener.pk}/").json()
    assert body["backfill_status"] is None


def test_the_api_refuses_a_backfill_of_a_hook_without_rows_naming_the_field(alice, ping_hook):
    response = token_client(alice).post(
        f"{API}/listeners/", {"hook": "backfill.ping", "url": "http://127.0.0.1:9/x", "backfill": True}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "backfill": ["Hook 'backfill.ping' is not tied to a model: only a ModelHook's rows can be backfilled."]
    }
    assert not Listener.objects.exists()


def test_the_api_asks_for_a_backfill_on_creation_only(alice, alices_listener):
    client = token_client(alice)
    response = client.patch(f"{API}/listeners/{alices_listener.pk}/", {"backfill": True}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["backfill"]
    assert not Backfill.objects.exists()
    ok = client.patch(f"{API}/listeners/{alices_listener.pk}/", {"backfill": False}, format="json")
    assert ok.status_code == 200


def test_the_api_refuses_a_backfill_that_is_not_a_boolean(alice):
    response = token_client(alice).post(
        f"{API}/listeners/", {"hook": "person", "url": "http://127.0.0.1:9/x", "backfill": "lots"}, format="json"
    )
    assert response.status_code == 400 and list(response.json()) == ["backfill"]


def test_the_schema_has_backfill_write_only_and_backfill_status_read_only(alice):
    schema = token_client(alice).get(f"{API}/schema/", HTTP_ACCEPT="application/json").json()
    components = schema["components"]["schemas"]
    listener = components["Listener"]["properties"]
    assert listener["backfill"]["writeOnly"] is True and listener["backfill"]["type"] == "boolean"
    assert listener["backfill_status"]["readOnly"] is True
