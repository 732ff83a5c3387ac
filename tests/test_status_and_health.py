"""Status semantics (2xx, 410, 429/502/503/504 with Retry-After, 3xx, others) and endpoint health."""

import datetime
import email.utils
import logging

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from durian.core import schedule
from durian.core.outcome import Answer, Outcome, outcome_of
from durian.models import DeadLetter, Listener
from durian.signals import listener_disabled
from durian.storage import health
from durian.storage.connection import get_redis
from durian.storage.listener_cache import snapshots
from example_project.people.hooks import PersonHook
from example_project.people.models import Person
from tests.waiting import wait_until


@pytest.fixture
def disabled_signals():
    got = []

    def on_disabled(sender, listener, reason, **kwargs):
        got.append((listener.pk, listener.state, reason))

    listener_disabled.connect(on_disabled)
    yield got
    listener_disabled.disconnect(on_disabled)


# -- what an answer means -------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, headers, ok, final, retry_after",
    [
        (200, {}, True, False, None),
        (204, {}, True, False, None),
        (301, {"Location": "https://elsewhere.example/"}, False, False, None),
        (302, {}, False, False, None),
        (400, {}, False, False, None),
        (404, {}, False, False, None),
        (410, {}, False, True, None),
        (429, {"Retry-After": "2"}, False, False, 2.0),
        (502, {"Retry-After": "7"}, False, False, 7.0),
        (503, {"retry-after": "0"}, False, False, 0.0),
        (504, {"Retry-After": "999999"}, False, False, 3600.0),  # bounded by DURIAN_RETRY_AFTER_MAX
        (503, {}, False, False, None),  # no header: the schedule decides
        (500, {"Retry-After": "2"}, False, False, None),  # only the slow-down statuses are honoured
    ],
)
def test_each_status_means_what_the_standard_webhooks_guidance_says(status, headers, ok, final, retry_after):
    outcome = outcome_of(Answer(status, "Reason", headers, b"body"))
    assert (outcome.ok, outcome.final, outcome.retry_after) == (ok, final, retry_after)
    assert outcome.gone is (status == 410)


def test_a_network_error_follows_the_schedule_and_a_refusal_is_final():
    assert outcome_of(Answer(error="ConnectionError: refused")) == Outcome(False, None, "ConnectionError: refused")
    assert outcome_of(Answer(error="Refused: 10.0.0.1 is a private address", refused=True)).final


def test_retry_after_reads_seconds_and_http_dates_within_bounds():
    now = 1_800_000_000.0
    in_90_s = email.utils.formatdate(now + 90, usegmt=True)
    assert schedule.retry_after("120", 3600, now) == 120
    assert schedule.retry_after(in_90_s, 3600, now) == pytest.approx(90)
    assert schedule.retry_after(in_90_s, 60, now) == 60
    assert schedule.retry_after(email.utils.formatdate(now - 90, usegmt=True), 3600, now) == 0
    assert schedule.retry_after("soon", 3600, now) is None
    assert schedule.retry_after("-5", 3600, now) is None


# -- through a real worker ------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_429_with_retry_after_2_is_retried_after_about_2_s_not_earlier(worker, receiver):
    receiver.respond(429, headers={"Retry-After": "2"})
    PersonHook().listener(url=receiver.url).save()
    Person.objects.create(name="Joe")
    first, second = receiver.wait_for(2, delivered=False, timeout=60)
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 2.0  # the schedule alone would have retried after 0.1 s


@pytest.mark.django_db(transaction=True)
def test_receiver_returning_410_disables_the_listener(worker, receiver, disabled_signals, caplog):
    receiver.respond(410)
    listener = PersonHook().listener(url=receiver.url).save()
    with caplog.at_level(logging.WARNING, logger="durian.health"):
        Person.objects.create(name="Joe")
        wait_until(lambda: disabled_signals and DeadLetter.objects.exists())
    listener.refresh_from_db()
    assert listener.state == Listener.State.DISABLED
    assert listener.disabled_reason == "The receiver answered 410 Gone."
    assert disabled_signals == [(listener.pk, "disabled", "The receiver answered 410 Gone.")]
    assert f"listener {listener.pk} ({receiver.url}) disabled: The receiver answered 410 Gone." in caplog.text
    assert DeadLetter.objects.get().attempts == 1  # 410 is not retried
    assert len(receiver.requests) == 1

    # Later events are kept as dead letters, without a request, until the listener is enabled again.
    Person.objects.create(name="Ann")
    wait_until(lambda: DeadLetter.objects.count() == 2)
    letter = DeadLetter.objects.get(payload__name="Ann")
    assert (letter.attempts, letter.last_error) == (0, "The listener is disabled.")
    assert len(receiver.requests) == 1

    listener.enable()
    from durian.pipeline.resend import resend

    assert resend(DeadLetter.objects.order_by("id")) == (2, 0)
    assert sorted(r.json()["name"] for r in receiver.delivered) == ["Ann", "Joe"]


