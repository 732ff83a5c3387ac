"""Fixtures: a real Redis (flushed per test), a real HTTP receiver, a real Dramatiq worker."""

from __future__ import annotations

import os
import threading
import time

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from durian.storage.connection import get_redis
from durian.testing import Receiver, forbid_network

from .inprocess import running_worker

# A shared 2-core machine may stall any example: no per-example deadline, no "too slow" check
# (pytest-timeout still fails a test that hangs).
hypothesis_settings.register_profile("durian", deadline=None, suppress_health_check=[HealthCheck.too_slow])
hypothesis_settings.load_profile("durian")

#: The tiers, longest first: a parallel run starts its longest tests first, so no worker is left
#: with a fault test to run alone at the end while the others idle.
LONGEST_FIRST = ("fault", "slow", "browser")


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    """Fault tests first, then slow, then browser tests, then the rest (each tier in pytest-randomly's order)."""

    def tier(item: pytest.Item) -> int:
        return next((i for i, name in enumerate(LONGEST_FIRST) if item.get_closest_marker(name)), len(LONGEST_FIRST))

    items.sort(key=tier)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """How many xdist workers ``-n auto`` (what ``dev.py test`` passes) starts: ``$DURIAN_TEST_WORKERS``,
    else two per core, at least 2 and at most 6: the tests mostly wait (on HTTP, Redis, worker
    processes), so a 2-core machine runs four at a time well."""
    given = os.environ.get("DURIAN_TEST_WORKERS")
    if given:
        return int(given)
    return max(2, min(6, 2 * (os.cpu_count() or 1)))


@pytest.fixture(autouse=True, scope="session")
def loopback_only():
    """No test sends a byte off loopback or makes a DNS query (house rule, enforced)."""
    blocked = forbid_network()
    yield blocked
    forbid_network(False)


@pytest.fixture(autouse=True, scope="session")
def test_database_dropped_at_the_end(django_db_setup, django_db_blocker):
    """PostgreSQL drops a database only when nobody is connected to it: at the end, close the
    connections that threads of this process still hold (the in-process workers' delivery threads,
    the live server's), or every run would leave its test database behind."""
    yield
    from django.db import connection

    if connection.vendor == "postgresql":
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def no_network_touched(loopback_only):
    """Fail the test that tried to leave loopback or resolve a name, even when it handled the refusal."""
    before = len(loopback_only)
    yield
    refused = loopback_only[before:]
    assert not refused, f"this test tried to reach the network: {refused!r}"


@pytest.fixture(autouse=True)
def no_stream_consumer_left_behind():
    """A test's worker takes its stream consumer with it: one left running would hand this test's
    events to the queue behind its back (and the next test's)."""
    yield
    deadline = time.monotonic() + 15
    while left := [t.name for t in threading.enumerate() if t.name.startswith("durian-consumer-")]:
        assert time.monotonic() < deadline, f"stream consumer thread(s) still running after the test: {left}"
        time.sleep(0.05)


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
    with running_worker(threads=4) as w:
        yield w


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
