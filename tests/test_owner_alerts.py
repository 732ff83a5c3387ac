"""Owner alerts: an email to the listener's owner when it is disabled, or its circuit stays open."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from django.core import mail

from durian.models import DeadLetter, Listener
from durian.storage import alerts, circuit, health
from example_project.people.hooks import PersonHook
from example_project.people.models import Person
from tests.waiting import wait_until


@pytest.fixture
def owner(db) -> User:
    return User.objects.create_user("olga", email="olga@example.com", password="pw")


@pytest.fixture
def listener(owner) -> Listener:
    return PersonHook().listener(url="http://127.0.0.1:9/hook", owner=owner).save()


def test_the_owner_is_emailed_once_with_the_reason_when_the_listener_is_disabled(redis_client, listener):
    health.disable(listener.pk, "The receiver answered 410 Gone.")

    [email] = mail.outbox
    assert email.to == ["olga@example.com"]
    assert email.subject == f"Webhooks: listener {listener.pk} (person) was disabled"
    assert "Reason: The receiver answered 410 Gone." in email.body
    assert "http://127.0.0.1:9/hook" in email.body


def test_a_second_disable_within_the_interval_sends_no_email(redis_client, listener):
    health.disable(listener.pk, "The receiver answered 410 Gone.")
    listener.enable()
    health.disable(listener.pk, "The receiver answered 410 Gone again.")

    assert len(mail.outbox) == 1
    assert Listener.objects.get(pk=listener.pk).disabled_reason == "The receiver answered 410 Gone again."


def test_once_the_interval_is_over_the_owner_is_emailed_again(redis_client, listener, settings):
    settings.DURIAN_NOTIFY_INTERVAL = 1
    health.disable(listener.pk, "first")
    listener.enable()
    wait_until(lambda: not redis_client.exists(alerts.alerted_key(listener.pk)), timeout=5)
    health.disable(listener.pk, "second")

    assert [e.body.count("Reason: second") for e in mail.outbox] == [0, 1]


def test_a_listener_without_an_owner_sends_no_email(redis_client, db):
    orphan = PersonHook().listener(url="http://127.0.0.1:9/hook").save()
    health.disable(orphan.pk, "The receiver answered 410 Gone.")

    assert Listener.objects.get(pk=orphan.pk).state == Listener.State.DISABLED
    assert mail.outbox == []


def test_an_owner_without_an_email_address_gets_none(redis_client, owner, listener):
    User.objects.filter(pk=owner.pk).update(email="")
    health.disable(listener.pk, "The receiver answered 410 Gone.")

    assert mail.outbox == []


def test_with_notifications_off_no_email_is_sent(redis_client, listener, settings):
    settings.DURIAN_NOTIFY_OWNERS = False
    health.disable(listener.pk, "The receiver answered 410 Gone.")
    circuit.down(redis_client, listener.pk)  # and a circuit open for long: no email either
    settings.DURIAN_NOTIFY_AFTER = 0.01
    assert alerts.check_circuits(redis_client) == 0

    assert mail.outbox == []


def test_the_templates_can_be_overridden(redis_client, listener, settings, tmp_path):
    (tmp_path / "durian" / "email").mkdir(parents=True)
    (tmp_path / "durian" / "email" / "listener_disabled_subject.txt").write_text("Hook {{ listener.pk }} off")
    (tmp_path / "durian" / "email" / "listener_disabled.txt").write_text("Why: {{ reason }}")
    settings.TEMPLATES = [{**settings.TEMPLATES[0], "DIRS": [str(tmp_path)]}]
    health.disable(listener.pk, "410")

    [email] = mail.outbox
    assert (email.subject, email.body) == (f"Hook {listener.pk} off", "Why: 410")


def test_an_email_that_cannot_be_sent_does_not_stop_the_disabling(redis_client, listener, settings):
    settings.EMAIL_BACKEND = "no.such.Backend"
    assert health.disable(listener.pk, "The receiver answered 410 Gone.") is not None

    assert Listener.objects.get(pk=listener.pk).state == Listener.State.DISABLED


# -- a circuit open for long ----------------------------------------------------------------


def open_circuit(client, listener_id: int, settings) -> None:
    settings.DURIAN_CIRCUIT_FAILURES = 1
    assert circuit.down(client, listener_id) > 0


def test_a_circuit_open_for_notify_after_emails_the_owner_once(redis_client, listener, settings):
    settings.DURIAN_NOTIFY_AFTER = 0.2
    open_circuit(redis_client, listener.pk, settings)
    assert alerts.check_circuits(redis_client) == 0  # open, but not for long yet

    time.sleep(0.3)
    assert alerts.check_circuits(redis_client) == 1
    circuit.down(redis_client, listener.pk)  # opens again (a failed probe): the same run of openings
    assert alerts.check_circuits(redis_client) == 0

    [email] = mail.outbox
    assert email.to == ["olga@example.com"]
    assert email.subject == f"Webhooks: listener {listener.pk} (person) cannot reach its endpoint"
    assert "Reason: Its endpoint has not answered since" in email.body


def test_a_circuit_that_closed_and_opened_again_counts_from_its_new_opening(redis_client, listener, settings):
    settings.DURIAN_NOTIFY_AFTER = 0.5
    settings.DURIAN_NOTIFY_INTERVAL = 0  # no interval: only the circuit's own rule holds
    open_circuit(redis_client, listener.pk, settings)
    time.sleep(0.3)
    circuit.up(redis_client, listener.pk)
    circuit.down(redis_client, listener.pk)
    time.sleep(0.3)
    assert alerts.check_circuits(redis_client) == 0  # 0.6 s since the first opening, 0.3 s since this one

    time.sleep(0.3)
    assert alerts.check_circuits(redis_client) == 1


def test_no_circuit_email_for_a_paused_listener(redis_client, listener, settings):
    settings.DURIAN_NOTIFY_AFTER = 0.01
    open_circuit(redis_client, listener.pk, settings)
    listener.pause()
    time.sleep(0.05)

    assert alerts.check_circuits(redis_client) == 0
    assert mail.outbox == []


def test_one_process_at_a_time_looks_for_open_circuits(redis_client, listener, settings):
    settings.DURIAN_NOTIFY_AFTER = 0.01
    settings.DURIAN_SWEEP_INTERVAL = 60
    open_circuit(redis_client, listener.pk, settings)
    time.sleep(0.05)

    assert alerts.run_due(redis_client) == 1
    assert alerts.run_due(redis_client) is None  # another sweep within the interval: the lease is held


# -- against a real worker and a real receiver ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_receiver_answering_410_gets_its_owner_one_email(worker, receiver):
    receiver.always(410)
    owner = User.objects.create_user("olga", email="olga@example.com", password="pw")
    listener = PersonHook().listener(url=receiver.url, owner=owner).save()
    Person.objects.create(name="Joe")
    wait_until(lambda: mail.outbox and DeadLetter.objects.exists())
    listener.enable()
    Person.objects.create(name="Ann")  # disabled again at once: within the interval, no second email
    wait_until(lambda: DeadLetter.objects.count() == 2 and Listener.objects.get(pk=listener.pk).state == "disabled")

    [email] = mail.outbox
    assert email.to == ["olga@example.com"]
    assert "Reason: The receiver answered 410 Gone." in email.body


@pytest.mark.django_db(transaction=True)
def test_the_workers_email_the_owner_of_an_endpoint_down_for_notify_after(worker, settings):
    settings.DURIAN_CIRCUIT_FAILURES = 1
    settings.DURIAN_NOTIFY_AFTER = 0.5
    settings.DURIAN_SWEEP_INTERVAL = 0.2
    owner = User.objects.create_user("olga", email="olga@example.com", password="pw")
    listener = PersonHook().listener(url="http://127.0.0.1:9/down", owner=owner).save()
    Person.objects.create(name="Joe")  # connection refused: the circuit opens, and stays open

    wait_until(lambda: mail.outbox, what="the circuit email")
    [email] = mail.outbox
    assert email.subject == f"Webhooks: listener {listener.pk} (person) cannot reach its endpoint"