@pytest.mark.django_db(transaction=True)
def test_a_listener_failing_for_the_whole_window_is_disabled(worker, receiver, settings, disabled_signals):
    settings.DURIAN_DISABLE_AFTER = 0.25  # seconds here; 5 days by default
    receiver.always(500)
    listener = PersonHook().listener(url=receiver.url).save()
    Person.objects.create(name="Joe")  # attempts at 0, 0.1 s and 0.3 s: the last one is past the window
    wait_until(lambda: disabled_signals)  # sent after the state is saved and the cache republished
    listener.refresh_from_db()
    assert listener.state == Listener.State.DISABLED
    assert listener.consecutive_failures >= 2  # the third attempt, or the second on a slow machine
    assert listener.disabled_reason.startswith("Every delivery failed for more than 0.25 s; last error: HTTP 500")
    assert [pk for pk, _, _ in disabled_signals] == [listener.pk]
    assert snapshots.get(get_redis("worker")).by_id[listener.pk].state == "disabled"  # the cache knows


# -- health bookkeeping ---------------------------------------------------------------------


@pytest.fixture
def listener(db, redis_client):
    return PersonHook().listener(url="http://127.0.0.1:9/hook").save()


FAILED = Outcome(False, 500, "HTTP 500")
OK = Outcome(True, 200)


def test_failures_in_a_row_are_counted_and_a_success_resets_them(listener):
    health.observe([(listener.pk, FAILED), (listener.pk, FAILED)])
    health.observe([(listener.pk, FAILED)])
    listener.refresh_from_db()
    assert listener.consecutive_failures == 3 and listener.failing_since and listener.last_failure_at
    since = listener.failing_since

    health.observe([(listener.pk, OK)])
    listener.refresh_from_db()
    assert (listener.consecutive_failures, listener.failing_since) == (0, None)
    assert listener.last_success_at >= since


def test_a_healthy_listener_costs_no_database_write_per_success(listener):
    health.observe([(listener.pk, OK)])  # the first success is stamped
    with CaptureQueriesContext(connection) as queries:
        for _ in range(50):
            health.observe([(listener.pk, OK), (listener.pk, OK)])
    assert len(queries) == 0

    health.observe([(listener.pk, FAILED)])  # ...but the first success after a failure resets at once
    with CaptureQueriesContext(connection) as queries:
        health.observe([(listener.pk, OK)])
    assert len(queries) == 1
    listener.refresh_from_db()
    assert listener.consecutive_failures == 0


def test_a_listener_failing_for_five_days_is_disabled_by_its_next_failure(listener, disabled_signals):
    Listener.objects.filter(pk=listener.pk).update(
        consecutive_failures=40, failing_since=timezone.now() - datetime.timedelta(days=5, minutes=1)
    )
    assert health.observe([(listener.pk, FAILED)]) == [listener.pk]
    listener.refresh_from_db()
    assert listener.state == Listener.State.DISABLED and listener.consecutive_failures == 41
    assert listener.disabled_reason == "Every delivery failed for more than 5 day(s); last error: HTTP 500"
    assert len(disabled_signals) == 1
    assert health.observe([(listener.pk, FAILED)]) == []  # disabled once, signalled once


def test_four_days_of_failure_leave_the_listener_active(listener):
    Listener.objects.filter(pk=listener.pk).update(failing_since=timezone.now() - datetime.timedelta(days=4))
    assert health.observe([(listener.pk, FAILED)]) == []
    listener.refresh_from_db()
    assert listener.state == Listener.State.ACTIVE


def test_admin_shows_disabled_listeners_and_enables_them_again(listener, client):
    health.disable(listener.pk, "The receiver answered 410 Gone.")
    User.objects.create_superuser("staff", "staff@example.com", "pw")
    client.login(username="staff", password="pw")
    page = client.get("/admin/durian/listener/?state__exact=disabled").content.decode()
    assert listener.url in page and "The receiver answered 410 Gone." in page

    response = client.post(
        "/admin/durian/listener/", {"action": "enable_selected", "_selected_action": [listener.pk]}, follow=True
    )
    assert "1 listener(s) enabled" in response.content.decode()
    listener.refresh_from_db()
    assert (listener.state, listener.disabled_reason, listener.consecutive_failures) == ("active", "", 0)


@pytest.mark.django_db(transaction=True)
def test_local_hooks_follow_the_same_rules_410_disables_and_later_events_are_kept(receiver, redis_client):
    from durian.registry import hooks
    from tests.test_delivery import LocalPersonHook

    hooks.register(LocalPersonHook)
    try:
        receiver.respond(410)
        listener = hooks["person-local"].listener(url=receiver.url).save()
        Person.objects.create(name="Joe")
        listener.refresh_from_db()
        assert listener.state == Listener.State.DISABLED
        Person.objects.create(name="Ann")
        assert list(DeadLetter.objects.order_by("id").values_list("attempts", "last_status_code")) == [
            (1, 410),
            (0, None),
        ]
        assert len(receiver.requests) == 1
    finally:
        hooks.unregister(LocalPersonHook)
