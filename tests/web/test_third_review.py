"""Issue 22, the third review: what the API, the pages and the admin still got wrong, seen as a user sees it.

A signed-in client (alice, not staff) attacks through the API; loopback is an allowed internal network
in the test settings, as in the example project.
"""

from __future__ import annotations

import base64
import html
import io
import json

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from durian.match import Startswith
from durian.models import DeadLetter, Delivery, Listener
from durian.storage import listener_cache
from example_project.people.hooks import PersonHook
from tests.web.api.conftest import token_client

from .conftest import client_for, dead_letter

API = "/api/webhooks"
SECRET_PAGE = b"<h1>internal admin: db password is hunter2</h1>"


def text(response) -> str:
    return html.unescape(response.content.decode())


@pytest.fixture
def api(alice):
    return token_client(alice)


# -- 1. internal responses never reach a client -----------------------------------------------------------------


def test_a_client_sees_only_the_status_of_an_internal_receiver_on_test_retry_deliveries_and_dead_letters(
    api, alice, receiver, redis_client
):
    receiver.always(500, body=SECRET_PAGE)
    listener = Listener.objects.create(hook="person", url=receiver.url, owner=alice)
    base = f"{API}/listeners/{listener.pk}"

    tested = api.post(f"{base}/test/")
    assert tested.status_code == 200
    assert tested.json()["status_code"] == 500 and tested.json()["error"] == "HTTP 500"

    letter = dead_letter(listener, response_excerpt="", last_error="HTTP 500 Internal Server Error")
    retried = api.post(f"{base}/dead-letters/{letter.pk}/retry/")
    assert retried.status_code == 200
    assert retried.json()["last_status_code"] == 500
    assert retried.json()["last_error"] == "HTTP 500" and retried.json()["response_excerpt"] == ""
    assert b"hunter2" in DeadLetter.objects.get(pk=letter.pk).response_excerpt.encode()  # kept for staff

    Delivery.objects.create(
        listener=listener, hook="person", event_id="e9", webhook_id="msg_e9", status_code=500, error="HTTP 500 hunter2"
    )
    listed = [api.get(f"{base}/deliveries/"), api.get(f"{base}/dead-letters/")]
    for response in (tested, retried, *listed):
        assert b"hunter2" not in response.content, response.content
    assert {d["error"] for d in listed[0].json()["results"]} == {"HTTP 500"}


def test_a_client_is_told_no_answer_when_an_internal_port_is_closed(api, alice):
    listener = Listener.objects.create(hook="person", url="http://127.0.0.1:9/hook", owner=alice)
    result = api.post(f"{API}/listeners/{listener.pk}/test/").json()
    assert result["ok"] is False and result["status_code"] is None and result["error"] == "no answer"


def test_staff_still_see_an_internal_receivers_answer(staff, alice, receiver, redis_client):
    receiver.always(500, body=SECRET_PAGE)
    listener = Listener.objects.create(hook="person", url=receiver.url, owner=alice)
    letter = dead_letter(listener)
    retried = token_client(staff).post(f"{API}/listeners/{listener.pk}/dead-letters/{letter.pk}/retry/")
    assert "hunter2" in retried.json()["response_excerpt"]


def test_the_deliveries_page_shows_a_client_only_the_status_of_an_internal_receiver(as_alice, alice):
    listener = Listener.objects.create(hook="person", url="http://127.0.0.1:9/hook", owner=alice)
    Delivery.objects.create(
        listener=listener, hook="person", event_id="e1", webhook_id="msg_e1", status_code=500, error="HTTP 500 hunter2"
    )
    dead_letter(listener, last_error="connection refused by 127.0.0.1:9", response_excerpt="hunter2")
    page = text(as_alice.get(reverse("durian:listener-deliveries", kwargs={"pk": listener.pk})))
    assert "hunter2" not in page and "connection refused" not in page
    assert "HTTP 500" in page and "no answer" in page


