"""Ordered listeners: one delivery at a time, in commit order, across retries, dead letters and workers."""

from __future__ import annotations

import io
import time

import pytest
from django.core.management import call_command

from durian.models import DeadLetter, Listener
from durian.storage import ordered
from durian.testing import Receiver, Response
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .faults.conftest import FAULTS_A, FAULTS_B, cluster  # noqa: F401  (the fault tests' worker processes)
from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def in_arrival_order(receiver: Receiver) -> list:
    """Every request the receiver got, in the order it began to read them."""
    return sorted(list(receiver.requests), key=lambda r: r.at)


def first_deliveries(receiver: Receiver) -> list[str]:
    """The payload names of the receiver's successful requests, each name at its first success."""
    seen: list[str] = []
    for r in in_arrival_order(receiver):
        if 200 <= r.status < 300 and r.json()["name"] not in seen:
            seen.append(r.json()["name"])
    return seen


def save(count: int, prefix: str = "p") -> list[str]:
    """Save ``count`` people, one transaction each; their names in commit order."""
    for i in range(count):
        Person.objects.create(name=f"{prefix}{i}")
    return [f"{prefix}{i}" for i in range(count)]


def test_ordered_listener_receives_events_in_commit_order_while_first_attempts_fail(worker, receiver, settings):
    settings.DURIAN_RETRY_SCHEDULE = [0.2, 0.2, 0.2]
    for _ in range(10):  # requests are answered one after the other: every 5th one fails
        receiver.respond(200, times=4)
        receiver.respond(500)
    PersonHook().listener(url=receiver.url, ordered=True).save()
    saved = save(40)
    wait_until(lambda: len(first_deliveries(receiver)) == 40, 60, "all 40 events")
    assert first_deliveries(receiver) == saved
    failed = [r.json()["name"] for r in receiver.requests if r.status == 500]
    assert len(failed) >= 5  # first attempts did fail, and each was retried before the next event went
    assert receiver.max_in_flight == 1
    assert not DeadLetter.objects.exists()


def test_a_failing_event_holds_the_ones_behind_it_until_it_becomes_a_dead_letter_then_the_lane_moves_on(
    worker, receiver, settings
):
    settings.DURIAN_RETRY_SCHEDULE = [0.2, 0.2]  # three attempts in all
    receiver.respond(500, times=3)
    listener = PersonHook().listener(url=receiver.url, ordered=True).save()
    saved = save(5)
    wait_until(lambda: len(receiver.delivered) == 4, 30, "the 4 events behind the failing one")
    got = in_arrival_order(receiver)
    assert [(r.json()["name"], r.status) for r in got[:3]] == [("p0", 500)] * 3
    assert [r.json()["name"] for r in got[3:]] == saved[1:]
    letter = DeadLetter.objects.get()
    assert letter.listener_id == listener.pk and letter.payload["name"] == "p0" and letter.attempts == 3
    wait_until(lambda: not ordered.backlogs(_redis()), 10, "the lane to empty")


def test_unordered_listener_beside_an_ordered_one_keeps_its_concurrency(worker, settings):
    from django.db import transaction

    with Receiver() as in_order, Receiver() as free:
        in_order.always(200, delay=0.05)
        free.always(200, delay=0.05)
        PersonHook().listener(url=in_order.url, ordered=True).save()
        PersonHook().listener(url=free.url).save()
        with transaction.atomic():
            saved = save(30)
        free.wait_for(30, timeout=60)
        in_order.wait_for(30, timeout=60)
        assert free.max_in_flight > 1
        assert in_order.max_in_flight == 1
        assert first_deliveries(in_order) == saved


def test_a_paused_ordered_listener_delivers_its_held_events_in_order_on_resume(worker, receiver, admin_client):
    listener = PersonHook().listener(url=receiver.url, ordered=True, state=Listener.State.PAUSED).save()
    saved = save(10)
    wait_until(lambda: ordered.waiting(_redis(), listener.pk) == 10, 20, "10 events held")
    time.sleep(0.5)
    assert not receiver.requests
    out = io.StringIO()
    call_command("durian_status", stdout=out)
    assert f"listener {listener.pk}: 10 waiting, next delivery" in out.getvalue()
    assert "in commit order; 10 waiting their turn" in admin_client.get("/webhooks/").content.decode()
    listener.state = Listener.State.ACTIVE
    listener.save()
    receiver.wait_for(10, timeout=30)
    assert first_deliveries(receiver) == saved


