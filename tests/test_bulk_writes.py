"""Bulk writes through ``HookedManager``: every affected row fires the model's hooks, for one
outbox write and one pipelined Redis round trip per call."""

import contextlib
import threading

import pytest
import redis
from django.db import connection, models, transaction
from django.test.utils import CaptureQueriesContext

from durian.storage import stream
from tests.testapp.hooks import InvoiceHook
from tests.testapp.models import Customer, Invoice

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def round_trips(monkeypatch):
    """Counts requests this test's thread sends to Redis (a pipeline is one): a worker's threads
    left in this process by an earlier test (slot renewals, batched marks) are not the save's."""
    sent = []
    original = redis.connection.AbstractConnection.send_packed_command
    me = threading.get_ident()

    def counting(self, command, *args, **kwargs):
        if threading.get_ident() == me:
            sent.append(command)
        return original(self, command, *args, **kwargs)

    monkeypatch.setattr(redis.connection.AbstractConnection, "send_packed_command", counting)
    return sent


@contextlib.contextmanager
def outbox_writes():
    with CaptureQueriesContext(connection) as queries:
        writes = []
        yield writes
    writes.extend(q for q in queries.captured_queries if q["sql"].startswith('INSERT INTO "durian_outboxevent"'))


def sent(redis_client, hook="invoice"):
    return [e.payload for _, e in stream.history(redis_client) if e.hook == hook]


def make(n, **fields):
    with transaction.atomic():
        return [Invoice.objects.create(number=f"A-{i}", **fields) for i in range(n)]


def test_update_fires_a_save_of_each_row_in_one_outbox_write_and_one_round_trip(
    redis_client, invoice_hooks, round_trips
):
    make(5)
    redis_client.delete("durian:events")
    round_trips.clear()
    with outbox_writes() as writes:
        assert Invoice.objects.filter(number__in=["A-1", "A-2", "A-3"]).update(status="paid") == 3
    assert len(writes) == 1
    assert len(round_trips) == 1
    payloads = sorted(sent(redis_client), key=lambda p: p["number"])
    assert [(p["number"], p["status"], p["created"]) for p in payloads] == [
        ("A-1", "paid", False),
        ("A-2", "paid", False),
        ("A-3", "paid", False),
    ]
    assert all(p["changed"] == ["status"] and p["previous"] == {"status": "draft"} for p in payloads)


def test_update_honours_on_change(redis_client, invoice_hooks):
    make(3)
    redis_client.delete("durian:events")
    Invoice.objects.update(memo="internal", amount="9.99")  # status unchanged: no event
    Invoice.objects.filter(number="A-0").update(status="draft")  # the same value: no change
    assert sent(redis_client) == []
    Invoice.objects.filter(number="A-0").update(status="sent")
    assert [p["number"] for p in sent(redis_client)] == ["A-0"]


def test_bulk_update_fires_for_the_rows_whose_watched_fields_changed(redis_client, invoice_hooks, round_trips):
    rows = make(4)
    redis_client.delete("durian:events")
    rows[0].status = "sent"
    rows[1].status = "paid"
    rows[2].amount = "3.00"  # not watched
    round_trips.clear()
    with outbox_writes() as writes:
        Invoice.objects.bulk_update(rows, ["status", "amount"])
    assert (len(writes), len(round_trips)) == (1, 1)
    assert sorted((p["number"], p["previous"]["status"], p["status"]) for p in sent(redis_client)) == [
        ("A-0", "draft", "sent"),
        ("A-1", "draft", "paid"),
    ]


def test_bulk_create_fires_creates(redis_client, invoice_hooks, round_trips):
    acme = Customer.objects.create(name="ACME")
    round_trips.clear()
    with outbox_writes() as writes:
        Invoice.objects.bulk_create([Invoice(number=f"B-{i}", customer=acme) for i in range(3)])
    assert (len(writes), len(round_trips)) == (1, 1)
    assert sorted((p["number"], p["created"], p["customer_name"]) for p in sent(redis_client)) == [
        ("B-0", True, "ACME"),
        ("B-1", True, "ACME"),
        ("B-2", True, "ACME"),
    ]


def test_delete_fires_the_post_delete_hooks_for_every_row(redis_client, invoice_hooks, round_trips):
    make(3, status="sent")
    round_trips.clear()
    with outbox_writes() as writes:
        assert Invoice.objects.filter(number__in=["A-0", "A-2"]).delete()[0] == 2
    assert (len(writes), len(round_trips)) == (1, 1)
    assert sorted(sent(redis_client, "invoice.deleted"), key=lambda p: p["number"]) == [
        {"number": "A-0", "status": "sent"},
        {"number": "A-2", "status": "sent"},
    ]


def test_bulk_events_in_a_transaction_leave_with_it_at_commit(redis_client, invoice_hooks, round_trips):
    make(2)
    redis_client.delete("durian:events")
    round_trips.clear()
    with transaction.atomic():
        Invoice.objects.update(status="sent")
        Invoice.objects.create(number="C-1")
        Invoice.objects.filter(number="A-0").delete()
        assert round_trips == []
    assert len(round_trips) == 1, [bytes(c[0] if isinstance(c, list) else c)[:60] for c in round_trips]
    assert len(sent(redis_client)) == 3 and len(sent(redis_client, "invoice.deleted")) == 1


def test_a_rolled_back_bulk_write_sends_nothing(redis_client, invoice_hooks):
    make(2)
    redis_client.delete("durian:events")
    with contextlib.suppress(RuntimeError), transaction.atomic():
        Invoice.objects.update(status="paid")
        raise RuntimeError
    assert sent(redis_client) == []


def test_bulk_updates_are_delivered_by_the_worker(worker, receiver, invoice_hooks):
    InvoiceHook().listener(url=receiver.url).save()
    make(10)
    receiver.wait_for(10, timeout=60)
    Invoice.objects.update(status="paid")
    requests = receiver.wait_for(20, timeout=60)
    updates = [r.json() for r in requests if not r.json()["created"]]
    assert len(updates) == 10 and {u["status"] for u in updates} == {"paid"}


def test_a_model_without_hooks_keeps_djangos_own_bulk_writes(redis_client, round_trips):
    make(2)
    round_trips.clear()
    Invoice.objects.update(status="paid")
    assert round_trips == [] and sent(redis_client) == []


def test_a_hooked_queryset_serves_custom_managers_and_hooks_without_change_triggers(redis_client):
    from durian.bulk import HookedQuerySet
    from example_project.people.models import Person

    class PersonManager(models.Manager.from_queryset(HookedQuerySet)):
        pass

    manager = PersonManager()
    manager.model = Person
    Person.objects.bulk_create([Person(name="Joe"), Person(name="Ann")])  # a plain manager: silent
    assert sent(redis_client, "person") == []
    assert manager.filter(name="Joe").update(address="1 Main St") == 1
    assert sent(redis_client, "person") == [{"name": "Joe", "address": "1 Main St", "created": False}]