def test_a_retry_from_the_page_tells_a_client_only_the_status_of_an_internal_receiver(
    as_alice, alice, receiver, redis_client
):
    receiver.always(500, body=SECRET_PAGE)
    listener = Listener.objects.create(hook="person", url=receiver.url, owner=alice)
    letter = dead_letter(listener)
    retry = reverse("durian:dead-letter-retry", kwargs={"pk": listener.pk, "letter_pk": letter.pk})
    page = text(as_alice.post(retry, follow=True))
    assert f"Dead letter {letter.webhook_id} failed again: HTTP 500" in page
    assert "Internal Server Error" not in page and "hunter2" not in page


# -- 2. one rate limit for test events and retries, on every surface -------------------------------------------


@override_settings(DURIAN_TEST_SEND_RATE=3)
def test_test_events_and_retries_share_one_budget_per_user_on_the_pages_and_the_api(
    api, as_alice, alice, receiver, redis_client
):
    listener = Listener.objects.create(hook="person", url=receiver.url, owner=alice)
    test_page = reverse("durian:listener-test", kwargs={"pk": listener.pk})
    assert api.post(f"{API}/listeners/{listener.pk}/test/").status_code == 200
    assert as_alice.post(test_page).status_code == 200
    letter = dead_letter(listener)
    assert api.post(f"{API}/listeners/{listener.pk}/dead-letters/{letter.pk}/retry/").status_code == 200

    refused = api.post(f"{API}/listeners/{listener.pk}/test/")
    assert refused.status_code == 429 and "Too many test events this minute" in refused.json()["detail"]
    assert "Too many test events this minute" in text(as_alice.post(test_page, follow=True))
    other = dead_letter(listener, event_id="e2", webhook_id="msg_e2")
    assert api.post(f"{API}/listeners/{listener.pk}/dead-letters/{other.pk}/retry/").status_code == 429
    retry_page = reverse("durian:dead-letter-retry", kwargs={"pk": listener.pk, "letter_pk": other.pk})
    assert "Too many test events this minute" in text(as_alice.post(retry_page, follow=True))
    assert len(receiver.wait_for(3)) == 3
    assert DeadLetter.objects.get(pk=other.pk).status == DeadLetter.Status.DEAD


# -- 3. URL passwords: masked everywhere, sealed at rest, kept by an edit that keeps *** -------------------------


PASSWORD_URL = "https://bob:s3cretpw@client.test/path"


def test_a_url_password_is_masked_in_the_admin_health_table_and_the_api_even_for_staff(staff, alice, api):
    listener = Listener.objects.create(hook="person", url=PASSWORD_URL, owner=alice)
    Delivery.objects.create(listener=listener, hook="person", event_id="e1", webhook_id="msg_e1", error="HTTP 500")
    health = client_for(staff).get("/admin/durian/listener/health/")
    assert health.status_code == 200
    assert "s3cretpw" not in text(health) and "https://bob:***@client.test/path" in text(health)
    for client in (api, token_client(staff)):
        shown = client.get(f"{API}/listeners/{listener.pk}/")
        assert shown.json()["url"] == "https://bob:***@client.test/path"
        assert b"s3cretpw" not in client.get(f"{API}/listeners/").content


def test_a_url_password_is_sealed_in_the_database_and_the_redis_cache_and_still_sent(alice, receiver, redis_client):
    url = receiver.url.replace("http://", "http://bob:s3cretpw@") + "/path"
    listener = PersonHook().listener(url=url, owner=alice).save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT url FROM durian_listener WHERE id = %s", [listener.pk])
        (stored,) = cursor.fetchone()
    assert "s3cretpw" not in stored and stored.startswith("http://bob:gAAAAA")
    assert "s3cretpw" not in json.dumps(list(Listener.objects.values("url")))

    listener_cache.rebuild(redis_client)
    raw = redis_client.hgetall("durian:listeners")
    assert raw and not any(b"s3cretpw" in value for value in raw.values())
    # what a worker loads from the cache opens it, to post with Basic auth
    snapshot = listener_cache.load(b"v", raw)
    assert snapshot.by_id[listener.pk].url == url
    token_client(alice).post(f"{API}/listeners/{listener.pk}/test/")
    (request,) = receiver.wait_for(1)
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"bob:s3cretpw").decode()