def test_a_deleted_ordered_listener_s_backlog_is_dropped(worker, receiver):
    listener = PersonHook().listener(url=receiver.url, ordered=True, state=Listener.State.PAUSED).save()
    save(3)
    wait_until(lambda: ordered.waiting(_redis(), listener.pk) == 3, 20, "3 events held")
    listener.delete()
    wait_until(lambda: not ordered.backlogs(_redis()), 20, "the backlog to be dropped")
    assert not receiver.requests


def test_a_disabled_ordered_listener_s_events_become_dead_letters(worker, receiver):
    listener = PersonHook().listener(url=receiver.url, ordered=True, state=Listener.State.DISABLED).save()
    save(3)
    wait_until(lambda: DeadLetter.objects.count() == 3, 20, "3 dead letters")
    assert not receiver.requests
    assert set(DeadLetter.objects.values_list("listener_id", flat=True)) == {listener.pk}


def test_the_backlog_keeps_the_stream_s_order_whichever_consumer_adds_first(redis_client):
    from durian.core.event import Event
    from durian.pipeline import queue

    def item(n: int) -> tuple[str, dict, str]:
        event = Event(hook="person", payload={"name": f"p{n}"}, id=f"e{n}", created_at=0.0)
        return f"{1000 + n // 3}-{n % 3 * 7}", queue.item(event, 7), event.webhook_id(7)

    ordered.add(redis_client, [item(n) for n in range(6, 12)])  # a later batch lands first
    ordered.add(redis_client, [item(n) for n in range(0, 6)])
    ordered.add(redis_client, [item(3)])  # handed off twice: no change
    heads = ordered.heads(redis_client, 7, (1003, 0))
    assert [h.item["payload"]["name"] for h in heads] == [f"p{n}" for n in range(9)]
    assert ordered.waiting(redis_client, 7) == 12
    assert ordered.heads(redis_client, 7, None) == []


def _redis():
    from durian.storage.connection import get_redis

    return get_redis("worker")


@pytest.mark.fault
@FAULTS_A  # with the other fault tests, two at most at once (tests/faults/conftest.py says why)
@pytest.mark.timeout(300)
def test_ordered_listener_keeps_commit_order_across_a_killed_worker(cluster, receiver):  # noqa: F811
    from tests.faults.conftest import report, save_people

    receiver.default = Response(200, b"ok", delay=0.1)  # the first worker's lane keeps busy: it holds the lane
    PersonHook().listener(url=receiver.url, ordered=True).save()
    first = cluster.start_worker(threads=4)
    saved = [f"a{i}" for i in range(60)]
    save_people(60, per_transaction=1, prefix="a")  # commit order is the order of the names
    wait_until(lambda: len(receiver.delivered) >= 5, 60, "the first deliveries")
    cluster.start_worker(threads=4)  # a second worker process shares the stream and may take the lane
    save_people(60, per_transaction=1, prefix="b")
    saved += [f"b{i}" for i in range(60)]
    now = len(receiver.delivered)
    wait_until(lambda: len(receiver.delivered) >= now + 3, 120, "more deliveries")
    first.kill()  # SIGKILL mid-burst: its lane lock and pending entries are taken over
    wait_until(lambda: len(first_deliveries(receiver)) >= len(saved), 180, "every saved event")
    assert first_deliveries(receiver) == saved
    assert receiver.max_in_flight == 1
    assert not DeadLetter.objects.exists()
    times = [r.at for r in in_arrival_order(receiver)]
    gap = max(b - a for a, b in zip(times, times[1:], strict=False))  # a lane taken over waits for its lock
    report("ordered listener, worker killed", longest_gap_s=gap, posts=len(times), events=len(saved))


# -- making ordered listeners: builder, form, admin, API, and the pages that show them --------------


def test_the_builder_makes_an_ordered_listener_and_workers_see_it(redis_client):
    from durian.storage import listener_cache

    listener = PersonHook().listener(url="http://127.0.0.1:9/hook", ordered=True).save()
    assert Listener.objects.get(pk=listener.pk).ordered
    assert listener_cache.view(listener).ordered
    assert not listener_cache.view(PersonHook().listener(url="http://127.0.0.1:9/other").save()).ordered


