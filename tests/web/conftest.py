"""Fixtures for the web interface: users with chosen permissions, and their listeners."""

from __future__ import annotations

import html

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client

from durian.match import Startswith
from durian.models import DeadLetter, Listener
from example_project.people.hooks import PersonHook

ALL = ("view", "add", "change", "delete")


@pytest.fixture
def make_user(db):
    """``make_user("alice", "view", "change", staff=False)``: a user holding those listener permissions."""

    def make(name: str, *actions: str, staff: bool = False, extra: tuple[str, ...] = ()) -> User:
        user = User.objects.create_user(name, password="pw", is_staff=staff)
        codenames = [f"{a}_listener" for a in actions] + list(extra)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        return user

    return make


@pytest.fixture
def alice(make_user) -> User:
    return make_user("alice", *ALL)


@pytest.fixture
def bob(make_user) -> User:
    return make_user("bob", *ALL)


@pytest.fixture
def alices_listener(alice) -> Listener:
    return PersonHook().listener(url="http://127.0.0.1:9/alice", owner=alice).match(name=Startswith("A")).save()


@pytest.fixture
def bobs_listener(bob) -> Listener:
    return PersonHook().listener(url="http://127.0.0.1:9/bob", owner=bob).match(name=Startswith("B")).save()


def client_for(user: User, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


@pytest.fixture
def as_alice(alice) -> Client:
    return client_for(alice)


def dead_letter(listener: Listener, **fields) -> DeadLetter:
    """A dead letter of ``listener``: three failed attempts, HTTP 500 (``fields`` override)."""
    values = {
        "hook": "person",
        "event_id": "e1",
        "webhook_id": f"msg_e1_{listener.pk}",
        "payload": {"name": "X"},
        "attempts": 3,
        "last_status_code": 500,
        "last_error": "HTTP 500",
        **fields,
    }
    return DeadLetter.objects.create(listener=listener, **values)


def text(response) -> str:
    """A page as a user reads it (entities decoded); the page must have answered 200."""
    assert response.status_code == 200, response.status_code
    return html.unescape(response.content.decode())


@pytest.fixture
def staff(db) -> User:
    """A superuser: staff who see and change every listener."""
    return User.objects.create_superuser("boss", "boss@example.com", "pw")
