"""``durian_status``, ``durian_replay`` and ``durian_purge`` as an operator runs them."""

import datetime
import io
import json

import dramatiq
import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from hypothesis import given
from hypothesis import strategies as st

from durian.conf import settings as durian_settings
from durian.core.event import Event
from durian.management.timespec import parse_duration, parse_moment
from durian.models import DeadLetter, Delivery, Listener, OutboxEvent
from durian.storage import stream
from example_project.people.hooks import PersonHook
from example_project.people.models import Person
from tests.waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def people(n: int, prefix: str = "p") -> None:
    for i in range(n):
        Person.objects.create(name=f"{prefix}{i}", address="a", secret="s")


# -- time specifications ---------------------------------------------------------------------------


@given(st.integers(0, 10_000), st.sampled_from(["s", "min", "h", "d", "w"]))
def test_durations_read_as_number_and_unit(n, unit):
    seconds = {"s": 1, "min": 60, "h": 3600, "d": 86400, "w": 604800}[unit]
    assert parse_duration(f"{n}{unit}") == datetime.timedelta(seconds=n * seconds)


def test_moments_are_iso_datetimes_or_durations_ago():
    now = timezone.now()
    assert parse_moment("12h", now) == now - datetime.timedelta(hours=12)
    assert parse_moment("1h30min", now) == now - datetime.timedelta(minutes=90)
    assert parse_moment("2026-11-24T08:00:00+00:00") == datetime.datetime(2026, 11, 24, 8, tzinfo=datetime.UTC)
    with pytest.raises(ValueError):
        parse_moment("yesterday-ish")


@pytest.mark.parametrize("text", ["1m", "30m", "1h30m", "2mo", "1month"])
def test_a_duration_whose_unit_could_be_minutes_or_months_is_refused(text):
    with pytest.raises(ValueError, match="ambiguous duration.*'min'"):
        parse_moment(text)
    with pytest.raises(CommandError, match="ambiguous duration"):
        run("durian_purge", "--older-than", text)


# -- durian_status ---------------------------------------------------------------------------------


