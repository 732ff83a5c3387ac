"""Fixtures: a real Redis (flushed per test), a real HTTP receiver, a real Dramatiq worker."""

from __future__ import annotations

import dramatiq
import pytest

from durian.storage.connection import get_redis
from durian.testing import Receiver, forbid_network


@pytest.fixture(autouse=True, scope="session")
def loopback_only():
    """No test sends a byte off loopback or makes a DNS query (house rule, enforced)."""
    blocked = forbid_network()
    yield blocked
    forbid_network(False)


@pytest.fixture
def redis_client():
    """The Redis server durian uses, emptied for this test."""
    client = get_redis("worker")
    client.flushdb()
    yield client


@pytest.fixture
def receiver():
    """A real HTTP receiver on loopback."""
    with Receiver() as r:
        yield r


@pytest.fixture
def worker(redis_client, transactional_db):
    """A real Dramatiq worker on the Redis broker, with durian's stream consumer running in it."""
    import durian.tasks  # noqa: F401  (what rundramatiq loads: the actors and the consumer middleware)

    broker = dramatiq.get_broker()
    broker.flush_all()
    w = dramatiq.Worker(broker, worker_threads=4, worker_timeout=100)
    w.start()
    yield w
    w.stop(timeout=10_000)


@pytest.fixture
def stream_len(redis_client):
    """How many events are in the stream now."""
    from durian.conf import settings

    return lambda: redis_client.xlen(settings.STREAM_KEY) if redis_client.exists(settings.STREAM_KEY) else 0


@pytest.fixture
def invoice_hooks():
    """The test app's invoice hooks (a change trigger with a shaped payload, and a delete hook), registered."""
    from durian.registry import hooks
    from tests.testapp.hooks import InvoiceDeletedHook, InvoiceHook

    hooks.register(InvoiceHook)
    hooks.register(InvoiceDeletedHook)
    yield
    hooks.unregister(InvoiceHook)
    hooks.unregister(InvoiceDeletedHook)
