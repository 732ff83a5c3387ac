"""Delivery through a real worker to a real receiver: retries, dead letters, the admin, local mode."""

import json

import pytest
from django.contrib.auth.models import User
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from durian.hook import ModelHook
from durian.match import Startswith
from durian.models import DeadLetter, Delivery, Listener
from durian.registry import hooks
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

from .waiting import wait_until

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_500_then_a_200_delivers_once_with_the_same_webhook_id(worker, receiver):
    receiver.respond(500)
    listener = PersonHook().listener(url=receiver.url).save()
    Person.objects.create(name="Joe")
    (delivered,) = receiver.wait_for(1)
    assert [r.status for r in receiver.requests] == [500, 200]
    assert receiver.requests[0].headers["webhook-id"] == delivered.headers["webhook-id"]
    assert json.loads(delivered.body)["name"] == "Joe"
    wait_until(lambda: Delivery.objects.filter(ok=True).exists())
    assert list(Delivery.objects.order_by("attempt").values_list("attempt", "ok", "status_code")) == [
        (1, False, 500),
        (2, True, 200),
    ]
    assert not DeadLetter.objects.exists()
    assert listener.deliveries.count() == 2


@pytest.fixture
def admin_client_logged_in(client):
    User.objects.create_superuser("staff", "staff@example.com", "pw")
    client.login(username="staff", password="pw")
    return client


def test_an_endpoint_that_always_fails_ends_as_one_dead_letter_that_retry_delivers(
    worker, receiver, admin_client_logged_in
):
    receiver.always(500, b"<b>boom</b>")
    listener = PersonHook().listener(url=receiver.url).save()
    Person.objects.create(name="Joe", address="<script>alert(1)</script>")

    receiver.wait_for(3, delivered=False)  # 1 attempt + 2 retries (tests' schedule)
    wait_until(lambda: DeadLetter.objects.exists())
    letter = DeadLetter.objects.get()
    assert (letter.listener, letter.hook, letter.attempts, letter.last_status_code) == (listener, "person", 3, 500)
    assert "<b>boom</b>" in letter.response_excerpt

    changelist = admin_client_logged_in.get("/admin/durian/deadletter/")
    assert changelist.status_code == 200
    assert letter.webhook_id in changelist.content.decode()
    page = admin_client_logged_in.get(f"/admin/durian/deadletter/{letter.pk}/change/").content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "<script>alert(1)</script>" not in page

    receiver.always(200)
    response = admin_client_logged_in.post(
        "/admin/durian/deadletter/",
        {"action": "retry_selected", "_selected_action": [letter.pk]},
        follow=True,
    )
    assert "1 dead letter(s) delivered." in response.content.decode()
    (delivered,) = receiver.delivered
    assert delivered.headers["webhook-id"] == receiver.requests[0].headers["webhook-id"] == letter.webhook_id
    letter.refresh_from_db()
    assert letter.status == DeadLetter.Status.DELIVERED
    filtered = admin_client_logged_in.get("/admin/durian/deadletter/?status__exact=delivered")
    assert letter.webhook_id in filtered.content.decode()


def test_the_admin_lists_listeners_with_their_filters_in_words(admin_client_logged_in, redis_client):
    PersonHook().listener(url="https://client.test/hook").match(name=Startswith("J")).save()
    page = admin_client_logged_in.get("/admin/durian/listener/").content.decode()
    assert "https://client.test/hook" in page and "name starts with &#x27;J&#x27;" in page


def test_a_listener_change_reaches_the_next_event(worker, receiver):
    listener = PersonHook().listener(url=receiver.url).match(name="Joe").save()
    Person.objects.create(name="Ann")
    Person.objects.create(name="Joe")
    receiver.wait_for(1)
    listener.filters = {"name": {"op": "is", "value": "Ann"}}
    listener.save()
    Person.objects.create(name="Joe")
    Person.objects.create(name="Ann")
    receiver.wait_for(2)
    assert [b["name"] for b in receiver.bodies()] == ["Joe", "Ann"]