@pytest.mark.parametrize(
    ("edited", "kept"),
    [
        ("https://bob:***@client.test:8443/path", "https://bob:s3cretpw@client.test:8443/path"),  # the port
        ("https://robert:***@client.test/path", "https://robert:s3cretpw@client.test/path"),  # the user
        ("https://bob:***@client.test/other", "https://bob:s3cretpw@client.test/other"),  # the path
    ],
)
def test_an_edit_that_keeps_the_masked_password_keeps_the_stored_one(api, alice, as_alice, edited, kept):
    listener = Listener.objects.create(hook="person", url=PASSWORD_URL, owner=alice)
    response = api.patch(f"{API}/listeners/{listener.pk}/", {"url": edited}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["url"] == edited
    listener.refresh_from_db()
    assert listener.url == kept

    Listener.objects.filter(pk=listener.pk).update(url=PASSWORD_URL)
    rows = {
        f"filter-{n}-{k}": "any" if k == "op" else "" for n in ("name", "address", "created") for k in ("op", "value")
    }
    edit = reverse("durian:listener-edit", kwargs={"pk": listener.pk})
    assert as_alice.post(edit, {"url": edited, **rows}).status_code == 302
    listener.refresh_from_db()
    assert listener.url == kept


def test_a_masked_password_is_never_saved_nor_sent_to_another_host(api, alice, as_alice):
    listener = Listener.objects.create(hook="person", url=PASSWORD_URL, owner=alice)
    moved = api.patch(f"{API}/listeners/{listener.pk}/", {"url": "https://bob:***@elsewhere.test/"}, format="json")
    assert moved.status_code == 400
    assert "The host changed: type the password again" in moved.json()["url"][0]
    made = api.post(f"{API}/listeners/", {"hook": "person", "url": "https://bob:***@client.test/"}, format="json")
    assert made.status_code == 400 and "there is none: type the password" in made.json()["url"][0]
    listener.refresh_from_db()
    assert listener.url == PASSWORD_URL
    assert Listener.objects.count() == 1


# -- 4. bodies and filters nested too deep --------------------------------------------------------------------


def test_a_body_nested_2000_deep_is_a_400_not_a_500(api):
    deep = "[" * 2000 + "]" * 2000
    for body in (deep, json.dumps({"hook": "person", "url": "http://127.0.0.1:9/x"})[:-1] + f', "filters": {deep}}}'):
        response = api.post(f"{API}/listeners/", body, content_type="application/json")
        assert response.status_code == 400, response.content
        assert "nests deeper than" in response.json()["detail"]
    assert not Listener.objects.exists()


def test_filters_nested_deeper_than_a_filter_can_be_are_refused_on_every_surface(api, staff):
    nested: object = "x"
    for _ in range(10):
        nested = [nested]
    body = {"hook": "person", "url": "http://127.0.0.1:9/x", "filters": {"name": {"op": "is", "value": nested}}}
    response = api.post(f"{API}/listeners/", body, format="json")
    assert response.status_code == 400 and "filters" in response.json(), response.json()
    page = client_for(staff).post(
        "/admin/durian/listener/add/",
        {"hook": "person", "url": "https://client.test/", "filters": "[" * 2000 + "]" * 2000, "state": "active"},
    )
    assert page.status_code == 200 and "Filters nest far too deep" in text(page)
    assert not Listener.objects.exists()


# -- 5. one set of filter rules for every surface ------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"created": {"op": "startswith", "value": "t"}}, "Starts with needs a text field; 'created' is not text"),
        ({"created": {"op": "is", "value": "t"}}, "The value for 'created' must be true or false"),
        ({"name": {"op": "is", "value": {"a": 1}}}, "needs a plain value (text, number, true or false), got a JSON"),
        ({"name": {"op": "startswith", "value": "J" * 200_000}}, "longer than 1000 characters"),
        ({"name": {"op": "is", "value": "J" * 200_000}}, "longer than 1000 characters"),
    ],
)
def test_the_api_refuses_filters_the_form_cannot_express(api, filters, message):
    body = {"hook": "person", "url": "http://127.0.0.1:9/x", "filters": filters}
    response = api.post(f"{API}/listeners/", body, format="json")
    assert response.status_code == 400
    (field,) = filters
    assert any(message in m for m in response.json()[field]), response.json()
    assert not Listener.objects.exists()


