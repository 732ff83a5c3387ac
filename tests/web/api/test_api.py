"""The subscriptions API: every route, ownership (another user's ids are 404), token auth, 400s."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from durian.models import DeadLetter, Delivery, Listener
from tests.web.conftest import dead_letter

from .conftest import token_client

API = "/api/webhooks"
pytestmark = pytest.mark.django_db


def listener_routes(listener_id: int, letter_id: int) -> list[tuple[str, str, dict | None]]:
    """Every route that names a listener: (method, path, body)."""
    base = f"{API}/listeners/{listener_id}"
    return [
        ("get", f"{base}/", None),
        ("put", f"{base}/", {"hook": "person", "url": "http://127.0.0.1:9/x"}),
        ("patch", f"{base}/", {"description": "mine now"}),
        ("delete", f"{base}/", None),
        ("post", f"{base}/rotate-secret/", None),
        ("post", f"{base}/pause/", None),
        ("post", f"{base}/resume/", None),
        ("post", f"{base}/test/", None),
        ("post", f"{base}/validate/", None),
        ("get", f"{base}/deliveries/", None),
        ("get", f"{base}/dead-letters/", None),
        ("post", f"{base}/dead-letters/{letter_id}/retry/", None),
    ]


def test_the_hook_catalog_lists_each_hook_with_its_fields(as_alice):
    response = as_alice.get(f"{API}/hooks/")
    assert response.status_code == 200
    person = next(h for h in response.json() if h["name"] == "person")
    assert "name" in person["fields"]
    assert person["schema"]["type"] == "object" and "name" in person["schema"]["properties"]


def test_a_created_listener_answers_its_secret_once_and_belongs_to_its_creator(as_alice, alice):
    body = {"hook": "person", "url": "http://127.0.0.1:9/new", "filters": {"name": {"op": "startswith", "value": "J"}}}
    response = as_alice.post(f"{API}/listeners/", body, format="json")
    assert response.status_code == 201, response.json()
    created = response.json()
    listener = Listener.objects.get(pk=created["id"])
    assert created["secret"] == listener.secret
    assert listener.owner == alice
    assert listener.describe_filters() == "name starts with 'J'"
    again = as_alice.get(f"{API}/listeners/{listener.pk}/").json()
    assert "secret" not in again
    assert again["filters"] == {"name": {"op": "startswith", "value": "J"}}


def test_the_list_shows_only_the_users_own_listeners_paginated(as_alice, alices_listener, bobs_listener):
    page = as_alice.get(f"{API}/listeners/").json()
    assert [item["id"] for item in page["results"]] == [alices_listener.pk]
    assert page["count"] == 1


def test_staff_with_the_permission_see_every_listener(make_user, alices_listener, bobs_listener):
    staff = token_client(make_user("carol", "view", "change", staff=True))
    ids = {item["id"] for item in staff.get(f"{API}/listeners/").json()["results"]}
    assert ids == {alices_listener.pk, bobs_listener.pk}
    assert staff.get(f"{API}/listeners/{bobs_listener.pk}/").status_code == 200


def test_another_users_listener_is_a_404_on_every_route(as_alice, bobs_listener):
    letter = dead_letter(bobs_listener)
    for method, path, body in listener_routes(bobs_listener.pk, letter.pk):
        response = getattr(as_alice, method)(path, body, format="json")
        assert response.status_code == 404, (method, path, response.status_code)
    bobs_listener.refresh_from_db()
    assert bobs_listener.state == Listener.State.ACTIVE and bobs_listener.description == ""
    assert DeadLetter.objects.get(pk=letter.pk).attempts == 3


def test_an_unknown_id_is_a_404_too(as_alice):
    assert as_alice.get(f"{API}/listeners/999999/").status_code == 404


def test_without_a_token_every_route_is_a_401(alices_listener):
    from rest_framework.test import APIClient

    anonymous = APIClient()
    assert anonymous.get(f"{API}/hooks/").status_code == 401
    assert anonymous.get(f"{API}/listeners/").status_code == 401
    for method, path, body in listener_routes(alices_listener.pk, 1):
        assert getattr(anonymous, method)(path, body, format="json").status_code == 401, (method, path)


def test_a_wrong_token_is_a_401(alices_listener):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert client.get(f"{API}/listeners/").status_code == 401


def test_the_session_works_as_well(alice, alices_listener):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(alice)
    assert client.get(f"{API}/listeners/{alices_listener.pk}/").status_code == 200


def test_a_user_without_the_permission_gets_a_403(make_user):
    viewer = token_client(make_user("dave", "view"))
    assert viewer.get(f"{API}/listeners/").status_code == 200
    response = viewer.post(f"{API}/listeners/", {"hook": "person", "url": "http://127.0.0.1:9/x"}, format="json")
    assert response.status_code == 403
    nobody = token_client(make_user("erin"))
    assert nobody.get(f"{API}/listeners/").status_code == 403


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"hook": "person", "url": "http://10.1.2.3/hook"}, "url"),  # a private address
        ({"hook": "person", "url": "not a url"}, "url"),
        ({"hook": "person", "url": "http://127.0.0.1:9/x", "filters": {"nmae": {"op": "is", "value": 1}}}, "nmae"),
        ({"hook": "person", "url": "http://127.0.0.1:9/x", "filters": {"name": {"op": "regex", "value": "("}}}, "name"),
        ({"hook": "person", "url": "http://127.0.0.1:9/x", "filters": {"name": {"op": "nope"}}}, "name"),
        ({"hook": "person", "url": "http://127.0.0.1:9/x", "filters": ["not", "an", "object"]}, "filters"),
        ({"hook": "no-such-hook", "url": "http://127.0.0.1:9/x"}, "hook"),
        ({"url": "http://127.0.0.1:9/x"}, "hook"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(as_alice, body, field):
    response = as_alice.post(f"{API}/listeners/", body, format="json")
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors and all(isinstance(m, str) for m in errors[field]), errors
    assert not Listener.objects.exists()


def test_update_validates_like_create_and_keeps_the_hook(as_alice, alices_listener):
    path = f"{API}/listeners/{alices_listener.pk}/"
    assert as_alice.patch(path, {"url": "http://192.168.0.1/"}, format="json").status_code == 400
    assert as_alice.patch(path, {"hook": "other"}, format="json").status_code == 400
    response = as_alice.patch(path, {"url": "http://127.0.0.1:9/moved", "filters": {}}, format="json")
    assert response.status_code == 200, response.json()
    alices_listener.refresh_from_db()
    assert alices_listener.url == "http://127.0.0.1:9/moved" and alices_listener.filters == {}


def test_delete_removes_the_listener(as_alice, alices_listener):
    assert as_alice.delete(f"{API}/listeners/{alices_listener.pk}/").status_code == 204
    assert not Listener.objects.filter(pk=alices_listener.pk).exists()


def test_pause_and_resume_change_the_state(as_alice, alices_listener):
    Listener.objects.filter(pk=alices_listener.pk).update(consecutive_failures=4)
    assert as_alice.post(f"{API}/listeners/{alices_listener.pk}/pause/").json()["state"] == "paused"
    resumed = as_alice.post(f"{API}/listeners/{alices_listener.pk}/resume/").json()
    assert resumed["state"] == "active" and resumed["consecutive_failures"] == 0


def test_rotating_the_secret_answers_the_new_one(as_alice, alices_listener):
    old = alices_listener.secret
    response = as_alice.post(f"{API}/listeners/{alices_listener.pk}/rotate-secret/")
    alices_listener.refresh_from_db()
    assert response.json()["secret"] == alices_listener.secret != old
    assert alices_listener.secrets() == [alices_listener.secret, old]


def test_a_test_event_reaches_the_receiver_and_is_not_recorded(as_alice, alices_listener, receiver):
    Listener.objects.filter(pk=alices_listener.pk).update(url=receiver.url)
    result = as_alice.post(f"{API}/listeners/{alices_listener.pk}/test/").json()
    assert result["ok"] is True and result["status_code"] == 200
    (request,) = receiver.wait_for(1)
    assert request.json()["name"].startswith("A")
    assert not Delivery.objects.exists()


def test_a_test_event_of_a_hook_no_longer_offered_is_a_404(as_alice, alices_listener):
    Listener.objects.filter(pk=alices_listener.pk).update(hook="retired")
    assert as_alice.post(f"{API}/listeners/{alices_listener.pk}/test/").status_code == 404


def test_deliveries_and_dead_letters_are_paginated_newest_first(as_alice, alices_listener):
    Delivery.objects.bulk_create(
        Delivery(listener=alices_listener, hook="person", event_id=f"e{i}", webhook_id=f"msg_e{i}", ok=True)
        for i in range(30)
    )
    first = as_alice.get(f"{API}/listeners/{alices_listener.pk}/deliveries/").json()
    assert first["count"] == 30 and len(first["results"]) == 25 and first["next"]
    second = as_alice.get(f"{API}/listeners/{alices_listener.pk}/deliveries/?page=2").json()
    assert len(second["results"]) == 5
    letter = dead_letter(alices_listener)
    letters = as_alice.get(f"{API}/listeners/{alices_listener.pk}/dead-letters/").json()
    assert [x["id"] for x in letters["results"]] == [letter.pk]
    assert as_alice.get(f"{API}/listeners/{alices_listener.pk}/deliveries/?page=9").status_code == 404


def test_retrying_a_dead_letter_delivers_it_and_a_second_retry_is_a_409(as_alice, alices_listener, receiver):
    Listener.objects.filter(pk=alices_listener.pk).update(url=receiver.url)
    letter = dead_letter(alices_listener)
    path = f"{API}/listeners/{alices_listener.pk}/dead-letters/{letter.pk}/retry/"
    response = as_alice.post(path)
    assert response.status_code == 200
    assert response.json()["status"] == "delivered"
    assert receiver.wait_for(1)
    assert as_alice.post(path).status_code == 409


def test_another_listeners_dead_letter_is_a_404_through_mine(as_alice, alices_listener, bobs_listener):
    letter = dead_letter(bobs_listener)
    assert as_alice.post(f"{API}/listeners/{alices_listener.pk}/dead-letters/{letter.pk}/retry/").status_code == 404


def test_the_openapi_schema_documents_every_route_and_error(client):
    schema = client.get(f"{API}/schema/?format=json").json()
    assert schema["openapi"].startswith("3.")
    paths = schema["paths"]
    for path in ("hooks/", "listeners/", "listeners/{id}/", "listeners/{id}/dead-letters/{letter_id}/retry/"):
        assert f"{API}/{path}" in paths
    for operations in paths.values():
        for method, operation in operations.items():
            if "schema" not in operation["operationId"]:
                assert {"401", "403", "404"} <= set(operation["responses"]), (method, operation["operationId"])


def test_staff_can_scrape_the_metrics_and_others_cannot(make_user, alice, redis_client):
    assert token_client(alice).get(f"{API}/metrics/").status_code == 403
    staff = token_client(make_user("carol", "view", staff=True))
    response = staff.get(f"{API}/metrics/")
    assert response.status_code == 200
    assert b"durian_listeners" in response.content
    assert User.objects.count() == 2


def test_the_web_metrics_say_the_delivery_counters_live_on_the_workers(make_user, redis_client):
    from prometheus_client.parser import text_string_to_metric_families

    staff = token_client(make_user("carol", "view", staff=True))
    body = staff.get(f"{API}/metrics/").content.decode()
    assert "durian_deliveries_total and durian_attempt_duration_seconds are counted by the workers" in body
    assert "9191" in body
    families = {f.name: f for f in text_string_to_metric_families(body)}
    assert "durian_listeners" in families
    empty = [name for name, family in families.items() if name.startswith("durian_") and not family.samples]
    assert empty == [], f"HELP and TYPE lines without samples: {empty}"


def test_the_metrics_show_open_circuits_and_the_deliveries_held_behind_them(make_user, redis_client, settings):
    from durian.storage import circuit

    settings.DURIAN_CIRCUIT_FAILURES = 2
    down = Listener.objects.create(hook="person", url="https://down.test/hook")
    Listener.objects.create(hook="person", url="https://up.test/hook")
    for _ in range(2):
        circuit.down(redis_client, down.pk)
    circuit.held(redis_client, {down.pk: 14})
    staff = token_client(make_user("carol", "view", staff=True))
    body = staff.get(f"{API}/metrics/").content.decode()
    assert 'durian_circuits{state="open"} 1.0' in body
    assert 'durian_circuits{state="half-open"} 0.0' in body
    assert "durian_deliveries_held 14.0" in body


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3),
    max_leaves=8,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(filters=st.dictionaries(st.sampled_from(["name", "address", "nmae"]), json_values, max_size=2) | json_values)
def test_any_json_as_filters_makes_a_listener_or_a_400_never_a_500(as_alice, filters):
    body = {"hook": "person", "url": "http://127.0.0.1:9/h", "filters": filters}
    response = as_alice.post(f"{API}/listeners/", body, format="json")
    assert response.status_code in (201, 400), response.content
    if response.status_code == 201:
        listener = Listener.objects.get(pk=response.json()["id"])
        assert response.json()["filters"] == listener.filters
        listener.matchers  # noqa: B018  (usable matchers)


def test_the_openapi_schema_names_durian_with_its_version_and_description(client):
    import durian

    info = client.get(f"{API}/schema/?format=json").json()["info"]
    assert "durian" in info["title"]
    assert info["version"] == durian.__version__ != "0.0.0"
    assert "Webhooks for Django" in info["description"]
