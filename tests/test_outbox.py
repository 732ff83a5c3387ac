"""The outbox beyond the happy path: a Redis that never answers, the sweep's age and its lock."""

import os
import socket
import time

import pytest
from django.db import transaction

from durian.core.event import Event
from durian.models import OutboxEvent
from durian.pipeline import dispatch
from durian.storage import connection as durian_connection
from durian.storage import outbox
from example_project.people.models import Person
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def make(name: str) -> Person:
    return Person.objects.create(name=name, address="1 Main St", secret="s")


@pytest.fixture
def silent_redis(settings):
    """The site's Redis accepts connections (the kernel does) and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=16) as sock:
        settings.DURIAN_REDIS_URL = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
        durian_connection.reset()
        yield
    del settings.DURIAN_REDIS_URL
    durian_connection.reset()


def timed(fn) -> float:
    started = time.monotonic()
    fn()
    return time.monotonic() - started


@pytest.fixture
def redis_calls(monkeypatch):
    """Every connection made and command sent to any Redis from this process, as it happens."""
    from redis.connection import AbstractConnection

    calls = []
    connect, send = AbstractConnection.connect, AbstractConnection.send_packed_command

    def connecting(self, *args, **kwargs):
        calls.append("connect")
        return connect(self, *args, **kwargs)

    def sending(self, *args, **kwargs):
        calls.append("send")
        return send(self, *args, **kwargs)

    monkeypatch.setattr(AbstractConnection, "connect", connecting)
    monkeypatch.setattr(AbstractConnection, "send_packed_command", sending)
    return calls


def test_a_redis_that_never_answers_costs_one_save_the_timeout_and_the_next_ones_nothing(
    redis_client, silent_redis, redis_calls
):
    def in_a_transaction():
        with transaction.atomic():
            make("first")

    first = timed(in_a_transaction)
    assert redis_calls  # the first save tried Redis...
    assert 0.9 < first < 10  # ...waited DURIAN_REDIS_REQUEST_TIMEOUT (1 s), not redis-py's minute of retries
    redis_calls.clear()
    make("second")
    assert redis_calls == []  # DURIAN_REDIS_REQUEST_BACKOFF: Redis is left alone for a while
    assert OutboxEvent.objects.count() == 2
    assert Person.objects.count() == 2


def test_the_sweep_relays_outbox_rows_older_than_the_sweep_age_only(redis_client, stream_len, settings):
    outbox.write([Event(hook="person", payload={"name": "old"}, created_at=time.time() - 60)], "default")
    outbox.write([Event(hook="person", payload={"name": "young"})], "default")
    settings.DURIAN_SWEEP_AGE = 30
    assert dispatch.sweep() == 1
    assert stream_len() == 1
    assert list(OutboxEvent.objects.values_list("payload__name", flat=True)) == ["young"]


def test_only_one_sweeper_at_a_time(redis_client, stream_len):
    outbox.write([Event(hook="person", payload={"name": "x"}, created_at=0.0)], "default")
    lock = outbox.SweepLock(redis_client)
    assert lock.acquire()
    try:
        assert dispatch.sweep(older_than=0) == 0  # another process is sweeping
    finally:
        lock.release()
    assert dispatch.sweep(older_than=0) == 1
    assert stream_len() == 1


@pytest.mark.skipif(os.environ.get("DURIAN_TEST_DATABASE") != "postgres", reason="SKIP LOCKED: the PostgreSQL pass")
def test_two_sweepers_at_once_take_different_rows_and_neither_waits_for_the_other(redis_client):
    """What the database does when two sweepers run at once (the Redis sweep lock aside)."""
    import threading

    from django.db import connection

    outbox.write([Event(hook="person", payload={"name": f"e{i}"}, created_at=0.0) for i in range(100)], "default")
    first_took, release, failed = [], threading.Event(), []

    def first_sweeper():
        try:
            with transaction.atomic():
                first_took.extend(e.id for e in outbox.oldest("default", 0, 50))
                release.wait(30)  # holds its rows, as while it appends them to the stream
        except Exception as exc:  # reported below
            failed.append(exc)
        finally:
            connection.close()

    thread = threading.Thread(target=first_sweeper)
    thread.start()
    try:
        wait_until(lambda: len(first_took) == 50 or failed, 30, "the first sweeper to lock its rows")
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '5s'")  # waiting on the first sweeper fails here
            second_took = [e.id for e in outbox.oldest("default", 0, 100)]
    finally:
        release.set()
        thread.join(30)
    assert not failed
    assert len(second_took) == 50 and not set(first_took) & set(second_took)
