"""What leaves the site: only provided fields, serialised cleanly, with a clear error otherwise."""

import datetime
import decimal
import json
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from durian.core.payload import jsonable
from durian.exceptions import PayloadError
from durian.hook import Hook, ModelHook
from durian.registry import HookRegistry
from durian.storage import stream
from example_project.people.models import Person
from tests.testapp.models import Customer, Order

pytestmark = pytest.mark.django_db(transaction=True)


def sent(redis_client, hook=None):
    return [e for _, e in stream.history(redis_client) if hook is None or e.hook == hook]


def test_a_field_outside_provides_args_never_leaves_the_site(redis_client):
    Person.objects.create(name="Joe", address="1 Main St", secret="hunter2")
    (event,) = sent(redis_client, "person")
    assert event.payload == {"name": "Joe", "address": "1 Main St", "created": True}
    assert "hunter2" not in json.dumps(event.payload)


def test_post_save_adds_created_false_on_update(redis_client):
    joe = Person.objects.create(name="Joe")
    joe.address = "2 Main St"
    joe.save()
    assert [e.payload["created"] for e in sent(redis_client, "person")] == [True, False]


class OrderHook(ModelHook):
    name = "order"
    model = Order
    provides_args = ["ref", "customer", "total", "placed_on", "placed_at", "note"]


@pytest.fixture
def order_hook():
    registry = HookRegistry()
    registry.register(OrderHook)
    yield
    registry.unregister(OrderHook)


def test_dates_decimals_uuids_and_foreign_keys_serialise_cleanly(redis_client, order_hook):
    customer = Customer.objects.create(name="ACME")
    ref = uuid.UUID("12345678-1234-5678-1234-567812345678")
    Order.objects.create(
        ref=ref,
        customer=customer,
        total=decimal.Decimal("12.50"),
        placed_on=datetime.date(2026, 11, 23),
        placed_at=datetime.datetime(2026, 11, 23, 12, 30, tzinfo=datetime.UTC),
        internal="do not send",
    )
    (event,) = sent(redis_client, "order")
    assert event.payload == {
        "ref": str(ref),
        "customer": customer.pk,
        "total": "12.50",
        "placed_on": "2026-11-23",
        "placed_at": "2026-11-23T12:30:00Z",
        "note": "",
        "created": True,
    }


class PingHook(Hook):
    name = "ping"
    provides_args = ["message", "count"]


def test_hook_send_fires_a_hook_not_tied_to_a_model_and_keeps_only_provided_args(redis_client):
    PingHook().send(None, message="hello", count=2, password="nope")
    (event,) = sent(redis_client, "ping")
    assert event.payload == {"message": "hello", "count": 2}


def test_an_unserialisable_value_raises_a_clear_error_naming_the_hook(redis_client):
    with pytest.raises(PayloadError) as info:
        PingHook().send(None, message=object())
    assert "'ping'" in str(info.value) and "message" in str(info.value)
    assert sent(redis_client) == []


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=20,
)


@given(value=json_values)
def test_plain_json_values_pass_through_unchanged(value):
    assert json.loads(json.dumps(jsonable(value))) == value


@given(value=st.decimals(allow_nan=False, allow_infinity=False) | st.uuids() | st.dates() | st.datetimes())
def test_rich_values_become_json_strings(value):
    assert isinstance(jsonable(value), str)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_nan_and_infinity_are_refused(value):
    with pytest.raises(PayloadError):
        jsonable(value)
