"""The README's Person walk-through, end to end: signal, stream, worker, receiver."""

import json

import pytest
from standardwebhooks import Webhook

from durian.match import Startswith
from example_project.people.hooks import PersonHook
from example_project.people.models import Person

pytestmark = pytest.mark.django_db(transaction=True)


def test_three_listeners_get_exactly_the_events_they_asked_for(worker, receiver):
    joe = PersonHook().listener(url=receiver.url + "/joe").match(name="Joe").save()
    js = PersonHook().listener(url=receiver.url + "/j").match(name=Startswith("J")).save()
    every = PersonHook().listener(url=receiver.url + "/all").save()

    Person.objects.create(name="Joe", address="1 Main St", secret="s1")
    Person.objects.create(name="Jane", address="2 Main St", secret="s2")
    Person.objects.create(name="Ann", address="3 Main St", secret="s3")

    requests = receiver.wait_for(1 + 2 + 3)
    by_path = {}
    for r in requests:
        by_path.setdefault(r.path, []).append(json.loads(r.body)["name"])
    assert sorted(by_path["/hook/joe"]) == ["Joe"]
    assert sorted(by_path["/hook/j"]) == ["Jane", "Joe"]
    assert sorted(by_path["/hook/all"]) == ["Ann", "Jane", "Joe"]

    secrets = {"/hook/joe": joe.secret, "/hook/j": js.secret, "/hook/all": every.secret}
    for r in requests:
        body = Webhook(secrets[r.path]).verify(r.body, r.headers)
        assert set(body) == {"name", "address", "created"}
        assert body["created"] is True
        assert r.headers["content-type"] == "application/json"
        assert r.headers["user-agent"].startswith("durian/")
