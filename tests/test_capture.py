"""``durian.testing.capture()``: a site's tests see the events its code sends, and nothing leaves."""

import contextlib

import pytest
from django.db import transaction
from django.test import TestCase

from durian.models import OutboxEvent
from durian.storage import stream
from durian.testing import capture
from example_project.people.models import Person


@pytest.mark.django_db(transaction=True)
def test_capture_lists_the_events_that_would_leave_and_sends_nothing(redis_client):
    with capture() as events:
        Person.objects.create(name="Jim", address="5 Main St")
        with transaction.atomic():
            Person.objects.create(name="Ann")
            assert [e.payload["name"] for e in events] == ["Jim"]  # the second one: after commit
    assert [(e.hook, e.payload) for e in events] == [
        ("person", {"name": "Jim", "address": "5 Main St", "created": True}),
        ("person", {"name": "Ann", "address": "", "created": True}),
    ]
    assert stream.history(redis_client) == [] and not OutboxEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_capture_sees_nothing_of_a_rolled_back_change(redis_client):
    with capture() as events, contextlib.suppress(RuntimeError), transaction.atomic():
        Person.objects.create(name="Jim")
        raise RuntimeError
    assert events == []


@pytest.mark.django_db(transaction=True)
def test_the_durian_events_fixture_captures_for_the_whole_test(durian_events, redis_client):
    joe = Person.objects.create(name="Joe")
    joe.delete()
    assert [e.payload["created"] for e in durian_events] == [True]
    assert stream.history(redis_client) == []


@pytest.mark.django_db(transaction=True)
def test_capture_covers_hooks_delivered_in_process(redis_client, receiver):
    from durian.hook import ModelHook
    from durian.registry import hooks

    class Local(ModelHook):
        name = "person.local"
        model = Person
        provides_args = ["name"]
        async_ = False

    hooks.register(Local)
    try:
        Local().listener(url=receiver.url).save()
        with capture() as events:
            Person.objects.create(name="Jim")
        assert sorted(e.hook for e in events) == ["person", "person.local"]
        assert receiver.requests == []
    finally:
        hooks.unregister(Local)


class CaptureInsideTestCase(TestCase):
    """Django's TestCase never commits: ``capture(commit=True)`` runs the block's on-commit work."""

    def test_capture_with_commit_sees_the_events_of_a_test_case(self):
        with capture(commit=True) as events:
            Person.objects.create(name="Jim")
        self.assertEqual([(e.hook, e.payload["name"]) for e in events], [("person", "Jim")])

    def test_capture_without_commit_sees_nothing_in_a_test_case(self):
        with capture() as events:
            Person.objects.create(name="Jim")
        self.assertEqual(events, [])
