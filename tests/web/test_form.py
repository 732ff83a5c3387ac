"""The listener form: one filter row per field, typed values, and every error next to its field."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from durian import match
from durian.models import Listener
from durian.web.forms import ListenerForm
from example_project.people.hooks import PersonHook

ANY_ROWS = {"filter-name-op": "any", "filter-address-op": "any", "filter-created-op": "any"}


def form(**data) -> ListenerForm:
    return ListenerForm({"url": "https://client.test/hook", **ANY_ROWS, **data}, hook=PersonHook())


def test_there_is_one_filter_row_per_field_the_hook_provides():
    rows = ListenerForm(hook=PersonHook()).rows()
    assert [r.field for r in rows] == ["name", "address", "created"]
    choices = [label for _, label in rows[0].matcher.field.choices]
    assert choices == ["any", "is", "starts with", "ends with", "contains", "like (regular expression)"]


def test_rows_left_on_any_store_no_filter():
    f = form()
    assert f.is_valid(), f.errors
    assert f.instance.filters == {}
    assert f.instance.describe_filters() == "every event"


@pytest.mark.parametrize(
    ("op", "matcher"),
    [
        ("is", match.Is),
        ("startswith", match.Startswith),
        ("endswith", match.Endswith),
        ("contains", match.Contains),
        ("like", match.Like),
    ],
)
def test_each_matcher_is_stored_as_chosen(op, matcher):
    f = form(**{"filter-name-op": op, "filter-name-value": "J"})
    assert f.is_valid(), f.errors
    assert f.instance.matchers == {"name": matcher("J")}


def test_is_on_a_boolean_field_compares_with_a_boolean():
    f = form(**{"filter-created-op": "is", "filter-created-value": "true"})
    assert f.is_valid(), f.errors
    assert f.instance.filters == {"created": {"op": "is", "value": True}}
    assert form(**{"filter-created-op": "is", "filter-created-value": "maybe"}).errors == {
        "filter-created-value": ["Enter true or false."]
    }


def test_a_bad_regular_expression_is_reported_next_to_its_field():
    f = form(**{"filter-name-op": "like", "filter-name-value": "J(oe"})
    assert not f.is_valid()
    [message] = f.errors["filter-name-value"]
    assert message.startswith("Invalid regular expression for 'name'")
    assert set(f.errors) == {"filter-name-value"}


def test_a_string_matcher_needs_a_value_and_a_value_needs_a_matcher():
    f = form(**{"filter-name-op": "startswith", "filter-name-value": "", "filter-address-value": "Main"})
    assert not f.is_valid()
    assert f.errors["filter-name-value"] == ["Enter a value for this matcher, or choose “any”."]
    assert f.errors["filter-address-value"] == ["Choose a matcher for this value, or clear it."]


@pytest.mark.parametrize("url", ["not a url", "ftp://client.test/x", "javascript:alert(1)", ""])
def test_a_bad_url_is_reported_next_to_the_url(url):
    f = form(url=url)
    assert not f.is_valid()
    assert list(f.errors) == ["url"]


def test_whatever_listener_clean_refuses_is_shown_next_to_its_field(monkeypatch):
    """An address refused by ``Listener.clean()`` (the SSRF check lives there) lands next to the URL."""

    def refuse(self):
        raise ValidationError({"url": "This address is not public; webhooks cannot be sent to it."})

    monkeypatch.setattr(Listener, "clean", refuse)
    f = form(url="http://10.0.0.1/hook")
    assert not f.is_valid()
    assert f.errors == {"url": ["This address is not public; webhooks cannot be sent to it."]}
    html = f["url"].as_widget()
    assert 'aria-describedby="id_url_errors id_url_helptext"' in html
    assert 'aria-invalid="true"' in html


def test_editing_starts_from_the_listeners_filters():
    listener = (
        PersonHook().listener(url="https://client.test/h").match(name=match.Startswith("J"), created=True).build()
    )
    f = ListenerForm(hook=PersonHook(), instance=listener)
    values = {r.field: (r.matcher.value(), r.value.value()) for r in f.rows()}
    assert values == {"name": ("startswith", "J"), "address": ("any", ""), "created": ("is", "true")}
    assert f["url"].value() == "https://client.test/h"


@settings(max_examples=60, deadline=None)
@given(
    op=st.sampled_from(["is", "startswith", "endswith", "contains"]),
    text=st.text(st.characters(exclude_categories=("Cs", "Cc")), min_size=1, max_size=40),
)
def test_any_text_survives_the_round_trip_through_the_form(op, text):
    f = form(**{"filter-address-op": op, "filter-address-value": text})
    assert f.is_valid(), f.errors
    again = ListenerForm(hook=PersonHook(), instance=f.instance)
    assert again["filter-address-op"].value() == op
    assert again["filter-address-value"].value() == text
