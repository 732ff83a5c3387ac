"""What a receiver can understand: the event type on every delivery, the two payload formats,
and the published schema that real deliveries validate against."""

import datetime
import io
import json

import jsonschema
import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standardwebhooks import Webhook

from durian.exceptions import PayloadError
from durian.hook import ModelHook
from durian.models import DeadLetter, Listener
from durian.pipeline.resend import resend
from durian.registry import hooks
from durian.web.sample import send_test_event
from example_project.people.hooks import PersonHook
from example_project.people.models import Person
from tests.test_delivery import wait_until
from tests.testapp.hooks import InvoiceDeletedHook, InvoiceHook
from tests.testapp.models import Customer, Invoice

pytestmark = pytest.mark.django_db(transaction=True)


def validator(hook_name):
    out = io.StringIO()
    call_command("durian_schema", hook_name, stdout=out)
    schema = json.loads(out.getvalue())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


# -- the event type --------------------------------------------------------------------------------


def test_every_delivery_retry_resend_and_test_event_names_the_hook_in_durian_event(worker, receiver):
    receiver.respond(500)
    listener = PersonHook().listener(url=receiver.url).save()
    Person.objects.create(name="Joe")
    receiver.wait_for(1)  # a first attempt (500), then its retry (200)
    assert [(r.status, r.headers["durian-event"]) for r in receiver.requests] == [(500, "person"), (200, "person")]

    receiver.always(500)
    Person.objects.create(name="Ann")
    wait_until(lambda: DeadLetter.objects.exists())
    receiver.always(200)
    assert resend([DeadLetter.objects.get()]) == (1, 0)
    resent = receiver.wait_for(2)[-1]  # the receiver records a request just after answering it
    assert resent.headers["durian-event"] == "person"
    assert resent.json()["name"] == "Ann"

    send_test_event(listener)
    assert receiver.wait_for(3)[-1].headers["durian-event"] == "person"


# -- payload formats --------------------------------------------------------------------------------


def test_a_flat_listener_gets_the_fields_and_a_standard_one_the_envelope_both_verifiable(worker, receiver):
    flat = PersonHook().listener(url=receiver.url).save()
    standard = PersonHook().listener(url=receiver.url + "?standard", payload_format="standard").save()
    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    Person.objects.create(name="Jim", address="5 Main St")
    requests = receiver.wait_for(2)
    by_path = {r.path: r for r in requests}
    flat_body = Webhook(flat.secret).verify(by_path["/hook"].body, by_path["/hook"].headers)
    envelope = Webhook(standard.secret).verify(by_path["/hook?standard"].body, by_path["/hook?standard"].headers)
    assert flat_body == {"name": "Jim", "address": "5 Main St", "created": True}
    assert envelope["type"] == "person"
    assert envelope["data"] == flat_body
    sent_at = datetime.datetime.fromisoformat(envelope["timestamp"].replace("Z", "+00:00"))
    assert sent_at.tzinfo is not None and sent_at >= before
    assert set(envelope) == {"type", "timestamp", "data"}


def test_the_standard_envelope_is_the_same_body_on_every_retry(worker, receiver):
    receiver.respond(500)
    PersonHook().listener(url=receiver.url, payload_format="standard").save()
    Person.objects.create(name="Joe")
    receiver.wait_for(1)
    first, second = receiver.requests
    assert first.body == second.body


def test_an_unknown_payload_format_is_refused_when_the_listener_is_made(receiver):
    with pytest.raises(ValidationError) as refused:
        PersonHook().listener(url=receiver.url, payload_format="xml").save()
    assert "payload_format" in refused.value.message_dict
    assert not Listener.objects.exists()


# -- the catalog and its schemas ---------------------------------------------------------------------


def test_delivered_payloads_of_every_kind_validate_against_durian_schema(worker, receiver, invoice_hooks):
    InvoiceHook().listener(url=receiver.url).save()
    InvoiceDeletedHook().listener(url=receiver.url).save()
    PersonHook().listener(url=receiver.url).save()
    acme = Customer.objects.create(name="ACME")
    invoice = Invoice.objects.create(number="A-1", amount="12.50", customer=acme)
    invoice.status = Invoice.Status.PAID
    invoice.paid_at = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    invoice.save()
    Person.objects.create(name="Jim")
    invoice.delete()
    requests = receiver.wait_for(4)
    checked = set()
    for request in requests:
        hook = request.headers["durian-event"]
        validator(hook).validate(request.json())
        checked.add(hook)
    assert checked == {"invoice", "invoice.deleted", "person"}


def test_the_schema_rejects_wrong_types_missing_fields_and_fields_that_are_not_sent(invoice_hooks):
    check = validator("invoice")
    good = {
        "number": "A-1",
        "status": "paid",
        "amount": "12.50",
        "customer": 1,
        "paid_at": "2026-01-02T03:04:05Z",
        "created": False,
        "changed": ["status"],
        "previous": {"status": "draft"},
        "customer_name": "ACME",
    }
    check.validate(good)
    for wrong in (
        {"amount": 12.5},
        {"status": "lost"},
        {"customer": "ACME"},
        {"created": "no"},
        {"changed": ["memo"]},
        {"paid_at": "yesterday"},
        {"uuid": "x"},
    ):
        with pytest.raises(jsonschema.ValidationError):
            check.validate({**good, **wrong})
    with pytest.raises(jsonschema.ValidationError):
        check.validate({k: v for k, v in good.items() if k != "number"})


