"""Matchers: what each one lets through, on present, absent and non-string values."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from durian import match
from durian.match import Any, Contains, Endswith, Is, Like, Startswith

text = st.text(max_size=30)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), text)


@given(value=scalars)
def test_any_matches_every_value(value):
    assert Any()(value)


def test_any_matches_an_absent_field():
    assert match.matches({"name": Any()}, {})


@pytest.mark.parametrize("matcher", [Is("J"), Startswith("J"), Endswith("J"), Contains("J"), Like("J")])
def test_every_other_matcher_fails_on_an_absent_field(matcher):
    assert not match.matches({"name": matcher}, {"address": "J"})


@given(expected=scalars, value=scalars)
def test_is_matches_only_an_equal_value(expected, value):
    assert Is(expected)(expected)
    assert Is(expected)(value) == (value == expected)


@given(prefix=text, rest=text)
def test_startswith_matches_strings_with_the_prefix(prefix, rest):
    assert Startswith(prefix)(prefix + rest)


@given(prefix=text, value=text)
def test_startswith_agrees_with_str_startswith(prefix, value):
    assert Startswith(prefix)(value) == value.startswith(prefix)


@given(suffix=text, value=text)
def test_endswith_agrees_with_str_endswith(suffix, value):
    assert Endswith(suffix)(value) == value.endswith(suffix)


@given(part=text, value=text)
def test_contains_agrees_with_the_in_operator(part, value):
    assert Contains(part)(value) == (part in value)


@given(value=st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.lists(text)))
def test_string_matchers_fail_on_non_string_values(value):
    for matcher in (Startswith(""), Endswith(""), Contains(""), Like("")):
        assert not matcher(value)


@given(word=st.text(alphabet="abcdefgh", min_size=1, max_size=10), noise=st.text(alphabet="xyz", max_size=10))
def test_like_finds_the_pattern_anywhere(word, noise):
    assert Like(word)(noise + word + noise)
    assert not Like("^" + word + "$")(noise + "q" + word)


def test_a_plain_value_means_is():
    assert match.coerce("Joe") == Is("Joe")
    assert match.coerce(Startswith("J")) == Startswith("J")


def test_all_filters_of_a_listener_must_hold():
    filters = {"name": Startswith("J"), "address": Contains("Main")}
    assert match.matches(filters, {"name": "Joe", "address": "1 Main St"})
    assert not match.matches(filters, {"name": "Joe", "address": "1 High St"})


@given(
    filters=st.dictionaries(
        st.sampled_from(["name", "address", "city"]),
        st.one_of(
            st.builds(Startswith, text),
            st.builds(Endswith, text),
            st.builds(Contains, text),
            st.builds(Is, scalars),
            st.just(Any()),
        ),
    )
)
def test_filters_survive_their_json_form(filters):
    import json

    stored = json.loads(json.dumps(match.filters_to_json(filters)))
    assert match.filters_from_json(stored) == filters


def test_an_invalid_regex_is_refused_naming_the_field():
    with pytest.raises(ValidationError) as info:
        Like("([a-z").validate("name")
    assert "name" in info.value.message_dict


def test_filters_describe_themselves_in_words():
    assert Startswith("J").describe("name") == "name starts with 'J'"
    assert Any().describe("name") == "name is anything"