def test_the_web_form_has_an_ordered_checkbox_and_the_listener_page_shows_it(admin_client, redis_client):
    page = admin_client.get("/webhooks/events/person/listeners/new/").content.decode()
    assert 'type="checkbox" name="ordered"' in page
    data = {"url": "http://127.0.0.1:9/hook", "payload_format": "flat", "ordered": "on"}
    data.update({f"filter-{f}-op": "any" for f in ("name", "address", "created")})
    response = admin_client.post("/webhooks/events/person/listeners/new/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    listener = Listener.objects.get()
    assert listener.ordered
    assert "ordered: one at a time, in commit order" in admin_client.get("/webhooks/").content.decode()
    edit = admin_client.get(f"/webhooks/listeners/{listener.pk}/edit/").content.decode()
    assert 'name="ordered" id="id_ordered" checked' in edit or ('name="ordered"' in edit and "checked" in edit)
    data.pop("ordered")  # unticked
    response = admin_client.post(f"/webhooks/listeners/{listener.pk}/edit/", data)
    assert response.status_code == 302
    listener.refresh_from_db()
    assert not listener.ordered


def test_the_admin_edits_ordered_and_lists_it(admin_client, redis_client):
    listener = PersonHook().listener(url="http://127.0.0.1:9/hook").save()
    change = f"/admin/durian/listener/{listener.pk}/change/"
    assert 'name="ordered"' in admin_client.get(change).content.decode()
    data = {
        "hook": "person",
        "url": "http://127.0.0.1:9/hook",
        "description": "",
        "filters": "{}",
        "state": "active",
        "payload_format": "flat",
        "ordered": "on",
    }
    response = admin_client.post(change, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    listener.refresh_from_db()
    assert listener.ordered
    assert admin_client.get("/admin/durian/listener/?ordered__exact=1").status_code == 200


def test_the_api_reads_and_writes_ordered(admin_user, redis_client):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(admin_user)
    body = {"hook": "person", "url": "http://127.0.0.1:9/hook", "ordered": True}
    created = api.post("/api/webhooks/listeners/", body, format="json")
    assert created.status_code == 201, created.json()
    assert created.json()["ordered"] is True
    pk = created.json()["id"]
    assert Listener.objects.get(pk=pk).ordered
    changed = api.patch(f"/api/webhooks/listeners/{pk}/", {"ordered": False}, format="json")
    assert changed.status_code == 200 and changed.json()["ordered"] is False
    bad = api.patch(f"/api/webhooks/listeners/{pk}/", {"ordered": "sometimes"}, format="json")
    assert bad.status_code == 400 and "ordered" in bad.json()


def test_an_entry_trimmed_while_pending_is_acknowledged_and_holds_nothing_up(redis_client):
    from durian.conf import settings as durian_settings
    from durian.pipeline.fanout import hand_off
    from durian.storage import stream

    stream.ensure_group(redis_client)
    first, second = (redis_client.xadd(durian_settings.STREAM_KEY, {"x": "1"}).decode() for _ in range(2))
    assert len(stream.read(redis_client, "c1", 10, None)) == 2
    assert stream.settled_below(redis_client) == stream._id(first)  # pending: nothing at or above it is settled
    redis_client.xdel(durian_settings.STREAM_KEY, first)
    entries = stream.read(redis_client, "c1", 10, None, own_pending=True)
    assert (first, None) in entries
    hand_off(redis_client, entries)
    ms, seq = stream._id(second)
    assert stream.settled_below(redis_client) == (ms, seq + 1)


@pytest.mark.fault
@FAULTS_B  # with the other fault tests, two at most at once (tests/faults/conftest.py says why)
@pytest.mark.timeout(300)
def test_ordered_listener_keeps_commit_order_when_redis_stops_mid_delivery(cluster, receiver):  # noqa: F811
    from tests.faults.conftest import report, save_people

    receiver.default = Response(200, b"ok", delay=0.05)
    PersonHook().listener(url=receiver.url, ordered=True).save()
    cluster.start_worker(threads=4)
    save_people(80, per_transaction=1, prefix="r")
    saved = [f"r{i}" for i in range(80)]
    wait_until(lambda: len(receiver.delivered) >= 10, 60, "the first deliveries")
    cluster.redis.stop()  # mid-lane: its calls to Redis fail; the head stays where it is
    time.sleep(3)
    cluster.redis.restart()
    wait_until(lambda: len(first_deliveries(receiver)) >= len(saved), 180, "every saved event")
    assert first_deliveries(receiver) == saved
    assert receiver.max_in_flight == 1
    report("ordered listener, Redis stopped", posts=len(receiver.delivered), events=len(saved))


def test_a_later_batch_handed_off_first_waits_until_the_earlier_one_is_handed_off(redis_client):
    from durian.pipeline.fanout import hand_off
    from durian.storage import stream

    listener = PersonHook().listener(url="http://127.0.0.1:9/hook", ordered=True).save()
    stream.ensure_group(redis_client)
    saved = save(6)
    early = stream.read(redis_client, "consumer-a", 3, None)  # a slow consumer's batch
    late = stream.read(redis_client, "consumer-b", 3, None)
    assert len(early) == len(late) == 3
    hand_off(redis_client, late)  # handed off first
    assert ordered.waiting(redis_client, listener.pk) == 3
    assert ordered.heads(redis_client, listener.pk, stream.settled_below(redis_client)) == []  # not settled yet
    hand_off(redis_client, early)
    heads = ordered.heads(redis_client, listener.pk, stream.settled_below(redis_client))
    assert [h.item["payload"]["name"] for h in heads] == saved


def test_the_lane_never_posts_an_entry_while_an_older_one_is_still_being_handed_off(redis_client, receiver):
    """Consumer A reads the older entry, consumer B the newer one; B hands off first. The lane, run
    now, must leave B's entry alone (A's is still pending in the stream); once A hands off, the lane
    posts A's entry, then B's."""
    from durian.pipeline import ordered as lanes_in_order
    from durian.pipeline.fanout import hand_off
    from durian.storage import recorder, stream

    listener = PersonHook().listener(url=receiver.url, ordered=True).save()
    stream.ensure_group(redis_client)
    older, newer = save(2)
    early = stream.read(redis_client, "consumer-a", 1, None)  # a slow consumer, still handing off
    late = stream.read(redis_client, "consumer-b", 1, None)
    assert [e.payload["name"] for _, e in early] == [older] and [e.payload["name"] for _, e in late] == [newer]

    def lane_turn() -> None:
        """One turn of the real lane, as a worker process runs it once it holds the lane's lock."""
        token = f"test-{time.monotonic_ns()}"
        assert ordered.lock(redis_client, listener.pk, token, lanes_in_order.lock_ms())
        try:
            lanes_in_order.OrderedLane(redis_client, listener.pk, token).run()  # returns: no thread left behind
        finally:
            ordered.unlock(redis_client, listener.pk, token)

    was_stopping = lanes_in_order._stopping.is_set()  # a previous test's worker stopped the lanes
    lanes_in_order.resume()
    try:
        hand_off(redis_client, late)  # B's entry joins the backlog; A's is still pending
        assert ordered.waiting(redis_client, listener.pk) == 1
        lane_turn()  # waits for A (``SETTLE_WAIT``), then leaves
        assert [r.json()["name"] for r in in_arrival_order(receiver)] == [], (
            "the lane posted an entry while an older one was still being handed off"
        )
        assert ordered.waiting(redis_client, listener.pk) == 1
        hand_off(redis_client, early)
        lane_turn()
        assert [r.json()["name"] for r in in_arrival_order(receiver)] == [older, newer]
        assert ordered.waiting(redis_client, listener.pk) == 0 and not ordered.backlogs(redis_client)
    finally:
        if was_stopping:
            lanes_in_order.stop()
        recorder.recorder.flush()  # the successes' records, before the tables are emptied


def test_a_paused_ordered_listener_keeps_events_only_for_the_retention_period(worker, receiver, settings):
    settings.DURIAN_PAUSED_RETENTION = 1.0
    listener = PersonHook().listener(url=receiver.url, ordered=True, state=Listener.State.PAUSED).save()
    Person.objects.create(name="old")
    wait_until(lambda: ordered.waiting(_redis(), listener.pk) == 1, 20, "kept")
    wait_until(lambda: ordered.waiting(_redis(), listener.pk) == 0, 20, "dropped after the retention")
    listener.state = Listener.State.ACTIVE
    listener.save()
    Person.objects.create(name="new")
    receiver.wait_for(1)
    time.sleep(0.5)
    assert [r.json()["name"] for r in receiver.delivered] == ["new"]
