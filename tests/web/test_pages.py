"""What a signed-in user sees and does on each page, with Django's test client."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from standardwebhooks import Webhook

from durian.models import Delivery, Listener

from .conftest import client_for, dead_letter

pytestmark = pytest.mark.django_db

CREATE = reverse("durian:listener-create", kwargs={"hook": "person"})


def page(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def test_select_event_lists_every_hook_with_description_and_fields(as_alice):
    html = page(as_alice.get(reverse("durian:select-event")))
    assert "<h1>Select an event</h1>" in html
    assert "<code>person</code>" in html
    assert "A person was created or changed." in html
    for field, kind in (("name", "string"), ("address", "string"), ("created", "boolean")):
        assert f'<tr><th scope="row"><code>{field}</code></th><td>{kind}</td></tr>' in html
    assert f'href="{CREATE}"' in html


def test_an_unknown_event_answers_404(as_alice):
    assert as_alice.get(reverse("durian:listener-create", kwargs={"hook": "nope"})).status_code == 404


def test_the_create_page_has_a_labelled_input_for_every_control(as_alice):
    html = page(as_alice.get(CREATE))
    ids = re.findall(r'<(?:input|select)[^>]*\bid="([^"]+)"', html)
    assert ids, html
    for control in ids:
        assert f'for="{control}"' in html, control
    assert "<legend>Filters</legend>" in html


def test_creating_a_listener_shows_its_secret_once_with_how_to_verify(as_alice, alice):
    response = as_alice.post(
        CREATE,
        {
            "url": "https://client.test/hooks",
            "description": "CRM sync",
            "filter-name-op": "startswith",
            "filter-name-value": "J",
            "filter-address-op": "any",
            "filter-created-op": "any",
        },
    )
    listener = Listener.objects.get()
    assert response["Location"] == reverse("durian:listener-secret", kwargs={"pk": listener.pk})
    assert (listener.owner, listener.hook, listener.description) == (alice, "person", "CRM sync")
    assert listener.describe_filters() == "name starts with 'J'"

    first = page(as_alice.get(response["Location"]))
    assert listener.secret in first
    assert "webhook-signature" in first and "Webhook(secret).verify" in first
    second = page(as_alice.get(response["Location"]))
    assert listener.secret not in second
    assert "shown once" in second


def test_errors_are_shown_inline_and_nothing_is_saved(as_alice):
    html = page(
        as_alice.post(
            CREATE,
            {
                "url": "nope",
                "filter-name-op": "like",
                "filter-name-value": "(",
                "filter-address-op": "any",
                "filter-created-op": "any",
            },
        )
    )
    assert Listener.objects.count() == 0
    assert 'role="alert"' in html
    assert re.search(r'id="id_url_errors"><li>Enter a valid URL.</li>', html)
    assert re.search(r'id="id_filter-name-value_errors"><li>Invalid regular expression for &#x27;name&#x27;', html)
    assert 'value="("' in html  # what the user typed is kept


def test_the_list_shows_hook_url_filters_state_and_health(as_alice, alices_listener):
    success = datetime.datetime(2026, 5, 4, 3, 2, 1, tzinfo=datetime.UTC)
    Listener.objects.filter(pk=alices_listener.pk).update(consecutive_failures=3, last_success_at=success)
    html = page(as_alice.get(reverse("durian:listener-list")))
    assert "<code>person</code>" in html and alices_listener.url in html
    assert "name starts with &#x27;A&#x27;" in html
    assert '<span class="badge active health-failing">active · failing</span>' in html  # 3 failures in a row: red
    assert timezone.localtime(success).strftime("%Y-%m-%d %H:%M:%S") in html
    assert "<dt>Failures in a row</dt><dd>3</dd>" in html
    for action in ("Deliveries", "Edit", "Pause", "Send test event", "Rotate secret", "Delete"):
        assert f">{action}<" in html


def test_without_change_and_delete_permissions_the_list_offers_no_actions(make_user):
    viewer = make_user("vic", "view")
    Listener.objects.create(hook="person", url="http://127.0.0.1:9/v", owner=viewer)
    html = page(client_for(viewer).get(reverse("durian:listener-list")))
    assert ">Deliveries<" in html
    for action in ("Edit", "Pause", "Send test event", "Rotate secret", "Delete", "New listener"):
        assert f">{action}<" not in html


def test_editing_changes_url_and_filters_but_not_state_or_health(as_alice, alices_listener):
    Listener.objects.filter(pk=alices_listener.pk).update(consecutive_failures=2, state="paused")
    response = as_alice.post(
        reverse("durian:listener-edit", kwargs={"pk": alices_listener.pk}),
        {
            "url": "https://client.test/new",
            "description": "d",
            "filter-name-op": "any",
            "filter-address-op": "contains",
            "filter-address-value": "Main",
            "filter-created-op": "is",
            "filter-created-value": "false",
        },
    )
    assert response.status_code == 302
    listener = Listener.objects.get(pk=alices_listener.pk)
    assert listener.url == "https://client.test/new"
    assert listener.describe_filters() == "address contains 'Main' and created is False"
    assert (listener.state, listener.consecutive_failures) == ("paused", 2)
    assert f"Listener {listener.pk} saved." in page(as_alice.get(reverse("durian:listener-list")))


def test_pause_and_resume(as_alice, alices_listener):
    as_alice.post(reverse("durian:listener-pause", kwargs={"pk": alices_listener.pk}))
    alices_listener.refresh_from_db()
    assert alices_listener.state == "paused"
    html = page(as_alice.get(reverse("durian:listener-list")))
    assert '<span class="badge paused health-paused">paused</span>' in html and ">Resume<" in html

    as_alice.post(reverse("durian:listener-resume", kwargs={"pk": alices_listener.pk}))
    alices_listener.refresh_from_db()
    assert alices_listener.state == "active"


def test_resuming_a_disabled_listener_clears_its_failure_count(as_alice, alices_listener):
    Listener.objects.filter(pk=alices_listener.pk).update(
        state="disabled", consecutive_failures=9, failing_since=timezone.now(), disabled_reason="HTTP 410 Gone"
    )
    assert "HTTP 410 Gone" in page(as_alice.get(reverse("durian:listener-list")))
    as_alice.post(reverse("durian:listener-resume", kwargs={"pk": alices_listener.pk}))
    listener = Listener.objects.get(pk=alices_listener.pk)
    assert (listener.state, listener.consecutive_failures, listener.failing_since, listener.disabled_reason) == (
        "active",
        0,
        None,
        "",
    )


def test_delete_asks_first_then_deletes_on_post(as_alice, alices_listener):
    url = reverse("durian:listener-delete", kwargs={"pk": alices_listener.pk})
    html = page(as_alice.get(url))
    assert f"Delete listener {alices_listener.pk}?" in html and 'method="post"' in html
    assert Listener.objects.filter(pk=alices_listener.pk).exists()
    assert as_alice.post(url)["Location"] == reverse("durian:listener-list")
    assert not Listener.objects.filter(pk=alices_listener.pk).exists()


def test_rotating_the_secret_shows_the_new_one_once_and_keeps_the_old_one_for_a_day(as_alice, alices_listener):
    old = alices_listener.secret
    response = as_alice.post(reverse("durian:listener-rotate-secret", kwargs={"pk": alices_listener.pk}))
    listener = Listener.objects.get(pk=alices_listener.pk)
    assert listener.secret != old and listener.previous_secret == old
    left = listener.previous_secret_expires_at - timezone.now()
    assert datetime.timedelta(hours=23) < left <= datetime.timedelta(hours=24)
    assert listener.secrets() == [listener.secret, old]
    html = page(as_alice.get(response["Location"]))
    assert listener.secret in html and "previous secret also signs" in html


def test_send_test_event_delivers_a_signed_sample_and_shows_status_and_timing(as_alice, alice, receiver):
    listener = Listener.objects.create(
        hook="person", url=receiver.url, owner=alice, filters={"name": {"op": "startswith", "value": "J"}}
    )
    html = page(as_alice.post(reverse("durian:listener-test", kwargs={"pk": listener.pk})))
    [request] = receiver.wait_for(1)
    body = Webhook(listener.secret).verify(request.body, request.headers)
    assert body == {"name": "Jexample", "address": "sample address", "created": True}
    assert re.search(r"<strong>Delivered</strong>: HTTP 200 in \d+ ms", html)
    assert request.headers["webhook-id"] in html
    assert Delivery.objects.count() == 0  # a test is not part of the history


def test_send_test_event_shows_staff_a_failing_status_and_what_the_receiver_answered(make_user, receiver):
    staff = make_user("sam", "view", "change", staff=True)
    receiver.respond(503, body=b"down for maintenance")
    listener = Listener.objects.create(hook="person", url=receiver.url, owner=staff)
    html = page(client_for(staff).post(reverse("durian:listener-test", kwargs={"pk": listener.pk})))
    assert re.search(r"<strong>Failed</strong>: HTTP 503 in \d+ ms", html)
    assert "down for maintenance" in html


def test_send_test_event_to_an_allowed_internal_network_shows_a_client_only_the_status(as_alice, alice, receiver):
    # loopback is inside DURIAN_ALLOWED_NETWORKS in the test settings: an "internal" receiver
    receiver.respond(503, body=b"internal admin page")
    listener = Listener.objects.create(hook="person", url=receiver.url, owner=alice)
    html = page(as_alice.post(reverse("durian:listener-test", kwargs={"pk": listener.pk})))
    assert re.search(r"<strong>Failed</strong>: HTTP 503 in \d+ ms", html)
    assert "internal admin page" not in html


def test_deliveries_page_shows_deliveries_and_dead_letters_paginated(as_alice, alices_listener):
    Delivery.objects.bulk_create(
        Delivery(
            listener=alices_listener,
            hook="person",
            event_id=f"e{i}",
            webhook_id=f"msg_e{i}_{alices_listener.pk}",
            ok=i % 2 == 0,
            status_code=200 if i % 2 == 0 else 500,
            error="" if i % 2 == 0 else "HTTP 500",
            duration_ms=i,
            created_at=timezone.now() - datetime.timedelta(minutes=i),
        )
        for i in range(30)
    )
    dead_letter(
        alices_listener,
        event_id="d1",
        webhook_id="msg_d1",
        attempts=8,
        last_status_code=502,
        last_error="HTTP 502 Bad Gateway",
    )
    url = reverse("durian:listener-deliveries", kwargs={"pk": alices_listener.pk})
    first = page(as_alice.get(url))
    assert first.count("<code>msg_e") == 25
    assert "msg_e0_" in first and "msg_e29_" not in first
    assert "Page 1 of 2" in first and "?page=2&amp;dead_page=1" in first
    # a receiver on loopback (an allowed internal network): a client sees its status only, not its reason
    assert (
        "HTTP 502" in first
        and "Bad Gateway" not in first
        and ">Retry<" in first
        and '<td data-label="Attempts">8</td>' in first
    )
    second = page(as_alice.get(url + "?page=2"))
    assert second.count("<code>msg_e") == 5 and "msg_e29_" in second


def test_retrying_a_dead_letter_delivers_it_and_says_so(as_alice, alice, receiver):
    listener = Listener.objects.create(hook="person", url=receiver.url, owner=alice)
    letter = dead_letter(listener, payload={"name": "Joe"}, attempts=8)
    response = as_alice.post(reverse("durian:dead-letter-retry", kwargs={"pk": listener.pk, "letter_pk": letter.pk}))
    assert response["Location"] == reverse("durian:listener-deliveries", kwargs={"pk": listener.pk})
    [request] = receiver.wait_for(1)
    assert request.json() == {"name": "Joe"}
    letter.refresh_from_db()
    assert (letter.status, letter.attempts) == ("delivered", 9)
    html = page(as_alice.get(response["Location"]))
    assert f"Dead letter {letter.webhook_id} delivered (HTTP 200)." in html
    assert ">Retry<" not in html


def test_every_page_extends_the_overridable_base_template(as_alice, alices_listener):
    pk = alices_listener.pk
    urls = [
        reverse("durian:listener-list"),
        reverse("durian:select-event"),
        CREATE,
        reverse("durian:listener-edit", kwargs={"pk": pk}),
        reverse("durian:listener-secret", kwargs={"pk": pk}),
        reverse("durian:listener-delete", kwargs={"pk": pk}),
        reverse("durian:listener-deliveries", kwargs={"pk": pk}),
    ]
    for url in urls:
        response = as_alice.get(url)
        assert "durian/base.html" in [t.name for t in response.templates], url
        html = page(response)
        assert html.count("<h1") == 1, url
        assert '<main id="content"' in html and "durian/durian.css" in html