def test_schemas_derive_types_formats_and_nullability_from_model_fields(invoice_hooks):
    schema = hooks["invoice"].schema()
    props = schema["properties"]
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert props["paid_at"] == {"type": ["string", "null"], "format": "date-time"}
    assert props["customer"]["type"] == ["integer", "null"]
    assert props["status"]["enum"] == ["draft", "sent", "paid"]
    assert props["created"]["type"] == "boolean"
    assert "memo" not in props and schema["additionalProperties"] is False
    assert "created" not in hooks["invoice.deleted"].schema()["properties"]


def test_durian_schema_prints_one_hook_or_every_hook_by_name(invoice_hooks):
    out = io.StringIO()
    call_command("durian_schema", stdout=out)
    every = json.loads(out.getvalue())
    assert {"person", "invoice", "invoice.deleted"} <= set(every)
    assert every["person"]["properties"]["name"] == {"type": "string", "maxLength": 100}
    with pytest.raises(CommandError, match="nope"):
        call_command("durian_schema", "nope", stdout=io.StringIO())


def test_the_schema_is_served_under_the_web_interface_and_the_catalog_shows_field_types(client, invoice_hooks):
    User.objects.create_superuser("staff", "staff@example.com", "pw")
    client.login(username="staff", password="pw")
    response = client.get("/webhooks/events/invoice/schema.json")
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response.json() == hooks["invoice"].schema()
    assert client.get("/webhooks/events/nope/schema.json").status_code == 404
    page = client.get("/webhooks/events/").content.decode()
    assert "<code>paid_at</code></th><td>string or null (date-time)</td>" in page
    assert "/webhooks/events/invoice/schema.json" in page


def test_a_plain_hook_declares_its_schema_with_fields_schema():
    from durian.hook import Hook

    class Ping(Hook):
        name = "ping"
        provides_args = ["n"]
        fields_schema = {"n": {"type": "integer"}}

    schema = Ping().schema()
    assert schema["properties"] == {"n": {"type": "integer"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"n": "1"}, schema)


# -- custom payloads -----------------------------------------------------------------------------------


def test_a_shaped_payload_carries_a_related_objects_name(invoice_hooks):
    from durian.testing import capture

    acme = Customer.objects.create(name="ACME")
    with capture() as events:
        Invoice.objects.create(number="A-1", customer=acme)
    (event,) = events
    assert event.payload["customer_name"] == "ACME"
    assert "memo" not in event.payload


def test_a_shaped_payload_may_not_send_a_model_field_outside_provides_args():
    class Leaky(ModelHook):
        name = "leaky"
        model = Person
        provides_args = ["name"]

        def shape(self, instance, data):
            return {**data, "secret": instance.secret}

    with pytest.raises(PayloadError, match="secret"):
        Leaky().build_payload(Person(name="Joe", secret="hunter2"), created=True)


def test_a_shaped_payload_goes_through_the_json_checks():
    class Odd(ModelHook):
        name = "odd"
        model = Person
        provides_args = ["name"]

        def shape(self, instance, data):
            return {**data, "when": datetime.date(2026, 1, 2), "bad": object()}

    with pytest.raises(PayloadError, match="bad"):
        Odd().build_payload(Person(name="Joe"), created=True)


def test_listener_payload_format_is_kept_and_shown_in_the_cache_view(receiver):
    from durian.storage.listener_cache import view

    listener = PersonHook().listener(url=receiver.url, payload_format="standard").save()
    assert Listener.objects.get().payload_format == "standard"
    assert view(listener).payload_format == "standard"


def test_the_admin_sets_a_listeners_payload_format_and_refuses_an_unknown_one(client, receiver):
    User.objects.create_superuser("staff", "staff@example.com", "pw")
    client.login(username="staff", password="pw")
    form = {"hook": "person", "url": receiver.url, "filters": "{}", "state": "active", "payload_format": "xml"}
    refused = client.post("/admin/durian/listener/add/", form)
    assert refused.status_code == 200 and not Listener.objects.exists()
    assert "payload_format" in refused.context["adminform"].form.errors
    saved = client.post("/admin/durian/listener/add/", {**form, "payload_format": "standard"})
    assert saved.status_code == 302
    assert Listener.objects.get().payload_format == "standard"


@pytest.fixture
def invoice_validator(invoice_hooks):
    return validator("invoice")


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    number=st.text(max_size=20),
    status=st.sampled_from(Invoice.Status.values),
    amount=st.decimals(min_value=-(10**7), max_value=10**7, places=2, allow_nan=False),
    paid_at=st.none() | st.datetimes(timezones=st.timezones()),
    created=st.booleans(),
    old_status=st.sampled_from(Invoice.Status.values),
)
def test_every_payload_the_hook_builds_validates_against_its_schema(
    invoice_validator, number, status, amount, paid_at, created, old_status
):
    invoice = Invoice(pk=7, number=number, status=status, amount=amount, paid_at=paid_at)
    before = None if created else {"status": old_status, "number": "old"}
    data = hooks["invoice"].build_payload(invoice, created=created, before=before)
    invoice_validator.validate(data)
