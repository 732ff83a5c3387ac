"""Rotating signing secrets from admin: each new secret is shown once, then only masked.

Pages are fetched through Django's test client with ``DEBUG = False`` (the test settings).
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from durian.models import Listener
from example_project.people.hooks import PersonHook

from .conftest import client_for, text

CHANGELIST = "/admin/durian/listener/"


@pytest.fixture
def as_staff(db):
    return client_for(User.objects.create_superuser("boss", "boss@example.com", "pw"))


@pytest.fixture
def listeners(alice, bob) -> list[Listener]:
    return [
        PersonHook().listener(url=f"https://client.test/{owner.username}/{i}", owner=owner).save()
        for i, owner in enumerate((alice, bob, alice))
    ]


def rotate(client, *selected: Listener):
    return client.post(CHANGELIST, {"action": "rotate_secrets", "_selected_action": [x.pk for x in selected]})


def current(listener: Listener) -> tuple[str, str]:
    fresh = Listener.objects.get(pk=listener.pk)
    return fresh.secret, fresh.previous_secret


@pytest.mark.parametrize("how_many", [1, 3])
def test_rotated_secrets_are_shown_once_then_only_masked(as_staff, listeners, how_many):
    chosen = listeners[:how_many]
    olds = [x.secret for x in chosen]
    response = rotate(as_staff, *chosen)
    assert response.status_code == 302
    assert not any(current(x)[0] in str(dict(as_staff.session)) for x in chosen)  # the session holds ids only
    page = text(as_staff.get(response["Location"]))
    assert f"{how_many} secret(s) rotated" in page and "shows them only once" in page
    for listener, old in zip(chosen, olds, strict=True):
        new, previous = current(listener)
        assert previous == old != new
        assert new in page and old not in page
        assert listener.display_url in page
    for untouched in listeners[how_many:]:
        assert untouched.secret not in page and current(untouched)[1] == ""

    again = text(as_staff.get(response["Location"]))  # a reload shows nothing
    assert "shown once" in again
    for listener in chosen:
        new, old = current(listener)
        assert new not in again
        change = text(as_staff.get(f"{CHANGELIST}{listener.pk}/change/"))
        assert new not in change and old not in change and f"whsec_…{new[-4:]}" in change
    assert not any(current(x)[0] in text(as_staff.get(CHANGELIST)) for x in chosen)


def test_the_rotated_secrets_page_shows_nothing_without_a_rotation(as_staff, listeners):
    page = text(as_staff.get(reverse("admin:durian_rotated_secrets")))
    assert "shown once" in page and not any(x.secret in page for x in listeners)


def test_staff_who_may_only_view_listeners_cannot_rotate_or_see_new_secrets(make_user, listeners):
    viewer = client_for(make_user("viewer", "view", staff=True))
    secrets = [x.secret for x in listeners]
    response = rotate(viewer, *listeners)
    assert response.status_code == 200  # the list again: the action is not offered to them
    assert [current(x)[0] for x in listeners] == secrets
    assert viewer.get(reverse("admin:durian_rotated_secrets")).status_code == 403


def test_another_staff_member_does_not_see_secrets_someone_else_rotated(as_staff, make_user, listeners):
    editor = client_for(make_user("editor", "view", "change", staff=True))
    response = rotate(as_staff, *listeners)
    page = text(editor.get(response["Location"]))
    assert not any(current(x)[0] in page for x in listeners)
    own = text(as_staff.get(response["Location"]))
    assert all(current(x)[0] in own for x in listeners)
