"""The outbox beyond the happy path: a Redis that never answers, the sweep's age and its lock."""

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