def test_the_builder_follows_the_same_filter_rules(db):
    with pytest.raises(ValidationError, match="needs a text field"):
        PersonHook().listener(url="http://127.0.0.1:9/x").match(created=Startswith("t")).save()
    with pytest.raises(ValidationError, match="plain value"):
        PersonHook().listener(url="http://127.0.0.1:9/x").match(name={"op": "is"}).save()
    assert PersonHook().listener(url="http://127.0.0.1:9/x").match(created=True, name="Jo").save().pk


def test_the_migration_seals_the_password_of_existing_rows_and_reseal_rotates_it(alice, settings, redis_client):
    from importlib import import_module
    from types import SimpleNamespace

    from django.apps import apps
    from django.core.management import call_command

    listener = Listener.objects.create(hook="person", url=PASSWORD_URL, owner=alice)

    def stored() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT url FROM durian_listener WHERE id = %s", [listener.pk])
            return cursor.fetchone()[0]

    with connection.cursor() as cursor:  # a row written before URL passwords were sealed
        cursor.execute("UPDATE durian_listener SET url = %s WHERE id = %s", [PASSWORD_URL, listener.pk])
    assert Listener.objects.get(pk=listener.pk).url == PASSWORD_URL  # a plain row still reads
    migration = import_module("durian.migrations.0008_url_passwords_at_rest")
    migration.seal_rows(apps, SimpleNamespace(connection=connection))
    before = stored()
    assert "s3cretpw" not in before and Listener.objects.get(pk=listener.pk).url == PASSWORD_URL

    settings.DURIAN_SECRET_KEYS = ["a new key, first", settings.SECRET_KEY]
    call_command("durian_reseal", stdout=io.StringIO())
    assert stored() != before and "s3cretpw" not in stored()
    settings.DURIAN_SECRET_KEYS = ["a new key, first"]  # the old key dropped: the URL still opens
    assert Listener.objects.get(pk=listener.pk).url == PASSWORD_URL


def test_a_worker_posts_to_a_url_with_a_sealed_password_with_basic_auth(worker, receiver):
    from example_project.people.models import Person

    url = receiver.url.replace("http://", "http://bob:s3cretpw@")
    PersonHook().listener(url=url).save()
    Person.objects.create(name="Joe")
    (request,) = receiver.wait_for(1)
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"bob:s3cretpw").decode()
    assert json.loads(request.body)["name"] == "Joe"


def test_the_edit_page_shows_a_filter_stored_before_the_rules_as_it_is_and_says_what_is_wrong(as_alice, alice):
    listener = Listener.objects.create(  # written before the rules held everywhere
        hook="person", url="http://127.0.0.1:9/x", owner=alice, filters={"created": {"op": "startswith", "value": "t"}}
    )
    edit = reverse("durian:listener-edit", kwargs={"pk": listener.pk})
    page = as_alice.get(edit).content.decode()
    assert '<option value="startswith" selected>starts with</option>' in page
    assert 'name="filter-created-value" value="t"' in page
    rows = {f"filter-{n}-{k}": "any" if k == "op" else "" for n in ("name", "address") for k in ("op", "value")}
    data = {"url": listener.url, **rows, "filter-created-op": "startswith", "filter-created-value": "t"}
    refused = text(as_alice.post(edit, data))
    assert "Starts with needs a text field; 'created' is not text: use is or any." in refused
