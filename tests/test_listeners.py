"""Creating listeners from code: validation of URLs, fields and patterns."""

import pytest
from django.core.exceptions import ValidationError

from durian.core.signing import SECRET_PREFIX
from durian.match import Any, Like, Startswith
from durian.models import Listener
from example_project.people.hooks import PersonHook

pytestmark = pytest.mark.django_db


def test_listener_save_returns_a_saved_listener_with_its_own_secret(redis_client):
    listener = PersonHook().listener(url="https://client.test/hook").match(name=Startswith("J")).save()
    assert isinstance(listener, Listener) and listener.pk
    assert listener.secret.startswith(SECRET_PREFIX)
    other = PersonHook().listener(url="https://client.test/hook").save()
    assert other.secret != listener.secret


def test_filters_are_stored_as_json(redis_client):
    listener = PersonHook().listener(url="https://client.test/hook").match(name=Startswith("J"), address="x").save()
    listener.refresh_from_db()
    assert listener.filters == {"name": {"op": "startswith", "value": "J"}, "address": {"op": "is", "value": "x"}}
    assert listener.describe_filters() == "name starts with 'J' and address is 'x'"


def test_without_match_the_listener_gets_every_event(redis_client):
    listener = PersonHook().listener(url="https://client.test/hook").save()
    assert listener.filters == {} and listener.describe_filters() == "every event"


def test_an_unknown_field_name_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as info:
        PersonHook().listener(url="https://client.test/hook").match(shoe_size=42)
    assert "shoe_size" in info.value.message_dict


def test_a_secret_field_cannot_be_filtered_on():
    with pytest.raises(ValidationError) as info:
        PersonHook().listener(url="https://client.test/hook").match(secret=Any())
    assert "secret" in info.value.message_dict


def test_an_invalid_regex_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as info:
        PersonHook().listener(url="https://client.test/hook").match(name=Like("(unclosed"))
    assert "name" in info.value.message_dict


def test_a_string_matcher_needs_a_string():
    with pytest.raises(ValidationError) as info:
        PersonHook().listener(url="https://client.test/hook").match(name=Startswith(3))
    assert "name" in info.value.message_dict


def test_an_invalid_url_is_refused():
    with pytest.raises(ValidationError) as info:
        PersonHook().listener(url="not a url").save()
    assert "url" in info.value.message_dict
    assert not Listener.objects.exists()


def test_the_created_flag_of_post_save_can_be_filtered_on(redis_client):
    listener = PersonHook().listener(url="https://client.test/hook").match(created=True).save()
    assert listener.filters == {"created": {"op": "is", "value": True}}
