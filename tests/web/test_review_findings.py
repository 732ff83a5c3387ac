"""What a newcomer and a security review tripped over: each test is one finding, seen as a user sees it.

Pages are fetched through Django's test client with ``DEBUG = False`` (the test settings), so an
exception shows as a 500, never as a debug page.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.urls import reverse

from durian.conf import settings as durian_settings
from durian.core import sealing
from durian.core.signing import generate_secret
from durian.match import Startswith
from durian.models import DeadLetter, Listener
from durian.storage import listener_cache
from example_project.people.hooks import PersonHook

from .conftest import client_for, dead_letter, text


@pytest.fixture
def as_staff(staff):
    return client_for(staff)


# -- 1. bad filters in the admin form -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ('{"name": {"op": "like", "value": "("}}', "name: "),
        ('{"secret": {"op": "is", "value": "x"}}', "secret: Hook 'person' has no field 'secret'"),
        ("[1, 2]", "Filters must be a JSON object"),
    ],
)
def test_admin_add_listener_with_bad_filters_shows_the_error_on_the_form(as_staff, filters, message):
    response = as_staff.post(
        "/admin/durian/listener/add/",
        {"hook": "person", "url": "https://client.test/hook", "filters": filters, "state": "active"},
    )
    assert message in text(response)
    assert not Listener.objects.exists()


# -- 2. a stored listener whose filters no longer parse --------------------------------------------------


@pytest.fixture
def broken(alice) -> Listener:
    return Listener.objects.create(
        hook="person", url="https://client.test/hook", owner=alice, filters={"name": {"op": "bogus"}}
    )


def test_a_listener_with_broken_filters_is_listed_as_broken_in_admin_and_on_the_pages(as_staff, broken):
    assert "broken filters" in text(as_staff.get("/admin/durian/listener/"))
    assert "Broken filters" in text(as_staff.get(reverse("durian:listener-list")))
    assert "broken filters" in text(as_staff.get(f"/admin/durian/listener/{broken.pk}/change/"))


def test_a_listener_with_broken_filters_can_be_edited_and_deleted(as_alice, broken):
    edit = reverse("durian:listener-edit", kwargs={"pk": broken.pk})
    assert "stored filters are broken" in text(as_alice.get(edit))
    response = as_alice.post(
        edit,
        {
            "url": broken.url,
            "description": "",
            "filter-name-op": "startswith",
            "filter-name-value": "J",
            "filter-address-op": "any",
            "filter-address-value": "",
            "filter-created-op": "any",
            "filter-created-value": "",
        },
    )
    assert response.status_code == 302
    broken.refresh_from_db()
    assert broken.describe_filters() == "name starts with 'J'"
    response = as_alice.post(reverse("durian:listener-delete", kwargs={"pk": broken.pk}))
    assert response.status_code == 302 and not Listener.objects.exists()


# -- 3. a listener whose hook was removed from the code ----------------------------------------------------


@pytest.fixture
def orphan(alice) -> Listener:
    return Listener.objects.create(hook="dropped", url="https://client.test/old", owner=alice)


def test_a_listener_whose_hook_is_gone_is_shown_so_and_sends_no_test_event(as_alice, orphan):
    listing = text(as_alice.get(reverse("durian:listener-list")))
    assert "Hook no longer exists" in listing
    response = as_alice.post(reverse("durian:listener-test", kwargs={"pk": orphan.pk}), follow=True)
    assert "no longer exists on this site: nothing was sent" in text(response)


def test_a_listener_whose_hook_is_gone_keeps_its_url_editable_and_can_be_deleted(as_alice, orphan):
    edit = reverse("durian:listener-edit", kwargs={"pk": orphan.pk})
    assert "no longer exists on this site" in text(as_alice.get(edit))
    response = as_alice.post(edit, {"url": "https://client.test/new", "description": "kept"})
    assert response.status_code == 302
    orphan.refresh_from_db()
    assert (orphan.url, orphan.description) == ("https://client.test/new", "kept")
    assert as_alice.post(reverse("durian:listener-delete", kwargs={"pk": orphan.pk})).status_code == 302


def test_admin_edits_the_url_and_state_of_a_listener_whose_hook_is_gone(as_staff, orphan):
    response = as_staff.post(
        f"/admin/durian/listener/{orphan.pk}/change/",
        {
            "hook": "dropped",
            "url": "https://client.test/moved",
            "filters": "{}",
            "state": "paused",
            "description": "",
            "owner": "",
            "payload_format": "flat",  # every field the admin form posts
        },
    )
    assert response.status_code == 302, text(response)
    orphan.refresh_from_db()
    assert (orphan.url, orphan.state) == ("https://client.test/moved", "paused")


# -- 4. form gaps ---------------------------------------------------------------------------------------------


def _create(client, **fields):
    data = {
        "url": "https://client.test/hook",
        "description": "",
        **{f"filter-{n}-op": "any" for n in ("name", "address", "created")},
        **{f"filter-{n}-value": "" for n in ("name", "address", "created")},
        **fields,
    }
    return client.post(reverse("durian:listener-create", kwargs={"hook": "person"}), data)


@pytest.mark.parametrize("url", ["not a url", "javascript:alert(1)"])
def test_a_bad_url_is_refused_with_one_message(as_alice, url):
    page = text(_create(as_alice, url=url))
    assert page.count("Enter a valid URL.") == 1


def test_a_url_too_long_is_refused_with_a_message_not_cut(as_alice):
    long_url = "https://client.test/" + "a" * 3000
    form_page = text(as_alice.get(reverse("durian:listener-create", kwargs={"hook": "person"})))
    assert 'maxlength="2000"' not in form_page
    assert "at most 2000 characters" in text(_create(as_alice, url=long_url))
    assert not Listener.objects.exists()


def test_a_pattern_too_long_is_refused_with_a_message_not_cut(as_alice):
    page = text(_create(as_alice, **{"filter-name-op": "like", "filter-name-value": "a" * 3000}))
    assert "at most 1000 characters" in page
    assert not Listener.objects.exists()


def test_a_boolean_field_offers_only_the_matchers_that_fit_it(as_alice):
    page = text(as_alice.get(reverse("durian:listener-create", kwargs={"hook": "person"})))
    created = page.split('name="filter-created-op"')[1].split("</select>")[0]
    assert "starts with" not in created and "is" in created
    name = page.split('name="filter-name-op"')[1].split("</select>")[0]
    assert "starts with" in name


def test_a_tampered_matcher_is_marked_next_to_its_field(as_alice):
    page = text(_create(as_alice, **{"filter-name-op": "bogus", "filter-name-value": "x"}))
    assert "Please correct the errors marked below." in page
    assert "Select a valid choice. bogus is not one of the available choices." in page


def test_the_python_api_refuses_an_empty_prefix_like_the_page():
    with pytest.raises(ValidationError, match="cannot be empty"):
        PersonHook().listener(url="https://client.test/hook").match(name=Startswith(""))


# -- 5. passwords in listener URLs ------------------------------------------------------------------------


def test_a_password_in_a_listener_url_is_masked_everywhere_it_is_shown(as_staff, alice, caplog, redis_client):
    listener = Listener.objects.create(hook="person", url="https://bob:hunter2@client.test/hook", owner=alice)
    DeadLetter.objects.create(listener=listener, hook="person", event_id="e", webhook_id="w", payload={})
    Listener.objects.filter(pk=listener.pk).update(state="disabled")
    for url in (
        reverse("durian:listener-list"),
        "/admin/durian/listener/",
        f"/admin/durian/listener/{listener.pk}/change/",
    ):
        page = text(as_staff.get(url))
        assert "hunter2" not in page and "bob:***@client.test" in page
    from io import StringIO

    out = StringIO()
    call_command("durian_status", stdout=out)
    assert "hunter2" not in out.getvalue() and "bob:***@client.test" in out.getvalue()
    listener.refresh_from_db()
    assert listener.url == "https://bob:hunter2@client.test/hook"  # kept for delivery (Basic auth)


def test_saving_a_form_that_showed_the_password_masked_keeps_the_password(as_alice, alice, as_staff):
    listener = Listener.objects.create(hook="person", url="https://bob:hunter2@client.test/hook", owner=alice)
    edit = reverse("durian:listener-edit", kwargs={"pk": listener.pk})
    page = text(as_alice.get(edit))
    assert "hunter2" not in page and "https://bob:***@client.test/hook" in page
    rows = {
        f"filter-{n}-{k}": "any" if k == "op" else "" for n in ("name", "address", "created") for k in ("op", "value")
    }
    data = {"url": "https://bob:***@client.test/hook", "description": "edited", **rows}
    assert as_alice.post(edit, data).status_code == 302
    listener.refresh_from_db()
    assert (listener.url, listener.description) == ("https://bob:hunter2@client.test/hook", "edited")
    # a new host never gets the old password, and *** is never saved as one: the form asks for it
    refused = text(as_alice.post(edit, {**data, "url": "https://bob:***@elsewhere.test/hook"}))
    assert "The host changed: type the password again" in refused
    listener.refresh_from_db()
    assert listener.url == "https://bob:hunter2@client.test/hook"
    change = f"/admin/durian/listener/{listener.pk}/change/"
    Listener.objects.filter(pk=listener.pk).update(url="https://bob:hunter2@client.test/hook")
    response = as_staff.post(
        change, {"hook": "person", "url": "https://bob:***@client.test/hook", "filters": "{}", "state": "active",
                 "description": "", "owner": alice.pk, "payload_format": "flat"},
    )  # fmt: skip
    assert response.status_code == 302
    listener.refresh_from_db()
    assert listener.url == "https://bob:hunter2@client.test/hook"


def test_a_password_in_a_listener_url_is_masked_in_delivery_log_lines(alice, caplog):
    from durian.core.event import Event
    from durian.transport import delivery

    with caplog.at_level(logging.INFO, logger="durian.delivery"):
        delivery.attempt(
            Event(hook="person", payload={}), 1, "http://bob:hunter2@127.0.0.1:9/hook", [generate_secret()]
        )
    assert "hunter2" not in caplog.text and "bob:***@127.0.0.1:9" in caplog.text


# -- 12. short human reasons ---------------------------------------------------------------------------------


def test_a_client_sees_a_short_reason_and_staff_keep_the_technical_detail(as_alice, alice, as_staff, redis_client):
    from durian.core.event import Event
    from durian.pipeline import attempts

    listener = Listener.objects.create(hook="person", url="http://127.0.0.1:9/hook", owner=alice)
    attempts.run(
        [attempts.Attempt(Event(hook="person", payload={}), listener_cache.view(listener))],
        "now",
        refusing=False,
        client=redis_client,
    )
    # seen as for a public receiver (one on an allowed internal network shows a client its status only)
    with override_settings(DURIAN_ALLOWED_NETWORKS=[]):
        page = text(as_alice.get(reverse("durian:listener-deliveries", kwargs={"pk": listener.pk})))
    assert "connection refused by 127.0.0.1:9" in page
    assert "Max retries" not in page and "NewConnectionError" not in page
    [record] = listener.deliveries.all()
    assert "NewConnectionError" in record.error_detail or "Connection refused" in record.error_detail
    assert record.error_detail in text(as_staff.get(f"/admin/durian/delivery/{record.pk}/change/"))


def test_a_tls_certificate_for_another_host_reads_as_such():
    import ssl

    import requests

    from durian.transport.bounded import reason

    cert = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] Hostname mismatch, certificate is not valid"
    )
    exc = requests.exceptions.SSLError(cert)
    assert reason(exc, "https://client.test/hook", (5, 15)) == "TLS certificate not valid for host client.test:443"
    assert reason(requests.ReadTimeout(), "https://client.test/hook", (5, 15)) == (
        "timed out after 15 s waiting for client.test:443"
    )


# -- 13. a dead letter delivered on retry --------------------------------------------------------------------


def test_a_dead_letter_delivered_on_retry_says_which_attempt_each_part_belongs_to(as_alice, alices_listener):
    dead_letter(alices_listener, status="delivered", attempts=4, last_status_code=200, last_error="HTTP 500")
    page = text(as_alice.get(reverse("durian:listener-deliveries", kwargs={"pk": alices_listener.pk})))
    assert "HTTP 200 on attempt 4" in page and "attempt 3 and before: HTTP 500" in page


# -- 15. filters help ---------------------------------------------------------------------------------------


def test_the_admin_filters_field_explains_its_json_format(as_staff):
    assert '{"name": {"op": "startswith", "value": "J"}}' in text(as_staff.get("/admin/durian/listener/add/"))


# -- 16. dead letters in admin ----------------------------------------------------------------------------


def test_the_admin_dead_letter_page_has_a_retry_button_and_no_save(as_staff, alices_listener, receiver):
    alices_listener.url = receiver.url
    alices_listener.save()
    letter = dead_letter(alices_listener)
    page = text(as_staff.get(f"/admin/durian/deadletter/{letter.pk}/change/"))
    assert 'name="_retry"' in page and 'name="_save"' not in page
    response = as_staff.post(f"/admin/durian/deadletter/{letter.pk}/change/", {"_retry": "Retry now"})
    assert response.status_code == 302
    letter.refresh_from_db()
    assert letter.status == DeadLetter.Status.DELIVERED


def test_the_admin_listener_filter_is_a_box_not_a_list_of_every_url(as_staff, alice):
    listeners = Listener.objects.bulk_create(
        Listener(hook="person", url=f"https://client.test/{'x' * 200}/{i}", owner=alice) for i in range(50)
    )
    for listener in listeners[:2]:
        dead_letter(listener, webhook_id=f"msg_dead_letter_of_listener_{listener.pk}_")
    page = text(as_staff.get("/admin/durian/deadletter/"))
    sidebar = page.split('id="changelist-filter"')[1].split("</nav>")[0]
    assert "x" * 200 not in sidebar and 'name="listener"' in sidebar
    filtered = text(as_staff.get(f"/admin/durian/deadletter/?listener={listeners[0].pk}"))
    assert f"msg_dead_letter_of_listener_{listeners[0].pk}_" in filtered
    assert f"msg_dead_letter_of_listener_{listeners[1].pk}_" not in filtered


# -- 17 and 18. signing secrets -------------------------------------------------------------------------------


def test_the_admin_shows_a_listener_secret_masked(as_staff, alices_listener):
    page = text(as_staff.get(f"/admin/durian/listener/{alices_listener.pk}/change/"))
    assert alices_listener.secret not in page
    assert f"whsec_…{alices_listener.secret[-4:]}" in page


def test_rotating_one_secret_from_admin_shows_the_new_secret_once(as_staff, alices_listener):
    response = as_staff.post(
        "/admin/durian/listener/", {"action": "rotate_secrets", "_selected_action": [alices_listener.pk]}, follow=True
    )
    alices_listener.refresh_from_db()
    assert alices_listener.secret in text(response)
    again = as_staff.get(reverse("durian:listener-secret", kwargs={"pk": alices_listener.pk}))
    assert alices_listener.secret not in text(again)


def _stored_secrets(listener: Listener) -> tuple[str, str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret, previous_secret FROM durian_listener WHERE id = %s", [listener.pk])
        return cursor.fetchone()


def test_secrets_are_sealed_in_the_database_and_in_the_listener_cache(alices_listener, redis_client):
    alices_listener.rotate_secret()
    stored = _stored_secrets(alices_listener)
    assert all(sealing.is_sealed(s) for s in stored)
    assert alices_listener.secret not in "".join(stored) and alices_listener.previous_secret not in "".join(stored)
    listener_cache.rebuild(redis_client)
    cached = redis_client.hget(f"{durian_settings.KEY_PREFIX}:listeners", str(alices_listener.pk)).decode()
    assert alices_listener.secret not in cached and alices_listener.previous_secret not in cached
    assert Listener.objects.get(pk=alices_listener.pk).secret == alices_listener.secret


def test_keys_rotate_old_tokens_still_open_and_reseal_moves_them_to_the_new_key(alices_listener):
    plain = alices_listener.secret
    with override_settings(DURIAN_SECRET_KEYS=["old key " * 4]):
        alices_listener.secret = plain  # a listener keeps its secret sealed: assigning seals with the newest key
        alices_listener.save()
        sealed_old = _stored_secrets(alices_listener)[0]
    with override_settings(DURIAN_SECRET_KEYS=["new key " * 4, "old key " * 4]):
        assert Listener.objects.get(pk=alices_listener.pk).secret == plain
        call_command("durian_reseal", stdout=open("/dev/null", "w"))  # noqa: SIM115
        assert _stored_secrets(alices_listener)[0] != sealed_old
    with override_settings(DURIAN_SECRET_KEYS=["new key " * 4]):
        assert Listener.objects.get(pk=alices_listener.pk).secret == plain


def test_the_migration_seals_plain_secrets_of_existing_rows(alices_listener):
    from importlib import import_module

    from django.apps import apps

    plain = alices_listener.secret
    with connection.cursor() as cursor:
        cursor.execute("UPDATE durian_listener SET secret = %s WHERE id = %s", [plain, alices_listener.pk])
    assert Listener.objects.get(pk=alices_listener.pk).secret == plain  # a plain row still reads
    migration = import_module("durian.migrations.0005_secrets_at_rest")
    migration.seal_rows(apps, SimpleNamespace(connection=connection))
    assert sealing.is_sealed(_stored_secrets(alices_listener)[0])
    assert Listener.objects.get(pk=alices_listener.pk).secret == plain


# -- 19. listeners per user ---------------------------------------------------------------------------------


@override_settings(DURIAN_MAX_LISTENERS_PER_USER=2)
def test_a_user_cannot_make_more_listeners_than_the_cap_but_staff_can(as_alice, alice, as_staff, staff):
    for _ in range(2):
        assert _create(as_alice).status_code == 302
    assert "You already have 2 listeners" in text(_create(as_alice))
    assert Listener.objects.filter(owner=alice).count() == 2
    for _ in range(3):
        assert _create(as_staff).status_code == 302


# -- 20. test sends: short timeout, rate limit -------------------------------------------------------------


@override_settings(DURIAN_TEST_SEND_TIMEOUT=0.5)
def test_a_test_event_to_a_dripping_receiver_gives_up_after_the_short_timeout(as_alice, alice, receiver):
    receiver.respond(200, delay=5)
    listener = Listener.objects.create(hook="person", url=receiver.url, owner=alice)
    page = text(as_alice.post(reverse("durian:listener-test", kwargs={"pk": listener.pk})))
    assert "Failed" in page


@override_settings(DURIAN_TEST_SEND_RATE=2)
def test_test_events_are_rate_limited_per_user(as_alice, alice, receiver, redis_client):
    listener = Listener.objects.create(hook="person", url=receiver.url, owner=alice)
    url = reverse("durian:listener-test", kwargs={"pk": listener.pk})
    assert as_alice.post(url).status_code == 200
    assert as_alice.post(url).status_code == 200
    assert "Too many test events this minute" in text(as_alice.post(url, follow=True))
    assert len(receiver.wait_for(2)) == 2


def test_retrying_many_dead_letters_from_admin_goes_through_the_workers(worker, receiver, staff):
    listener = Listener.objects.create(hook="person", url=receiver.url)
    letters = [dead_letter(listener, event_id=f"e{i}", webhook_id=f"w{i}") for i in range(8)]
    response = client_for(staff).post(
        "/admin/durian/deadletter/",
        {"action": "retry_selected", "_selected_action": [x.pk for x in letters]},
        follow=True,
    )
    assert "8 dead letter(s) queued for the workers" in text(response)
    receiver.wait_for(8, timeout=30)
    import time

    deadline = time.monotonic() + 30
    while DeadLetter.objects.filter(status="dead").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not DeadLetter.objects.filter(status="dead").exists()


# -- 21. control characters -------------------------------------------------------------------------------------


def test_a_url_with_control_characters_is_refused(as_alice):
    page = text(_create(as_alice, url="https://client.test/\x1b[31mred\x07"))
    assert "control characters" in page or "Enter a valid URL." in page
    with pytest.raises(ValidationError, match="control characters"):
        PersonHook().listener(url="https://client.test/a\x1b]0;x\x07b").save()


def test_a_receiver_reason_phrase_with_escapes_reaches_the_log_escaped(alice, caplog, receiver):
    from durian.core.event import Event
    from durian.storage import deadletters
    from durian.transport import delivery

    outcome = delivery.post(receiver.url, b"{}", {})
    evil = type(outcome)(False, 500, "HTTP 500 \x1b[2J\x07gotcha")
    listener = Listener.objects.create(hook="person", url=receiver.url, owner=alice)
    with caplog.at_level(logging.INFO):
        deadletters.store(Event(hook="person", payload={}), listener.pk, 8, evil)
    assert "\x1b" not in caplog.text and "\\x1b[2J\\x07gotcha" in caplog.text
