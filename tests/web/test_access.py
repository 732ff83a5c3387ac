"""Who reaches which page: sign-in, model permissions, ownership (IDOR) and CSRF, for every page and action."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from durian.models import DeadLetter, Listener

from .conftest import ALL, client_for, dead_letter

pytestmark = pytest.mark.django_db

#: Every page and action on one listener: (method, url name, permission it needs).
ON_A_LISTENER = [
    ("get", "durian:listener-edit", "change"),
    ("post", "durian:listener-edit", "change"),
    ("get", "durian:listener-secret", "view"),
    ("get", "durian:listener-delete", "delete"),
    ("post", "durian:listener-delete", "delete"),
    ("post", "durian:listener-pause", "change"),
    ("post", "durian:listener-resume", "change"),
    ("post", "durian:listener-rotate-secret", "change"),
    ("post", "durian:listener-test", "change"),
    ("get", "durian:listener-deliveries", "view"),
    ("post", "durian:dead-letter-retry", "change"),
]
#: Pages that are not about one listener.
GENERAL = [
    ("get", "durian:listener-list", "view"),
    ("get", "durian:select-event", "add"),
    ("get", "durian:listener-create", "add"),
    ("post", "durian:listener-create", "add"),
]
EVERYTHING = ON_A_LISTENER + GENERAL
POSTS = [e for e in EVERYTHING if e[0] == "post"]

FORM = {
    "url": "http://127.0.0.1:9/new",
    "description": "",
    "filter-name-op": "any",
    "filter-address-op": "any",
    "filter-created-op": "any",
}


def url_for(name: str, listener: Listener | None) -> str:
    if name == "durian:dead-letter-retry":
        letter = listener.dead_letters.first() or dead_letter(listener)
        return reverse(name, kwargs={"pk": listener.pk, "letter_pk": letter.pk})
    if name == "durian:listener-create":
        return reverse(name, kwargs={"hook": "person"})
    if name in ("durian:listener-list", "durian:select-event"):
        return reverse(name)
    return reverse(name, kwargs={"pk": listener.pk})


def call(client: Client, method: str, name: str, listener: Listener | None):
    url = url_for(name, listener)
    return client.post(url, FORM) if method == "post" else client.get(url)


def snapshot(listener: Listener) -> tuple:
    """What an action could change, to prove that nothing did."""
    row = Listener.objects.filter(pk=listener.pk).values_list("url", "state", "secret", "filters", "owner").first()
    letters = list(DeadLetter.objects.filter(listener_id=listener.pk).values_list("status", "attempts"))
    return row, letters, Listener.objects.count()


@pytest.mark.parametrize(("method", "name", "needs"), EVERYTHING)
def test_anonymous_visitors_are_sent_to_sign_in(method, name, needs, bobs_listener):
    dead_letter(bobs_listener)
    before = snapshot(bobs_listener)
    response = call(Client(), method, name, bobs_listener)
    assert response.status_code == 302
    assert "login" in response["Location"]
    assert snapshot(bobs_listener) == before


@pytest.mark.parametrize(("method", "name", "needs"), EVERYTHING)
def test_without_the_permission_a_page_answers_403_even_for_your_own_listener(method, name, needs, make_user):
    others = [a for a in ALL if a != needs and not (needs == "view" and a == "change")]
    user = make_user("carol", *others)
    own = Listener.objects.create(hook="person", url="http://127.0.0.1:9/c", owner=user)
    dead_letter(own)
    before = snapshot(own)
    assert call(client_for(user), method, name, own).status_code == 403
    assert snapshot(own) == before


@pytest.mark.parametrize(("method", "name", "needs"), ON_A_LISTENER)
def test_another_users_listener_id_answers_404_and_changes_nothing(method, name, needs, as_alice, bobs_listener):
    dead_letter(bobs_listener)
    before = snapshot(bobs_listener)
    response = call(as_alice, method, name, bobs_listener)
    assert response.status_code == 404
    assert b"bob" not in response.content
    assert snapshot(bobs_listener) == before


@pytest.mark.parametrize(("method", "name", "needs"), ON_A_LISTENER)
def test_a_listener_id_that_does_not_exist_answers_the_same_404(method, name, needs, as_alice, bobs_listener):
    dead_letter(bobs_listener)
    url = url_for(name, bobs_listener).replace(f"/{bobs_listener.pk}/", "/999999/")
    response = as_alice.post(url, FORM) if method == "post" else as_alice.get(url)
    assert response.status_code == 404


@pytest.mark.parametrize(("method", "name", "needs"), ON_A_LISTENER)
def test_staff_holding_the_permission_reach_every_listener(method, name, needs, make_user, bobs_listener):
    staff = make_user("sam", *ALL, staff=True)
    dead_letter(bobs_listener)
    assert call(client_for(staff), method, name, bobs_listener).status_code in (200, 302)


@pytest.mark.parametrize(("method", "name", "needs"), ON_A_LISTENER)
def test_staff_without_the_permission_get_403(method, name, needs, make_user, bobs_listener):
    staff = make_user("sam", staff=True)
    dead_letter(bobs_listener)
    before = snapshot(bobs_listener)
    assert call(client_for(staff), method, name, bobs_listener).status_code == 403
    assert snapshot(bobs_listener) == before


def test_users_see_only_their_own_listeners_and_staff_see_all_with_owners(
    as_alice, alices_listener, bobs_listener, make_user
):
    page = as_alice.get(reverse("durian:listener-list")).content.decode()
    assert alices_listener.url in page
    assert bobs_listener.url not in page
    assert "<h1>My listeners</h1>" in page

    staff_page = client_for(make_user("sam", "view", staff=True)).get(reverse("durian:listener-list")).content.decode()
    assert alices_listener.url in staff_page and bobs_listener.url in staff_page
    assert "<dt>Owner</dt><dd>bob</dd>" in staff_page


def test_a_superuser_is_staff_with_every_permission(bobs_listener):
    admin = User.objects.create_superuser("root", password="pw")
    page = client_for(admin).get(reverse("durian:listener-list")).content.decode()
    assert bobs_listener.url in page


def test_an_owner_posted_with_the_create_form_is_ignored(as_alice, alice, bob):
    response = as_alice.post(reverse("durian:listener-create", kwargs={"hook": "person"}), {**FORM, "owner": bob.pk})
    assert response.status_code == 302
    assert Listener.objects.get(url=FORM["url"]).owner == alice


def test_hook_owner_and_state_posted_with_the_edit_form_are_ignored(as_alice, alice, bob, alices_listener):
    data = {**FORM, "owner": bob.pk, "hook": "other", "state": "disabled", "secret": "whsec_x"}
    response = as_alice.post(reverse("durian:listener-edit", kwargs={"pk": alices_listener.pk}), data)
    assert response.status_code == 302
    listener = Listener.objects.get(pk=alices_listener.pk)
    assert (listener.owner, listener.hook, listener.state) == (alice, "person", "active")
    assert listener.secret == alices_listener.secret


def test_another_users_dead_letter_under_your_own_listener_id_answers_404(as_alice, alices_listener, bobs_listener):
    letter = dead_letter(bobs_listener)
    url = reverse("durian:dead-letter-retry", kwargs={"pk": alices_listener.pk, "letter_pk": letter.pk})
    assert as_alice.post(url).status_code == 404
    letter.refresh_from_db()
    assert (letter.status, letter.attempts) == ("dead", 3)


@pytest.mark.parametrize(("method", "name", "needs"), POSTS)
def test_posts_without_a_csrf_token_are_refused(method, name, needs, alice, alices_listener):
    dead_letter(alices_listener)
    before = snapshot(alices_listener)
    client = client_for(alice, enforce_csrf_checks=True)
    assert call(client, method, name, alices_listener).status_code == 403
    assert snapshot(alices_listener) == before


def test_posts_with_the_csrf_token_from_the_page_go_through(alice, alices_listener):
    client = client_for(alice, enforce_csrf_checks=True)
    client.get(reverse("durian:listener-list"))
    token = client.cookies["csrftoken"].value
    url = reverse("durian:listener-pause", kwargs={"pk": alices_listener.pk})
    assert client.post(url, {"csrfmiddlewaretoken": token}).status_code == 302
    assert Listener.objects.get(pk=alices_listener.pk).state == "paused"


ONE_CLICK_ACTIONS = [
    "durian:listener-pause",
    "durian:listener-resume",
    "durian:listener-rotate-secret",
    "durian:listener-test",
    "durian:dead-letter-retry",
]


@pytest.mark.parametrize("name", ONE_CLICK_ACTIONS)
def test_one_click_actions_refuse_get(name, as_alice, alices_listener):
    assert as_alice.get(url_for(name, alices_listener)).status_code == 405
