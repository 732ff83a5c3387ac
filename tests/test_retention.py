"""Retention: the workers remove old delivery records and re-sent dead letters, in batches, under a lease."""

from __future__ import annotations

import datetime
import time

import pytest
from django.utils import timezone

from durian.models import DeadLetter, Delivery, Listener
from durian.storage import retention
from durian.storage.lease import Lease
from example_project.people.hooks import PersonHook
from tests.web.conftest import dead_letter

DAY = datetime.timedelta(days=1)


@pytest.fixture
def listener(db) -> Listener:
    return PersonHook().listener(url="http://127.0.0.1:9/r").save()


def records(listener: Listener, age: datetime.timedelta, count: int, prefix: str) -> None:
    when = timezone.now() - age
    Delivery.objects.bulk_create(
        Delivery(
            listener=listener, hook="person", event_id=f"{prefix}{i}", webhook_id=f"msg_{prefix}{i}", created_at=when
        )
        for i in range(count)
    )


def test_old_delivery_records_go_and_recent_ones_stay(listener, settings):
    settings.DURIAN_RECORD_RETENTION = 30 * 86400
    records(listener, 31 * DAY, 25, "old")
    records(listener, 29 * DAY, 5, "recent")
    done = retention.run(batch=10)
    assert done.deliveries == 25
    assert sorted(Delivery.objects.values_list("event_id", flat=True)) == [f"recent{i}" for i in range(5)]


def test_re_sent_dead_letters_go_after_their_retention_and_dead_ones_stay(listener, settings):
    settings.DURIAN_DEAD_LETTER_RETENTION = 7 * 86400
    long_ago = timezone.now() - 8 * DAY
    old = dead_letter(listener, webhook_id="old", status=DeadLetter.Status.DELIVERED, delivered_at=long_ago)
    recent = dead_letter(listener, webhook_id="recent", status=DeadLetter.Status.DELIVERED, delivered_at=timezone.now())
    still_dead = dead_letter(listener, webhook_id="dead")
    DeadLetter.objects.filter(pk=still_dead.pk).update(created_at=long_ago)
    assert retention.run().dead_letters == 1
    assert set(DeadLetter.objects.values_list("pk", flat=True)) == {recent.pk, still_dead.pk}
    assert not DeadLetter.objects.filter(pk=old.pk).exists()


def test_one_pass_is_bounded_and_the_next_takes_the_rest(listener, settings):
    settings.DURIAN_RECORD_RETENTION = 86400
    records(listener, 2 * DAY, 50, "old")
    assert retention.run(batch=10, max_batches=3).deliveries == 30
    assert Delivery.objects.count() == 20
    assert retention.run(batch=10, max_batches=3).deliveries == 20


def test_none_keeps_everything(listener, settings):
    settings.DURIAN_RECORD_RETENTION = None
    records(listener, 400 * DAY, 3, "old")
    assert retention.run().deliveries == 0 and Delivery.objects.count() == 3


def test_one_process_makes_the_pass_per_interval(listener, settings, redis_client):
    settings.DURIAN_RETENTION_INTERVAL = 3600
    records(listener, 40 * DAY, 3, "a")
    assert retention.run_due(redis_client).deliveries == 3
    records(listener, 40 * DAY, 3, "b")
    assert retention.run_due(redis_client) is None  # another process (or this one) made the pass lately
    assert Delivery.objects.count() == 3
    assert Lease(redis_client, "retention").acquire() is False


@pytest.fixture
def frequent_passes(settings):
    """Workers that sweep every 0.2 s and make a retention pass every 0.5 s (set before they start)."""
    settings.DURIAN_SWEEP_INTERVAL = 0.2
    settings.DURIAN_RETENTION_INTERVAL = 0.5


def test_the_workers_remove_old_records_on_their_own(frequent_passes, worker, redis_client):
    listener = PersonHook().listener(url="http://127.0.0.1:9/r").save()
    records(listener, 31 * DAY, 5, "old")
    records(listener, 1 * DAY, 2, "recent")
    deadline = time.monotonic() + 30
    while Delivery.objects.filter(event_id__startswith="old").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Delivery.objects.filter(event_id__startswith="old").exists()
    assert sorted(Delivery.objects.values_list("event_id", flat=True)) == ["recent0", "recent1"]
