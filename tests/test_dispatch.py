"""From a save to the stream: after commit, never on rollback, one round trip per transaction."""

import shutil

import pytest
from django.db import transaction

from durian.models import OutboxEvent
from durian.storage import stream
from example_project.people.models import Person

pytestmark = pytest.mark.django_db(transaction=True)


def names(redis_client):
    return [e.payload["name"] for _, e in stream.history(redis_client) if e and e.hook == "person"]


def test_an_event_leaves_only_after_the_transaction_commits(redis_client, stream_len):
    with transaction.atomic():
        Person.objects.create(name="Joe")
        assert stream_len() == 0
    assert names(redis_client) == ["Joe"]
    assert not OutboxEvent.objects.exists()


def test_a_rolled_back_transaction_sends_nothing(redis_client, stream_len):
    with pytest.raises(RuntimeError), transaction.atomic():
        Person.objects.create(name="Joe")
        raise RuntimeError("rollback")
    assert stream_len() == 0
    assert not OutboxEvent.objects.exists()


def test_a_rolled_back_savepoint_sends_nothing_but_the_rest_does(redis_client):
    with transaction.atomic():
        Person.objects.create(name="Kept")
        try:
            with transaction.atomic():
                Person.objects.create(name="Undone")
                raise RuntimeError
        except RuntimeError:
            pass
        Person.objects.create(name="Also kept")
    assert sorted(names(redis_client)) == ["Also kept", "Kept"]


def test_a_save_outside_a_transaction_is_sent_at_once(redis_client):
    Person.objects.create(name="Autocommit")
    assert names(redis_client) == ["Autocommit"]


def commandstats(client):
    return {k.removeprefix("cmdstat_"): v["calls"] for k, v in client.info("commandstats").items()}


@pytest.fixture
def own_redis_server(settings):
    """A redis-server nobody else uses (``INFO commandstats`` counts every client's commands, and a
    server named by ``$REDIS_URL`` may serve other test processes): durian's client on it."""
    from durian.embedded import start_redis
    from durian.storage.connection import get_redis, reset

    server = start_redis(appendonly=False)
    settings.DURIAN_REDIS_URL = server.url
    reset()
    try:
        yield get_redis("worker")
    finally:
        reset()
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)


def test_a_transaction_of_many_saves_costs_one_redis_round_trip(own_redis_server, monkeypatch):
    redis_client = own_redis_server
    from redis.connection import AbstractConnection

    sent = []  # every write to a Redis socket from this process: one per command, or one per pipeline
    original = AbstractConnection.send_packed_command

    def counting(self, command, check_health=True):
        sent.append(command)
        return original(self, command, check_health)

    Person.objects.create(name="warm")  # a connection in the pool already, as on a live site
    before = commandstats(redis_client)
    monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
    with transaction.atomic():
        for i in range(1000):
            Person.objects.create(name=f"P{i}")
    monkeypatch.undo()
    after = commandstats(redis_client)
    assert len(sent) == 1
    assert {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)} == {"xadd": 1000, "info": 1}
    assert len(names(redis_client)) == 1001


def test_events_wait_in_the_outbox_while_redis_is_down_and_the_sweep_sends_them(redis_client, settings):
    from durian.pipeline import dispatch
    from durian.storage.connection import reset

    settings.DURIAN_REDIS_URL = "redis://127.0.0.1:1/0"  # nothing listens there
    reset()
    try:
        with transaction.atomic():
            Person.objects.create(name="Waiting")
        Person.objects.create(name="Autocommit waiting")
        assert OutboxEvent.objects.count() == 2
    finally:
        del settings.DURIAN_REDIS_URL
        reset()
    assert dispatch.sweep(older_than=0) == 2
    assert sorted(names(redis_client)) == ["Autocommit waiting", "Waiting"]
    assert not OutboxEvent.objects.exists()
