"""The transactional outbox: one relay per transaction, nothing left on rollback, the sweep."""

import time

import pytest
from django.db import connection, transaction

from durian import connection as durian_connection
from durian import dispatch
from durian.embedded import free_port
from durian.event import Event
from durian.models import OutboxEvent
from example_project.people.models import Person

pytestmark = pytest.mark.django_db(transaction=True)


def make(name: str) -> Person:
    return Person.objects.create(name=name, address="1 Main St", secret="s")


@pytest.fixture
def redis_down(settings):
    """The site's Redis refuses connections (a port nobody listens on)."""
    settings.DURIAN_REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    durian_connection.reset()
    yield
    durian_connection.reset()


def test_a_committed_transaction_relays_its_events_in_one_callback_and_empties_the_outbox(redis_client, stream_len):
    with transaction.atomic():
        for i in range(50):
            make(f"p{i}")
        assert OutboxEvent.objects.count() == 50
        assert len(connection.run_on_commit) == 1  # one pipelined XADD for the whole transaction
    assert stream_len() == 50
    assert not OutboxEvent.objects.exists()


def test_a_rolled_back_change_leaves_nothing_behind(redis_client, stream_len):
    with pytest.raises(RuntimeError), transaction.atomic():
        make("gone")
        raise RuntimeError
    assert stream_len() == 0
    assert not OutboxEvent.objects.exists()
    assert not Person.objects.exists()


def test_a_rolled_back_savepoint_drops_only_its_own_events(redis_client, stream_len):
    with transaction.atomic():
        make("kept")
        with pytest.raises(RuntimeError), transaction.atomic():
            make("dropped")
            raise RuntimeError
    assert stream_len() == 1
    assert not OutboxEvent.objects.exists()


def test_with_redis_down_a_save_succeeds_quickly_and_the_event_waits_in_the_outbox(redis_client, redis_down):
    started = time.monotonic()
    with transaction.atomic():
        make("in a transaction")
    make("in autocommit")
    assert time.monotonic() - started < 1.5
    assert OutboxEvent.objects.count() == 2
    assert Person.objects.count() == 2


def test_the_sweep_relays_old_outbox_rows_and_leaves_young_ones(redis_client, redis_down, stream_len, settings):
    make("old")
    OutboxEvent.objects.update(created_at=time.time() - 60)
    make("young")
    settings.DURIAN_REDIS_URL = None  # Redis is back (the workers' client)
    durian_connection.reset()
    assert dispatch.sweep(older_than=30) == 1
    assert stream_len() == 1
    assert OutboxEvent.objects.count() == 1
    assert dispatch.sweep(older_than=0) == 1
    assert not OutboxEvent.objects.exists()


def test_only_one_sweeper_at_a_time(redis_client, stream_len):
    dispatch._write_outbox([Event(hook="person", payload={"name": "x"}, created_at=0.0)], "default")
    lock = dispatch._SweepLock(redis_client)
    assert lock.acquire()
    try:
        assert dispatch.sweep(older_than=0) == 0  # another process is sweeping
    finally:
        lock.release()
    assert dispatch.sweep(older_than=0) == 1
