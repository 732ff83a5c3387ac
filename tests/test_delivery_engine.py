"""The delivery engine: many deliveries in flight, per-listener lanes, caps and circuit breakers."""

import socket
import time

import pytest
from django.db import transaction

from durian.models import DeadLetter, Delivery
from durian.pipeline import lanes
from durian.storage import circuit
from durian.storage.connection import get_redis
from durian.testing import BlackHole, Receiver
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

pytestmark = pytest.mark.django_db(transaction=True)


def wait_until(predicate, timeout=20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"{what}: not met within {timeout} s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_black_hole_listeners_do_not_delay_a_healthy_one(worker, receiver, settings):
    settings.DURIAN_READ_TIMEOUT = 30.0  # a silent receiver holds each request this long
    settings.DURIAN_CONNECT_TIMEOUT = 30.0
    with BlackHole() as a, BlackHole() as b, BlackHole() as c:
        for hole in (a, b, c):
            PersonHook().listener(url=hole.url).save()
        PersonHook().listener(url=receiver.url).save()
        started = time.monotonic()
        for i in range(100):
            Person.objects.create(name=f"p{i}")
        receiver.wait_for(100, timeout=60)
        took = time.monotonic() - started
        # well under one read timeout: no healthy delivery waited behind a silent one
        assert took < 15, f"the healthy listener got all 100 events after {took:.1f} s"
        assert {r.json()["name"] for r in receiver.delivered} == {f"p{i}" for i in range(100)}


def test_the_circuit_opens_holds_probes_and_closes(worker, settings, caplog):
    settings.DURIAN_CIRCUIT_FAILURES = 3
    settings.DURIAN_CIRCUIT_COOLING = 1.0
    # Cooling doubles (1 s, then 2 s: the probes counted below) and stops there, so a busy machine that
    # lets the circuit open a fourth time does not make the test wait out 8 s or more.
    settings.DURIAN_CIRCUIT_COOLING_MAX = 2.0
    # Deliveries held while a probe is on the wire wait out its lease (one attempt's longest time,
    # DURIAN_TOTAL_TIMEOUT + 5 s): 7 s here rather than 35 s. Every attempt here is refused or
    # answered at once, so no attempt is cut short.
    settings.DURIAN_TOTAL_TIMEOUT = 2.0
    settings.DURIAN_RETRY_SCHEDULE = [0.2] * 20
    port = free_port()  # nothing listens there yet: connections are refused
    url = f"http://127.0.0.1:{port}/hook"
    listener = PersonHook().listener(url=url).save()

    def attempts() -> int:
        """Attempts made so far, counted when made: each logs a line as it ends, before its lane
        counts it done (its delivery record is stored later, by the thread that runs the message)."""
        return sum(1 for r in list(caplog.records) if r.name == "durian.delivery" and url in r.getMessage())

    for i in range(30):
        Person.objects.create(name=f"p{i}")

    client = get_redis("worker")
    wait_until(lambda: circuit.state(client, [listener.pk])[listener.pk].state != "closed", what="circuit opens")
    seen = circuit.state(client, [listener.pk])[listener.pk]
    assert seen.describe().startswith(("circuit open until", "circuit half-open"))
    wait_until(lambda: circuit.state(client, [listener.pk])[listener.pk].waiting > 0, what="deliveries held")
    wait_until(lambda: lanes.in_flight() == 0, what="the requests on the wire when it opened to end")
    at_open = attempts()
    assert at_open < 30  # the requests in flight when it opened, not one per event
    time.sleep(3.5)  # cooling periods of 1 s then 2 s: a probe after each, nothing else
    probes = attempts() - at_open
    assert 1 <= probes <= 3, f"{probes} attempts made while the circuit was open"
    made = at_open + probes
    wait_until(lambda: Delivery.objects.filter(ok=False).count() >= made, what="a delivery record of each attempt")

    with Receiver(port=port) as receiver:  # the endpoint comes back
        receiver.wait_for(30, timeout=60)
        wait_until(lambda: circuit.state(client, [listener.pk])[listener.pk].state == "closed", what="closes")
    assert {r.json()["name"] for r in receiver.delivered} == {f"p{i}" for i in range(30)}
    assert not DeadLetter.objects.exists()


def test_requests_in_flight_to_one_listener_never_exceed_its_cap(worker, receiver, settings):
    settings.DURIAN_LISTENER_CONCURRENCY = 3
    receiver.always(200, delay=0.1)
    PersonHook().listener(url=receiver.url).save()
    for i in range(60):
        Person.objects.create(name=f"p{i}")
    receiver.wait_for(60, timeout=60)
    assert receiver.max_in_flight == 3


def test_many_requests_are_in_flight_to_a_slow_receiver(worker, receiver):
    receiver.always(200, delay=0.2)
    PersonHook().listener(url=receiver.url).save()
    with transaction.atomic():  # 100 events at once
        for i in range(100):
            Person.objects.create(name=f"p{i}")
    receiver.wait_for(100, timeout=60)
    assert 10 <= receiver.max_in_flight <= 16  # up to the listener's default cap, not one per Dramatiq thread (4)


def test_an_open_circuit_shows_in_status_admin_and_the_listener_pages(redis_client, admin_client):
    from django.core.management import call_command

    listener = PersonHook().listener(url="http://127.0.0.1:9/hook").save()
    for _ in range(5):
        circuit.down(redis_client, listener.pk)
    circuit.held(redis_client, {listener.pk: 14})
    words = circuit.describe([listener.pk], redis_client)[listener.pk]
    assert words.startswith("circuit open until ") and words.endswith(", 14 waiting")

    import io

    out = io.StringIO()
    call_command("durian_status", stdout=out)
    assert f"listener {listener.pk}: circuit open until" in out.getvalue()
    assert words in admin_client.get("/admin/durian/listener/").content.decode()
    assert words in admin_client.get(f"/admin/durian/listener/{listener.pk}/change/").content.decode()
    assert words in admin_client.get("/webhooks/").content.decode()


def test_a_listener_takes_its_own_cap_and_rate_from_the_builder_and_the_form(redis_client):
    from durian.storage import listener_cache

    listener = PersonHook().listener(url="http://127.0.0.1:9/hook", max_in_flight=4, rate_limit=2.5).save()
    view = listener_cache.view(listener)
    assert (view.concurrency, view.rate_limit) == (4, 2.5)
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        PersonHook().listener(url="http://127.0.0.1:9/hook", max_in_flight=0).save()
    assert "max_in_flight" in caught.value.message_dict


def test_a_paused_listener_gets_the_events_it_missed_once_resumed(worker, receiver, settings):
    settings.DURIAN_SWEEP_INTERVAL = 0.3
    from durian.models import Listener

    listener = PersonHook().listener(url=receiver.url).save()
    listener.state = Listener.State.PAUSED
    listener.save()
    for i in range(20):
        Person.objects.create(name=f"p{i}")
    time.sleep(2)
    assert receiver.requests == []
    from durian.storage import parked

    wait_until(lambda: parked.count(get_redis("worker"), listener.pk) == 20, what="events kept")
    listener.enable()
    receiver.wait_for(20, timeout=30)
    assert {r.json()["name"] for r in receiver.delivered} == {f"p{i}" for i in range(20)}
    assert parked.count(get_redis("worker"), listener.pk) == 0


def test_a_paused_listener_keeps_events_only_for_the_retention_period(worker, receiver, settings):
    settings.DURIAN_SWEEP_INTERVAL = 0.3
    settings.DURIAN_PAUSED_RETENTION = 1.0
    from durian.models import Listener
    from durian.storage import parked

    listener = PersonHook().listener(url=receiver.url).save()
    listener.state = Listener.State.PAUSED
    listener.save()
    Person.objects.create(name="old")
    wait_until(lambda: parked.count(get_redis("worker"), listener.pk) == 1, what="kept")
    time.sleep(1.5)
    wait_until(lambda: parked.count(get_redis("worker"), listener.pk) == 0, what="dropped after the retention")
    listener.enable()
    Person.objects.create(name="new")
    receiver.wait_for(1)
    time.sleep(1)
    assert [r.json()["name"] for r in receiver.delivered] == ["new"]


def test_a_lane_that_read_the_circuit_before_another_lane_saw_it_open_posts_nothing(redis_client, settings):
    """A message checks its circuits, then its attempts join their lanes; meanwhile an attempt of
    the process sees the circuit open. The older "closed" must not undo what that attempt saw."""
    from durian.core.outcome import Outcome
    from durian.core.recipients import ListenerView

    view = ListenerView(7, "person", "http://127.0.0.1:9/hook", ("whsec_x",), "active", {})
    refused = Outcome(False, error="connection refused by 127.0.0.1:9")
    engine = lanes.Engine()  # a process's engine, fresh

    settings.DURIAN_CIRCUIT_FAILURES = 3
    read_before = circuit.check(redis_client, [view.id])[view.id]
    assert read_before.state == "closed"
    assert engine.admits(view, read_before, redis_client)
    lane = engine.lanes[view.id]
    for _ in range(3):  # DURIAN_CIRCUIT_FAILURES refused connections in a row: it opens
        engine.observe(lane, refused)
    assert circuit.state(redis_client, [view.id])[view.id].state == "open"

    assert not engine.admits(view, read_before, redis_client)  # a message on the older read holds its items

    circuit.reset(redis_client, view.id)  # staff close it: a gate read now says so, and lanes post again
    read_after = circuit.check(redis_client, [view.id])[view.id]
    assert engine.admits(view, read_after, redis_client)


def test_a_listener_whose_slots_other_workers_hold_gets_its_events_once_they_free_up_each_once(
    worker, receiver, redis_client
):
    """Deliveries that cannot get a slot are held (kept in Redis), not piled up in a worker's
    memory past their in-flight deadline; they all arrive once the slots come back, none twice."""
    from durian.storage.slots import Slots

    listener = PersonHook().listener(url=receiver.url, max_in_flight=2).save()
    others = Slots.of_listener(redis_client, listener.pk, limit=2, ttl_ms=3000)
    assert len(others.acquire_many(2)) == 2  # another worker holds both slots, then dies: they run out in 3 s
    with transaction.atomic():
        for i in range(20):
            Person.objects.create(name=f"p{i}")
    time.sleep(2)
    assert receiver.requests == []  # nothing went past the cap meanwhile
    receiver.wait_for(20, timeout=60)
    time.sleep(1.5)  # held deliveries come back after a second: none twice
    names = [r.json()["name"] for r in receiver.requests]
    assert sorted(names) == sorted(f"p{i}" for i in range(20))
