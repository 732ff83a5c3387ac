"""Every listener setting from every surface (issue 20): headers, fields, the cloudevents format and the
retry schedule from the web form, admin and the API, with API parity: every field the form sets is in
the API, an unknown or read-only field is a 400 naming it, and the API and the form refuse the same input."""

from __future__ import annotations

import json

import jsonschema
import pytest
from cloudevents.core.bindings.http import HTTPMessage, from_http_event
from django.contrib.auth.models import User
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient
from standardwebhooks import Webhook

from durian.core.headers import validate_headers
from durian.core.schedule import validate_retry_schedule
from durian.models import Listener
from durian.web.forms import ListenerForm
from example_project.people.hooks import PersonHook
from example_project.people.models import Person
from tests.web.conftest import client_for

API = "/api/webhooks/listeners/"
CREATE = reverse("durian:listener-create", kwargs={"hook": "person"})
ANY_ROWS = {"filter-name-op": "any", "filter-address-op": "any", "filter-created-op": "any"}
EVERY_SETTING = {
    "hook": "person",
    "url": "http://127.0.0.1:9/all",
    "payload_format": "cloudevents",
    "ordered": True,
    "max_in_flight": 3,
    "rate_limit": 2.5,
    "headers": {"Authorization": "Bearer t0ken", "X-Tenant": "acme"},
    "fields": ["name"],
    "retry_schedule": [10, 60, 300],
}