def test_a_deleted_listener_gets_nothing_more(worker, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    Person.objects.create(name="Joe")
    receiver.wait_for(1)
    listener.delete()
    keeper = PersonHook().listener(url=receiver.url + "/keeper").save()
    Person.objects.create(name="Ann")
    receiver.wait_for(2)
    assert [(r.path, r.json()["name"]) for r in receiver.delivered] == [("/hook", "Joe"), ("/hook/keeper", "Ann")]
    assert keeper.pk


class LocalPersonHook(ModelHook):
    name = "person-local"
    model = Person
    provides_args = ["name"]
    async_ = False


@pytest.fixture
def local_hook():
    hooks.register(LocalPersonHook)
    yield hooks["person-local"]
    hooks.unregister(LocalPersonHook)


def test_a_local_hook_delivers_in_the_calling_process_with_the_same_signature(local_hook, receiver, redis_client):
    listener = local_hook.listener(url=receiver.url).save()
    Person.objects.create(name="Joe")
    (request,) = receiver.wait_for(1, timeout=2)
    assert Webhook(listener.secret).verify(request.body, request.headers) == {"name": "Joe", "created": True}


def test_a_failing_local_delivery_never_breaks_the_request_and_is_kept(local_hook, receiver, redis_client):
    receiver.always(503)
    local_hook.listener(url=receiver.url).save()
    joe = Person.objects.create(name="Joe")
    assert joe.pk
    letter = DeadLetter.objects.get()
    assert (letter.hook, letter.last_status_code, letter.payload) == (
        "person-local",
        503,
        {"name": "Joe", "created": True},
    )


def test_a_local_hook_to_a_dead_port_logs_and_keeps_a_dead_letter(local_hook, redis_client, caplog):
    local_hook.listener(url="http://127.0.0.1:9/hook").save()
    Person.objects.create(name="Joe")
    letter = DeadLetter.objects.get()
    assert letter.last_status_code is None and letter.last_error == "connection refused by 127.0.0.1:9"
    assert "ConnectionError" in letter.last_error_detail  # the transport's own words, for staff
    assert any("127.0.0.1:9" in r.getMessage() for r in caplog.records)


def test_signatures_verify_with_the_standardwebhooks_package(worker, receiver):
    listener = PersonHook().listener(url=receiver.url).save()
    Person.objects.create(name="Joe", address="1 Main St")
    (request,) = receiver.wait_for(1)
    assert Webhook(listener.secret).verify(request.body, request.headers) == {
        "name": "Joe",
        "address": "1 Main St",
        "created": True,
    }
    other = Listener(hook="person", url=receiver.url)
    with pytest.raises(WebhookVerificationError):
        Webhook(other.secret).verify(request.body, request.headers)


def test_retry_selected_on_many_dead_letters_to_a_slow_endpoint_delivers_each_once_and_says_so(
    worker, receiver, admin_client_logged_in, redis_client
):
    from durian.core.event import Event
    from durian.core.outcome import Outcome
    from durian.storage import deadletters

    listener = PersonHook().listener(url=receiver.url).save()
    events = [Event(hook="person", payload={"name": f"P{i}", "address": "a"}) for i in range(60)]
    for event in events:
        deadletters.store(event, listener.pk, 3, Outcome(False, status_code=500, error="HTTP 500"))
    receiver.default.delay = 0.05  # a slow receiver: 3 s for the 60 in all
    response = admin_client_logged_in.post(
        "/admin/durian/deadletter/",
        {"action": "retry_selected", "_selected_action": list(DeadLetter.objects.values_list("pk", flat=True))},
        follow=True,
    )
    # Many rows go through the workers, not the admin's request (issue 13, point 20).
    assert "60 dead letter(s) queued for the workers" in response.content.decode()
    wait_until(lambda: not DeadLetter.objects.exclude(status=DeadLetter.Status.DELIVERED).exists(), 60)
    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(
        e.webhook_id(listener.pk) for e in events
    )
    assert not DeadLetter.objects.exclude(status=DeadLetter.Status.DELIVERED).exists()


def test_a_listener_s_own_retry_schedule_gives_its_attempts_at_those_delays(worker, receiver, settings):
    settings.DURIAN_RETRY_SCHEDULE = [0.1]  # the site's: 2 attempts, 0.1 s apart
    receiver.always(500)
    listener = PersonHook().listener(url=receiver.url, retry_schedule=[1, 2]).save()
    Person.objects.create(name="Joe")

    receiver.wait_for(3, delivered=False, timeout=30)  # 1 attempt + the listener's 2 retries
    wait_until(lambda: DeadLetter.objects.exists())
    assert DeadLetter.objects.get().attempts == 3
    assert listener.deliveries.count() == 3
    first, second, third = (r.at for r in receiver.requests)
    assert 0.9 <= second - first < 5  # its 1 s, not the site's 0.1 s (a loaded machine may add to it)
    assert 1.9 <= third - second < 6  # then its 2 s