def test_status_shows_backlog_outbox_dead_letters_and_disabled_listeners(redis_client, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    gone = PersonHook().listener(url=receiver.url + "/gone").save()
    Listener.objects.filter(pk=gone.pk).update(state=Listener.State.DISABLED, disabled_reason="410 Gone")
    people(3)
    stream.ensure_group(redis_client)
    stream.read(redis_client, "c1", 1, None)  # one read, not acknowledged
    OutboxEvent.objects.create(id="x" * 32, hook="person", payload={}, created_at=0.0)
    DeadLetter.objects.create(listener=listener, hook="person", event_id="e", webhook_id="msg_e_1", payload={})

    text = run("durian_status")
    assert "durian:events: 3 entries" in text
    assert "lag 2 (not yet read), pending 1" in text
    assert "Outbox: 1 event(s)" in text
    assert f"person -> listener {listener.pk} ({receiver.url}): 1" in text
    assert f"#{gone.pk} person -> {receiver.url}/gone: 410 Gone" in text

    data = json.loads(run("durian_status", "--json"))
    assert data["stream"]["length"] == 3 and data["outbox"]["count"] == 1


# -- durian_replay ---------------------------------------------------------------------------------


def queued_items() -> list[dict]:
    broker = dramatiq.get_broker()
    key = f"dramatiq:{durian_settings.QUEUE_NAME}.msgs"
    client = broker.client
    return [item for raw in client.hvals(key) for item in json.loads(raw)["args"][0]]


@pytest.fixture
def empty_queue(redis_client):
    dramatiq.get_broker().flush_all()
    yield


def test_replay_queues_the_window_s_events_for_the_matching_listeners(redis_client, receiver, empty_queue):
    joe = PersonHook().listener(url=receiver.url + "/joe").match(name="p1").save()
    every = PersonHook().listener(url=receiver.url + "/all").save()
    people(3)

    out = run("durian_replay", "--since", "1h")
    items = queued_items()
    assert sorted((i["listener"], i["payload"]["name"]) for i in items) == sorted(
        [(joe.pk, "p1"), (every.pk, "p0"), (every.pk, "p1"), (every.pk, "p2")]
    )
    assert all(i["replay"] for i in items)
    assert "3 from the stream" in out and "Deliveries queued: 4 to 2 listener(s)" in out


def test_replay_can_be_limited_to_one_listener_and_a_window(redis_client, receiver, empty_queue):
    PersonHook().listener(url=receiver.url + "/a").save()
    b = PersonHook().listener(url=receiver.url + "/b").save()
    people(2)
    run("durian_replay", "--since", "1h", "--listener", str(b.pk))
    assert {i["listener"] for i in queued_items()} == {b.pk}
    dramatiq.get_broker().flush_all()
    run("durian_replay", "--since", "2h", "--until", "1h")
    assert queued_items() == []


def test_replay_takes_events_trimmed_from_the_stream_from_their_dead_letters(redis_client, receiver, empty_queue):
    listener = PersonHook().listener(url=receiver.url).save()
    event = Event(hook="person", payload={"name": "Old", "address": "a"})
    DeadLetter.objects.create(
        listener=listener, hook="person", event_id=event.id, webhook_id=event.webhook_id(listener.pk),
        payload=event.payload, event_created_at=timezone.now() - datetime.timedelta(days=2),
    )  # fmt: skip
    Delivery.objects.create(listener=listener, hook="person", event_id="lost", webhook_id="msg_lost_1")
    out = run("durian_replay", "--since", "3d")
    assert [(i["event"], i["listener"]) for i in queued_items()] == [(event.id, listener.pk)]
    assert "1 from dead letters" in out and "no dead letter): 1 delivery record(s)" in out


def test_replay_rejects_a_window_that_ends_before_it_starts(redis_client):
    with pytest.raises(CommandError):
        run("durian_replay", "--since", "1h", "--until", "2h")


# -- durian_purge ----------------------------------------------------------------------------------


def test_purge_removes_old_records_but_keeps_dead_letters_still_dead(redis_client, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    old = timezone.now() - datetime.timedelta(days=10)
    Delivery.objects.create(listener=listener, hook="person", event_id="a", webhook_id="w1", created_at=old)
    Delivery.objects.create(listener=listener, hook="person", event_id="b", webhook_id="w2")
    for wid, status in [("d1", DeadLetter.Status.DELIVERED), ("d2", DeadLetter.Status.DEAD)]:
        DeadLetter.objects.create(
            listener=listener, hook="person", event_id=wid, webhook_id=wid, payload={}, status=status, delivered_at=old
        )
    out = run("durian_purge", "--older-than", "7d")
    assert "Delivery records removed: 1" in out
    assert list(Delivery.objects.values_list("webhook_id", flat=True)) == ["w2"]
    assert list(DeadLetter.objects.values_list("webhook_id", flat=True)) == ["d2"]


def test_purge_never_trims_stream_entries_not_yet_consumed(redis_client, stream_len):
    people(5)
    stream.ensure_group(redis_client)
    read = stream.read(redis_client, "c1", 3, None)  # three read...
    stream.ack(redis_client, [read[0][0]])  # ...one acknowledged, two pending, two unread
    run("durian_purge", "--older-than", "0s")
    assert stream_len() == 4  # only the acknowledged entry went
    stream.ack(redis_client, [entry_id for entry_id, _ in read])
    run("durian_purge", "--older-than", "0s")
    assert stream_len() == 2  # the unread ones stay


def test_purge_leaves_a_stream_nobody_consumed_alone(redis_client, stream_len):
    people(2)
    run("durian_purge", "--older-than", "0s")
    assert stream_len() == 2


def test_purge_dry_run_counts_without_removing(redis_client, stream_len):
    people(2)
    stream.ensure_group(redis_client)
    stream.ack(redis_client, [i for i, _ in stream.read(redis_client, "c1", 2, None)])
    out = run("durian_purge", "--older-than", "0s", "--dry-run")
    assert "Stream entries that would be trimmed: 2" in out
    assert stream_len() == 2


def test_purge_trims_only_below_what_every_consumer_group_still_needs(redis_client, stream_len):
    people(6)
    stream.ensure_group(redis_client)
    key = durian_settings.STREAM_KEY
    redis_client.xgroup_create(key, "audit", id="0")  # e.g. an archive reading the same stream
    stream.ack(redis_client, [i for i, _ in stream.read(redis_client, "c1", 6, None)])  # durian's group: all done
    audit = redis_client.xreadgroup("audit", "a1", {key: ">"}, count=2)[0][1]
    redis_client.xack(key, "audit", *[i for i, _ in audit])  # the archive: two done, four unread
    out = run("durian_purge", "--older-than", "0s")
    assert "Stream entries trimmed: 2" in out
    assert stream_len() == 4
    assert [e.payload["name"] for _, e in stream.history(redis_client)] == ["p2", "p3", "p4", "p5"]


def test_purge_forgets_consumers_idle_that_long_with_nothing_pending_and_keeps_the_others(redis_client):
    people(3)
    stream.ensure_group(redis_client)
    done = stream.read(redis_client, "gone-quiet", 2, None)
    stream.ack(redis_client, [i for i, _ in done])
    stream.read(redis_client, "holding", 1, None)  # one entry pending with it
    group = durian_settings.CONSUMER_GROUP

    def consumers():
        return sorted(c["name"] for c in stream.consumers(redis_client, group))

    assert consumers() == ["gone-quiet", "holding"]
    assert "Idle consumers with nothing pending removed: 0" in run("durian_purge", "--older-than", "1h")
    assert consumers() == ["gone-quiet", "holding"]  # not idle that long
    wait_until(lambda: all(int(c["idle"]) > 5 for c in stream.consumers(redis_client, group)), 30, "idle consumers")
    assert "Idle consumers with nothing pending removed: 1" in run("durian_purge", "--older-than", "0s")
    assert consumers() == ["holding"]  # its pending entry still needs it


def test_the_stream_is_capped_near_stream_maxlen_keeping_the_newest_events(redis_client, stream_len, settings):
    settings.DURIAN_STREAM_MAXLEN = 100
    from django.db import transaction

    with transaction.atomic():
        people(1000)
    assert 100 <= stream_len() < 1000  # approximate trimming: whole nodes, never below the cap
    assert [e.payload["name"] for _, e in stream.history(redis_client)][-100:] == [f"p{i}" for i in range(900, 1000)]


# -- what an operator reads ------------------------------------------------------------------------


def test_dry_runs_say_what_would_happen(redis_client, receiver):
    PersonHook().listener(url=receiver.url).save()
    people(2)
    replayed = run("durian_replay", "--since", "1h", "--dry-run")
    assert "Deliveries that would be queued: 2 to 1 listener(s)" in replayed and "Deliveries queued" not in replayed
    purged = run("durian_purge", "--older-than", "7d", "--dry-run")
    assert "Delivery records that would be removed: 0" in purged and "records removed" not in purged


def test_replay_of_an_unknown_listener_or_hook_says_so(redis_client):
    with pytest.raises(CommandError, match="no such listener: 9999"):
        run("durian_replay", "--since", "1h", "--listener", "9999")
    with pytest.raises(CommandError, match="no such hook: nope"):
        run("durian_replay", "--since", "1h", "--hook", "nope")


def test_replay_since_a_future_time_says_it_is_in_the_future(redis_client):
    with pytest.raises(CommandError, match="is in the future"):
        run("durian_replay", "--since", "2030-01-01")


def test_status_tells_a_running_consumer_waiting_for_entries_from_a_stopped_one(redis_client):
    people(2)
    stream.ensure_group(redis_client)
    stream.ack(redis_client, [i for i, _ in stream.read(redis_client, "running-one", 1, None)])
    stream.read(redis_client, "stopped-one", 1, None)
    stream.beat(redis_client, "running-one")
    text = run("durian_status")
    assert "consumer running-one: running, last entry" in text and "(waiting for new entries)" in text
    assert "consumer stopped-one: not running (no heartbeat" in text


def test_status_masks_url_passwords_and_escapes_control_characters(redis_client):
    listener = Listener.objects.create(hook="person", url="https://bob:hunter2@client.test/hook")
    Listener.objects.filter(pk=listener.pk).update(
        state=Listener.State.DISABLED, disabled_reason="HTTP 500 \x1b[2Jcleared"
    )
    text = run("durian_status")
    assert "hunter2" not in text and "bob:***@client.test" in text
    assert "\x1b" not in text and "\\x1b[2Jcleared" in text


# -- issue 22: bad input and an unreachable Redis ---------------------------------------------------


@pytest.mark.parametrize(("command", "option"), [("durian_replay", "--since"), ("durian_purge", "--older-than")])
@pytest.mark.parametrize("text", ["100000000d", "99999999999999999999w"])
def test_a_duration_reaching_before_year_one_is_a_clear_error(command, option, text):
    with pytest.raises(CommandError, match="too far back|duration too long"):
        run(command, option, text)


@pytest.mark.parametrize(
    "command", [["durian_status"], ["durian_replay", "--since", "1h"], ["durian_purge", "--older-than", "7d"]]
)
def test_a_command_with_redis_unreachable_prints_one_line_and_exits_non_zero_fast(tmp_path, command):
    import os
    import socket
    import subprocess
    import sys
    import time
    from pathlib import Path

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "example_project.settings", "DURIAN_EXAMPLE_VAR": str(tmp_path)}
    env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    manage = [sys.executable, str(root / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], cwd=root, env=env, check=True, capture_output=True, timeout=120)
    started = time.monotonic()
    done = subprocess.run(
        [*manage, *command],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    took = time.monotonic() - started
    assert done.returncode != 0
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert f"cannot reach Redis at redis://127.0.0.1:{port}/0" in lines[0]
    assert "Traceback" not in lines[0]
    assert took < 15, took
