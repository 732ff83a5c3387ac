"""Replay from the pages and the API: ``listeners/{id}/replay/`` with ``since`` and ``until``, by
``durian_replay``'s rules, only this listener's deliveries, for those who may change the listener."""

from __future__ import annotations

import datetime

import pytest
from django.utils import timezone

from durian.models import Listener
from example_project.people.hooks import PersonHook
from example_project.people.models import Person
from tests.web.api.conftest import token_client
from tests.web.conftest import client_for, text


def api_url(listener: Listener) -> str:
    return f"/api/webhooks/listeners/{listener.pk}/replay/"


def page_url(listener: Listener) -> str:
    return f"/webhooks/listeners/{listener.pk}/replay/"


# -- the API ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_api_replay_re_sends_the_listener_s_events_of_the_window(worker, receiver, alice):
    mine = PersonHook().listener(url=receiver.url + "/mine", owner=alice).save()
    PersonHook().listener(url=receiver.url + "/other", owner=alice).save()
    Person.objects.create(name="Ann")
    Person.objects.create(name="Bob")
    first = receiver.wait_for(4)

    answer = token_client(alice).post(api_url(mine), {"since": "1h"}, format="json")

    assert answer.status_code == 202, answer.content
    assert answer.json() | {"since": None, "until": None} == {
        "since": None,
        "until": None,
        "dry_run": False,
        "events": 2,
        "from_dead_letters": 0,
        "deliveries": 2,
        "unavailable": 0,
    }
    again = receiver.wait_for(6)[4:]
    assert [r.path.rsplit("/", 1)[1] for r in again] == ["mine", "mine"]  # this listener only
    original_ids = {r.headers["webhook-id"] for r in first if r.path.endswith("/mine")}
    assert {r.headers["webhook-id"] for r in again} == original_ids  # the same events, the same ids
    assert sorted(r.json()["name"] for r in again) == ["Ann", "Bob"]


@pytest.mark.django_db(transaction=True)
def test_an_api_replay_sends_only_the_window_s_events(worker, receiver, alice):
    listener = PersonHook().listener(url=receiver.url, owner=alice).save()
    Person.objects.create(name="Ann")
    receiver.wait_for(1)
    between = timezone.now()
    Person.objects.create(name="Bob")
    receiver.wait_for(2)

    api = token_client(alice)
    answer = api.post(api_url(listener), {"since": "1h", "until": between.isoformat()}, format="json")
    assert (answer.status_code, answer.json()["deliveries"]) == (202, 1)
    assert receiver.wait_for(3)[2].json()["name"] == "Ann"

    dry = api.post(api_url(listener), {"since": between.isoformat(), "dry_run": True}, format="json")
    assert (dry.status_code, dry.json()["deliveries"], dry.json()["dry_run"]) == (202, 1, True)
    assert len(receiver.requests) == 3  # a dry run sends nothing


@pytest.mark.parametrize(
    "body, field",
    [
        ({"since": "yesterday"}, "since"),
        ({"since": "1m"}, "since"),  # a minute or a month? refused, as by durian_replay
        ({}, "since"),
        ({"since": ""}, "since"),
        ({"since": "9999999999d"}, "since"),
        ({"since": "1h", "until": "2h"}, "until"),  # the end before the start
        ({"since": "1h", "until": "soon"}, "until"),
        ({"since": (timezone.now() + datetime.timedelta(days=1)).isoformat()}, "since"),  # in the future
        ({"since": "0001-01-01T00:00:00+05:00"}, "since"),  # before year 1 in UTC
        ({"since": "1h", "until": "9999-12-31T23:00:00-05:00"}, "until"),  # after year 9999 in UTC
        ({"since": "1h", "hook": "person"}, "hook"),  # unknown fields are named, not dropped
    ],
)
def test_bad_input_is_a_400_naming_the_field(redis_client, alice, alices_listener, body, field):
    answer = token_client(alice).post(api_url(alices_listener), body, format="json")

    assert answer.status_code == 400, answer.content
    assert list(answer.json()) == [field]


def test_another_client_s_listener_cannot_be_replayed(redis_client, alices_listener, bob):
    answer = token_client(bob).post(api_url(alices_listener), {"since": "1h"}, format="json")

    assert answer.status_code == 404


def test_staff_may_replay_any_listener(redis_client, alices_listener, make_user):
    staff = make_user("stella", "view", "change", staff=True)
    answer = token_client(staff).post(api_url(alices_listener), {"since": "1h"}, format="json")

    assert answer.status_code == 202


def test_replays_count_against_the_user_s_budget_of_test_events(redis_client, alice, alices_listener, settings):
    settings.DURIAN_TEST_SEND_RATE = 1
    api = token_client(alice)
    assert api.post(api_url(alices_listener), {"since": "1h"}, format="json").status_code == 202

    refused = api.post(api_url(alices_listener), {"since": "1h"}, format="json")
    assert refused.status_code == 429 and "replays count together" in refused.json()["detail"]


def test_the_replay_action_is_in_the_openapi_schema(redis_client, alice):
    schema = token_client(alice).get("/api/webhooks/schema/", {"format": "json"}).json()

    operation = schema["paths"]["/api/webhooks/listeners/{id}/replay/"]["post"]
    assert set(operation["responses"]) >= {"202", "400", "404", "429"}
    body = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    assert schema["components"]["schemas"][body]["required"] == ["since"]


# -- the pages --------------------------------------------------------------------------------


def test_the_listener_s_page_has_a_replay_form(redis_client, as_alice, alices_listener):
    page = text(as_alice.get(f"/webhooks/listeners/{alices_listener.pk}/deliveries/"))

    assert f'action="{page_url(alices_listener)}"' in page
    assert 'name="since"' in page and 'name="until"' in page


@pytest.mark.django_db(transaction=True)
def test_the_owner_replays_from_the_page(worker, receiver, alice):
    listener = PersonHook().listener(url=receiver.url, owner=alice).save()
    Person.objects.create(name="Ann")
    receiver.wait_for(1)

    page = text(client_for(alice).post(page_url(listener), {"since": "1h", "until": ""}, follow=True))

    assert f"Replay of listener {listener.pk}" in page and "Deliveries queued: 1 to 1 listener(s)" in page
    again = receiver.wait_for(2)[1]
    assert (again.json()["name"], again.headers["webhook-id"]) == ("Ann", receiver.requests[0].headers["webhook-id"])


def test_another_client_cannot_replay_from_the_page(redis_client, alices_listener, bob):
    answer = client_for(bob).post(page_url(alices_listener), {"since": "1h"})

    assert answer.status_code == 404


def test_a_bad_window_on_the_page_says_which_field_and_replays_nothing(redis_client, as_alice, alices_listener):
    page = text(as_alice.post(page_url(alices_listener), {"since": "1h", "until": "2h"}, follow=True))

    assert "Nothing replayed. until: the end is before the start (since)" in page


def test_the_page_replays_only_by_post(redis_client, as_alice, alices_listener):
    assert as_alice.get(page_url(alices_listener), {"since": "1h"}).status_code == 405