def token_client(user: User) -> APIClient:
    """A client sending the user's token (made once)."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def edit_page(listener: Listener) -> str:
    return reverse("durian:listener-edit", kwargs={"pk": listener.pk})


def saved_settings(listener: Listener) -> dict:
    listener.refresh_from_db()
    return {name: getattr(listener, name) for name in EVERY_SETTING if name not in ("hook", "url")}


# -- the API: every field the form sets -------------------------------------------------------------


@pytest.mark.django_db
def test_the_api_sets_every_field_the_form_sets_and_answers_header_values_masked(alice):
    response = token_client(alice).post(API, EVERY_SETTING, format="json")
    assert response.status_code == 201, response.json()
    answered = response.json()
    assert answered["headers"] == {"Authorization": "***", "X-Tenant": "***"}
    assert {k: answered[k] for k in ("payload_format", "ordered", "max_in_flight", "rate_limit", "fields")} == {
        "payload_format": "cloudevents",
        "ordered": True,
        "max_in_flight": 3,
        "rate_limit": 2.5,
        "fields": ["name"],
    }
    assert answered["retry_schedule"] == [10, 60, 300]
    listener = Listener.objects.get(pk=answered["id"])
    assert saved_settings(listener) == {k: v for k, v in EVERY_SETTING.items() if k not in ("hook", "url")}
    assert "t0ken" not in json.dumps(token_client(alice).get(f"{API}{listener.pk}/").json())


@pytest.mark.django_db
def test_a_masked_header_value_sent_back_through_the_api_keeps_the_stored_one(alice):
    listener = PersonHook().listener(url="http://127.0.0.1:9/a", owner=alice, headers={"Authorization": "old"}).save()
    client = token_client(alice)
    response = client.patch(
        f"{API}{listener.pk}/", {"headers": {"Authorization": "***", "X-New": "new"}}, format="json"
    )
    assert response.status_code == 200, response.json()
    listener.refresh_from_db()
    assert listener.headers == {"Authorization": "old", "X-New": "new"}
    refused = client.patch(f"{API}{listener.pk}/", {"headers": {"X-Other": "***"}}, format="json")
    assert refused.status_code == 400 and "headers" in refused.json()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("colour", "No such field."),
        ("backfil", "No such field."),
        ("state", "This field is read-only."),
        ("secret", "This field is read-only."),
        ("owner", "This field is read-only."),
        ("consecutive_failures", "This field is read-only."),
        ("id", "This field is read-only."),
    ],
)
def test_an_unknown_or_read_only_field_is_a_400_naming_the_field(alice, name, words):
    body = {"hook": "person", "url": "http://127.0.0.1:9/x", name: "x"}
    response = token_client(alice).post(API, body, format="json")
    assert response.status_code == 400
    assert response.json() == {name: [words]}
    assert not Listener.objects.exists()


# -- one set of rules: what the form refuses, the API refuses, naming the same field ----------------------

REFUSED = [
    # (API body, form data, the field named)
    ({"filters": {"created": {"op": "startswith", "value": "t"}}}, {"filter-created-op": "startswith"}, "created"),
    ({"retry_schedule": [0.5]}, {"retry_schedule": "0.5"}, "retry_schedule"),
    ({"retry_schedule": [5] * 21}, {"retry_schedule": ", ".join(["5"] * 21)}, "retry_schedule"),
    ({"retry_schedule": [8 * 24 * 3600]}, {"retry_schedule": str(8 * 24 * 3600)}, "retry_schedule"),
    ({"fields": ["secret"]}, {"fields": ["secret"]}, "fields"),
    ({"headers": {"Host": "evil.example"}}, {"headers": "Host: evil.example"}, "headers"),
    ({"headers": {"Webhook-Signature": "v1,x"}}, {"headers": "Webhook-Signature: v1,x"}, "headers"),
    ({"headers": {"Bad Name": "x"}}, {"headers": "Bad Name: x"}, "headers"),
    ({"max_in_flight": 0}, {"max_in_flight": "0"}, "max_in_flight"),
    ({"rate_limit": 0}, {"rate_limit": "0"}, "rate_limit"),
    ({"payload_format": "xml"}, {"payload_format": "xml"}, "payload_format"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("body", "data", "field"), REFUSED)
def test_the_api_and_the_form_refuse_the_same_input_naming_the_same_field(alice, body, data, field):
    response = token_client(alice).post(API, {"hook": "person", "url": "http://127.0.0.1:9/x", **body}, format="json")
    assert response.status_code == 400, response.json()
    assert field in response.json(), response.json()

    form = ListenerForm({"url": "https://client.test/hook", **ANY_ROWS, **data}, hook=PersonHook())
    assert not form.is_valid()
    form_fields = {"filter-created-op", "filter-created-value"} if field == "created" else {field}
    assert form_fields & set(form.errors), form.errors
    assert not Listener.objects.exists()


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    schedule=st.lists(
        st.one_of(st.integers(min_value=-10, max_value=10**6), st.floats(allow_nan=False, allow_infinity=False)),
        max_size=22,
    )
)
def test_the_api_accepts_a_retry_schedule_exactly_when_the_rules_do(alice, schedule):
    try:
        validate_retry_schedule(schedule)
        valid = True
    except Exception:
        valid = False
    response = token_client(alice).post(
        API, {"hook": "person", "url": "http://127.0.0.1:9/x", "retry_schedule": schedule}, format="json"
    )
    assert response.status_code == (201 if valid else 400), response.json()
    if valid:
        assert Listener.objects.get(pk=response.json()["id"]).retry_schedule == schedule
    Listener.objects.all().delete()


@pytest.mark.django_db
def test_the_openapi_schema_has_the_new_fields(client):
    schema = client.get("/api/webhooks/schema/?format=json").json()
    components = schema["components"]["schemas"]
    listener = components["Listener"]["properties"]
    for name in ("payload_format", "ordered", "max_in_flight", "rate_limit", "headers", "fields", "retry_schedule"):
        assert name in listener, name
    assert listener["headers"]["type"] == "object"
    assert listener["fields"]["items"] == {"type": "string"}
    assert listener["retry_schedule"]["maxItems"] == 20
    formats = json.dumps(components)
    assert "cloudevents" in formats


# -- against a real receiver and worker ----------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_listener_made_through_the_api_delivers_with_its_headers_fields_and_cloudevents(alice, worker, receiver):
    body = {**EVERY_SETTING, "url": receiver.url, "ordered": False, "rate_limit": None, "max_in_flight": None}
    response = token_client(alice).post(API, body, format="json")
    assert response.status_code == 201, response.json()
    secret = response.json()["secret"]
    Person.objects.create(name="Jim", address="5 Main St")
    (request,) = receiver.wait_for(1)
    assert request.headers["authorization"] == "Bearer t0ken" and request.headers["x-tenant"] == "acme"
    Webhook(secret).verify(request.body, request.headers)
    event = from_http_event(HTTPMessage(headers=request.headers, body=request.body))
    assert event.get_type() == "person" and event.get_data() == {"name": "Jim"}


# -- the web form -------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_form_sets_headers_fields_cloudevents_and_a_retry_schedule(alice):
    client = client_for(alice)
    data = {
        "url": "http://127.0.0.1:9/form",
        "payload_format": "cloudevents",
        "headers": "Authorization: Bearer t0ken\nX-Tenant: acme\n",
        "fields": ["name", "created"],
        "retry_schedule": "10, 60, 300",
        **ANY_ROWS,
    }
    response = client.post(CREATE, data)
    assert response.status_code == 302, response.context["form"].errors
    listener = Listener.objects.get()
    assert listener.payload_format == "cloudevents"
    assert listener.headers == {"Authorization": "Bearer t0ken", "X-Tenant": "acme"}
    assert listener.fields == ["name", "created"]
    assert listener.retry_schedule == [10, 60, 300]

    page = client.get(edit_page(listener)).content.decode()
    assert "t0ken" not in page
    assert "Authorization: ***" in page
    assert "10, 60, 300" in page
    edited = {**data, "headers": "Authorization: ***\nX-Tenant: beta", "fields": [], "retry_schedule": ""}
    assert client.post(edit_page(listener), edited).status_code == 302
    listener.refresh_from_db()
    assert listener.headers == {"Authorization": "Bearer t0ken", "X-Tenant": "beta"}
    assert listener.fields == [] and listener.retry_schedule is None


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("text", "message"),
    [("10, soon", "“soon” is not a number of seconds"), ("0", "Each delay must be between 1 s and 7 days")],
)
def test_a_bad_retry_schedule_in_the_form_is_shown_next_to_it(text, message):
    form = ListenerForm({"url": "https://client.test/hook", **ANY_ROWS, "retry_schedule": text}, hook=PersonHook())
    assert not form.is_valid()
    assert any(message in m for m in form.errors["retry_schedule"]), form.errors


@pytest.mark.django_db
def test_a_header_line_without_a_colon_is_shown_next_to_the_headers():
    form = ListenerForm({"url": "https://client.test/hook", **ANY_ROWS, "headers": "Bearer x"}, hook=PersonHook())
    assert not form.is_valid()
    assert form.errors["headers"] == ["Line 1 is not “Name: value”."]


# -- admin ----------------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_shows_header_values_masked_and_keeps_them_when_left_so(client):
    User.objects.create_superuser("staff", "staff@example.com", "pw")
    client.login(username="staff", password="pw")
    listener = PersonHook().listener(url="http://127.0.0.1:9/a", headers={"Authorization": "Bearer t0ken"}).save()
    change = f"/admin/durian/listener/{listener.pk}/change/"
    page = client.get(change).content.decode()
    assert "t0ken" not in page and "gAAAAA" not in page
    form = {
        "hook": "person",
        "url": "http://127.0.0.1:9/a",
        "filters": "{}",
        "state": "active",
        "payload_format": "cloudevents",
        "headers": '{"Authorization": "***", "X-Tenant": "acme"}',
        "fields": '["name"]',
        "retry_schedule": "[5, 50]",
    }
    response = client.post(change, form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    listener.refresh_from_db()
    assert listener.headers == {"Authorization": "Bearer t0ken", "X-Tenant": "acme"}
    assert listener.fields == ["name"] and listener.retry_schedule == [5, 50]
    assert listener.payload_format == "cloudevents"
    refused = client.post(change, {**form, "headers": '{"Host": "x"}', "fields": '["secret"]'})
    assert {"headers", "fields"} <= set(refused.context["adminform"].form.errors)


# -- what a listener receives: its schema --------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("payload_format", ["flat", "standard", "cloudevents"])
def test_a_listener_s_schema_shows_what_it_receives_and_its_deliveries_validate(
    alice, worker, receiver, payload_format
):
    listener = (
        PersonHook().listener(url=receiver.url, owner=alice, fields=["name"], payload_format=payload_format).save()
    )
    from_api = token_client(alice).get(f"{API}{listener.pk}/schema/")
    assert from_api.status_code == 200
    page = client_for(alice).get(reverse("durian:event-schema", kwargs={"hook": "person"}), {"listener": listener.pk})
    assert page.json() == from_api.json()
    schema = from_api.json()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    Person.objects.create(name="Jim", address="5 Main St")
    (request,) = receiver.wait_for(1)
    validator.validate(request.json())
    assert not validator.is_valid({"name": "Jim", "address": "5 Main St", "created": True})


@pytest.mark.django_db
def test_another_user_s_listener_schema_is_a_404(alice, bob):
    listener = PersonHook().listener(url="http://127.0.0.1:9/b", owner=bob, fields=["name"]).save()
    assert token_client(alice).get(f"{API}{listener.pk}/schema/").status_code == 404
    page = client_for(alice).get(reverse("durian:event-schema", kwargs={"hook": "person"}), {"listener": listener.pk})
    assert page.status_code == 404


HEADER_NAMES = st.one_of(
    st.sampled_from(["Authorization", "X-Tenant", "Host", "Content-Type", "webhook-id", "Durian-X", "TE", "Bad Name"]),
    st.text(min_size=1, max_size=12),
)
HEADER_VALUES = st.one_of(st.text(max_size=30), st.text(alphabet="abc \t\r\n", max_size=8), st.integers())


@pytest.mark.django_db
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(headers=st.dictionaries(HEADER_NAMES, HEADER_VALUES, max_size=4))
def test_the_api_and_the_form_accept_headers_exactly_when_the_rules_do(alice, headers):
    try:
        validate_headers(headers)
        valid = True
    except Exception:
        valid = False
    response = token_client(alice).post(
        API, {"hook": "person", "url": "http://127.0.0.1:9/x", "headers": headers}, format="json"
    )
    assert response.status_code == (201 if valid else 400), response.json()
    if valid:
        assert Listener.objects.get(pk=response.json()["id"]).headers == headers
    else:
        assert list(response.json()) == ["headers"]
    Listener.objects.all().delete()
    lines = "\n".join(f"{name}: {value}" for name, value in headers.items())
    if all(
        isinstance(v, str)
        and v == v.strip()
        and "\n" not in v + k
        and "\r" not in v + k
        and ":" not in k
        and k == k.strip()
        for k, v in headers.items()
    ):
        form = ListenerForm({"url": "https://client.test/hook", **ANY_ROWS, "headers": lines}, hook=PersonHook())
        assert form.is_valid() == valid, form.errors


@pytest.mark.django_db(transaction=True)
def test_a_retry_schedule_set_from_the_form_gives_its_attempts_at_those_delays(alice, worker, receiver, settings):
    settings.DURIAN_RETRY_SCHEDULE = [0.1]  # the site's: 2 attempts, 0.1 s apart
    receiver.always(500)
    data = {"url": receiver.url, "retry_schedule": "1, 2", **ANY_ROWS}
    assert client_for(alice).post(CREATE, data).status_code == 302
    Person.objects.create(name="Joe")
    receiver.wait_for(3, delivered=False, timeout=30)  # 1 attempt + the listener's 2 retries
    first, second, third = (r.at for r in receiver.requests)
    assert 0.9 <= second - first < 1.9  # its 1 s, not the site's 0.1 s
    assert 1.9 <= third - second < 3.5  # then its 2 s
