"""A listener's concurrency cap across processes (``durian.storage.slots``), on a real Redis."""

import time

from durian.storage.slots import Slots


def test_no_more_slots_are_taken_than_the_cap(redis_client):
    slots = Slots(redis_client, "durian:test:lane:1", limit=3, ttl_ms=10_000)
    tokens = [slots.acquire() for _ in range(5)]
    assert sum(t is not None for t in tokens) == 3
    assert slots.taken() == 3


def test_a_slot_given_back_can_be_taken_again(redis_client):
    slots = Slots(redis_client, "durian:test:lane:2", limit=1, ttl_ms=10_000)
    token = slots.acquire()
    assert slots.acquire() is None
    slots.release(token)
    assert slots.acquire() is not None


def test_a_killed_workers_slots_come_back_although_the_listener_stays_busy(redis_client):
    """Dramatiq's ConcurrentRateLimiter pushes back its counter's expiry on every acquire and
    release, so the slots of a dead holder never come back while other holders keep working."""
    slots = Slots(redis_client, "durian:test:lane:3", limit=3, ttl_ms=600)
    dead = [slots.acquire(), slots.acquire()]  # held by a worker that is then SIGKILLed
    assert all(dead)
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # a live worker keeps posting under the one free slot
        token = slots.acquire()
        assert token is not None
        slots.release(token)
        time.sleep(0.02)
    got = [slots.acquire() for _ in range(3)]
    assert all(got), "the dead holder's slots never came back"


def test_a_renewed_slot_outlives_its_ttl_and_a_lapsed_one_cannot_be_renewed(redis_client):
    slots = Slots(redis_client, "durian:test:lane:4", limit=1, ttl_ms=400)
    token = slots.acquire()
    for _ in range(4):
        time.sleep(0.2)
        assert slots.renew(token)
    assert slots.acquire() is None  # still held, 0.8 s after it was taken
    time.sleep(0.6)
    other = slots.acquire()
    assert other is not None
    assert not slots.renew(token)
