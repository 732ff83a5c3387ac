"""Change triggers (``on_change``), the transition matcher, and delete hooks."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from durian.core import match
from durian.exceptions import HookError
from durian.hook import ModelHook
from durian.match import Changed
from durian.models import Listener
from durian.registry import hooks
from durian.testing import capture
from example_project.people.hooks import PersonHook
from example_project.people.models import Person
from tests.testapp.hooks import InvoiceDeletedHook, InvoiceHook
from tests.testapp.models import Customer, Invoice

pytestmark = pytest.mark.django_db(transaction=True)


def payloads(events, hook="invoice"):
    return [e.payload for e in events if e.hook == hook]


def test_a_create_always_fires_with_nothing_changed(invoice_hooks):
    with capture() as events:
        Invoice.objects.create(number="A-1")
    (data,) = payloads(events)
    assert (data["created"], data["changed"], data["previous"]) == (True, [], {})


def test_a_save_fires_only_when_a_named_field_changed_with_changed_and_previous(invoice_hooks):
    invoice = Invoice.objects.create(number="A-1", amount="5.00")
    with capture() as events:
        invoice.memo = "not watched"
        invoice.amount = "7.00"
        invoice.save()  # amount is provided but not in on_change: no event
        invoice.status = Invoice.Status.SENT
        invoice.number = "A-2"
        invoice.save()
        invoice.save()  # nothing changed since the last save
    (data,) = payloads(events)
    assert data["status"] == "sent" and data["created"] is False
    assert data["changed"] == ["number", "status"]  # sorted names of provided fields changed by this save
    assert data["previous"] == {"number": "A-1", "status": "draft"}


def test_an_instance_loaded_from_the_database_compares_with_what_was_loaded(invoice_hooks):
    Invoice.objects.create(number="A-1")
    with capture() as events:
        loaded = Invoice.objects.get()
        loaded.status = Invoice.Status.PAID
        loaded.save()
        again = Invoice.objects.get()
        again.save()
    (data,) = payloads(events)
    assert data["previous"] == {"status": "draft"}


def test_a_foreign_key_change_reports_the_old_primary_key(invoice_hooks):
    class ByCustomer(ModelHook):
        name = "invoice.customer"
        model = Invoice
        provides_args = ["number", "customer"]
        on_change = ("customer",)

    hooks.register(ByCustomer)
    try:
        a, b = Customer.objects.create(name="A"), Customer.objects.create(name="B")
        invoice = Invoice.objects.create(number="A-1", customer=a)
        with capture() as events:
            invoice.customer = b
            invoice.save()
        (data,) = payloads(events, "invoice.customer")
        assert data["changed"] == ["customer"] and data["previous"] == {"customer": a.pk}
    finally:
        hooks.unregister(ByCustomer)


def test_models_without_change_triggers_are_not_tracked():
    person = Person.objects.create(name="Joe")
    assert "_durian_loaded" not in Person.objects.get(pk=person.pk).__dict__


def test_on_change_must_name_fields_of_the_model_and_needs_post_save():
    class Wrong(ModelHook):
        name = "wrong"
        model = Invoice
        provides_args = ["number"]
        on_change = ("colour",)

    with pytest.raises(HookError, match="on_change names 'colour'"):
        Wrong().validate()


# -- the transition matcher --------------------------------------------------------------------------


def test_a_listener_on_status_changed_to_paid_gets_only_that_transition(worker, receiver, invoice_hooks):
    InvoiceHook().listener(url=receiver.url).match(status=Changed(to="paid")).save()
    invoice = Invoice.objects.create(number="A-1", status="paid")  # a create changes nothing
    invoice.status = "sent"
    invoice.save()
    invoice.status = "paid"
    invoice.save()
    (request,) = receiver.wait_for(1)
    body = request.json()
    assert (body["status"], body["changed"], body["previous"]) == ("paid", ["status"], {"status": "sent"})
    invoice.number = "A-2"
    invoice.status = "draft"
    invoice.save()
    invoice.status = "paid"
    invoice.save()
    receiver.wait_for(2)
    assert [r.json()["previous"]["status"] for r in receiver.delivered] == ["sent", "draft"]


def test_a_transition_from_one_value_to_another():
    m = Changed(from_="sent", to="paid")
    payload = {"status": "paid", "changed": ["status"], "previous": {"status": "sent"}}
    assert m.holds("status", payload)
    assert not m.holds("status", {**payload, "previous": {"status": "draft"}})
    assert not m.holds("status", {**payload, "changed": []})
    assert Changed().holds("status", {**payload, "status": "draft"})


def test_the_transition_matcher_is_stored_as_json_and_described_in_words():
    m = Changed(from_="sent", to="paid")
    assert m.to_json() == {"op": "changed", "value": {"from": "sent", "to": "paid"}}
    assert match.from_json(m.to_json()) == m
    assert m.describe("status") == "status changed from 'sent' to 'paid'"
    assert Changed().describe("status") == "status changed"
    listener = Listener(hook="invoice", url="https://hooks.example.test/", filters=match.filters_to_json({"status": m}))
    assert listener.describe_filters() == "status changed from 'sent' to 'paid'"


@given(st.dictionaries(st.sampled_from(["from", "to"]), st.one_of(st.text(), st.integers(), st.none())))
def test_the_transition_matcher_survives_its_json_form(value):
    m = Changed(value)
    assert match.from_json(m.to_json()) == m
    m.validate("status")


def test_the_transition_matcher_is_validated(invoice_hooks):
    with pytest.raises(ValidationError, match="only 'from' and 'to'"):
        Changed({"into": "paid"}).validate("status")
    with pytest.raises(ValidationError, match="plain value"):
        Changed(to=["paid"]).validate("status")
    with pytest.raises(ValidationError, match="does not report changes"):
        PersonHook().listener(url="https://hooks.example.test/").match(name=Changed(to="Joe"))
    with pytest.raises(ValidationError, match="needs a provided field"):
        InvoiceHook().listener(url="https://hooks.example.test/").match(created=Changed())
    with pytest.raises(ValidationError, match="no field"):
        InvoiceHook().listener(url="https://hooks.example.test/").match(memo=Changed())


def test_the_web_form_offers_changed_to_on_hooks_that_report_changes(client, invoice_hooks):
    from django.contrib.auth.models import User

    User.objects.create_superuser("staff", "staff@example.com", "pw")
    client.login(username="staff", password="pw")
    assert "changed to" not in client.get("/webhooks/events/person/listeners/new/").content.decode()
    form = client.get("/webhooks/events/invoice/listeners/new/").content.decode()
    assert "changed to" in form
    data = {"url": "https://hooks.example.test/hook", "payload_format": "standard", "filter-status-op": "changed"}
    data["filter-status-value"] = "paid"
    for name in ("number", "amount", "customer", "paid_at", "created"):
        data[f"filter-{name}-op"] = "any"
    from django.test import override_settings

    from durian.testing import FixedResolver

    with override_settings(DURIAN_RESOLVER=FixedResolver({"hooks.example.test": ["93.184.215.14"]})):
        response = client.post("/webhooks/events/invoice/listeners/new/", data)
    assert response.status_code in (302, 303), response.content.decode()[:2000]
    listener = Listener.objects.get()
    assert listener.matchers == {"status": Changed(to="paid")}
    assert listener.payload_format == "standard"


# -- deletes ------------------------------------------------------------------------------------------


def test_a_post_delete_hook_sends_the_deleted_rows_fields(worker, receiver, invoice_hooks):
    InvoiceDeletedHook().listener(url=receiver.url).save()
    invoice = Invoice.objects.create(number="A-9", status="sent", memo="private")
    invoice.delete()
    (request,) = receiver.wait_for(1)
    assert request.headers["durian-event"] == "invoice.deleted"
    assert request.json() == {"number": "A-9", "status": "sent"}
