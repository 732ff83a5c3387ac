"""Safe ``Like``: patterns run on RE2 in linear time; what could stall a worker is refused at creation.

The timing side (linear growth) is measured in ``bench/redos.py``, not asserted here.
"""

import random
import re

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from durian.core import match
from durian.hook import Hook
from durian.match import Like
from durian.registry import hooks
from example_project.people.hooks import PersonHook

REFUSED = [
    ("(a|aa)+$", "repeats a group that can match the same text in many ways ((a|aa)+)"),
    (r"(\w|\d)*x", r"((\w|\d)*)"),
    ("(.|\n)*", "((.|\n)*)"),
    ("(a|)+", "((a|)+)"),
    ("(?:ab|a)+", "((?:ab|a)+)"),
    ("(?P<x>a|A)+", "((?P<x>a|A)+)"),
    ("(a+)+$", "((a+)+)"),
    ("(a*)*b", "((a*)*)"),
    (r"^(\w+\s?)+$", r"((\w+\s?)+)"),
    ("((ab)*)+", "(((ab)*)+)"),
    ("(.*a){12}", "((.*a){12})"),
    ("(?:x+x+)+y", "((?:x+x+)+)"),
    ("(a{2,})+", "((a{2,})+)"),
    (r"(a)\1", "Invalid regular expression for 'name': invalid escape sequence: \\1. Patterns run on RE2"),
    ("(?=a)b", "Invalid regular expression for 'name': invalid perl operator: (?=. Patterns run on RE2"),
    ("(?<=a)b", "invalid perl operator: (?<=. Patterns run on RE2, in linear time: no backreferences, lookaround"),
    ("(?!a)b", "invalid perl operator: (?!"),
    ("a++", "bad repetition operator: ++. Patterns run on RE2"),
    ("([a-z", "Invalid regular expression for 'name': missing ]: [a-z."),
    ("x" * 1001, "is longer than 1000 characters"),
]


@pytest.mark.parametrize("pattern, reason", REFUSED, ids=[p[:20] for p, _ in REFUSED])
def test_dangerous_or_unsupported_patterns_are_refused_at_creation_naming_the_field(pattern, reason):
    with pytest.raises(ValidationError) as refused:
        PersonHook().listener(url="http://127.0.0.1:9/hook").match(name=Like(pattern))
    (message,) = refused.value.message_dict["name"]
    assert "'name'" in message
    assert reason in message


def test_the_length_cap_is_a_setting(settings):
    settings.DURIAN_LIKE_MAX_LENGTH = 10
    with pytest.raises(ValidationError, match="longer than 10 characters"):
        Like("x" * 11).validate("name")


@pytest.mark.parametrize(
    "pattern",
    [
        "^J",
        "^(Joe|Jane)$",
        "[ab]+",
        r"\d{3}-\d{4}",
        "(ab)+",
        "(foo)?bar",
        r"^[^@]+@example\.com$",
        "(?i)joe",
        "(a|b)*c",
        "^(foo|bar)+$",
        "(?:ab|cd){2,}",
        "((a|b)c)+",
        "(?i)(x|y)+",
        r"\(a+\)+",
        "[(+]+",
        r"\w*\w*\w*\w*\w*\w*!",
        "a[ab]{20}c",
    ],
)
def test_ordinary_patterns_are_accepted(pattern):
    Like(pattern).validate("name")


@given(st.text(max_size=40))
def test_the_structure_check_never_fails_on_any_text(pattern):
    match.nested_repetition(pattern)


@given(
    word=st.text(alphabet="abc", min_size=1, max_size=6),
    value=st.text(alphabet="abcx", max_size=30),
    anchor=st.sampled_from(["", "^", "$"]),
)
def test_like_finds_what_python_re_search_finds(word, value, anchor):
    pattern = anchor + word if anchor == "^" else word + anchor
    assert Like(pattern)(value) == (re.search(pattern, value) is not None)


@pytest.mark.timeout(60, method="thread")  # a stall fails the test (RE2 runs in C: no signal reaches it)
def test_a_hostile_but_accepted_pattern_matches_a_megabyte_without_stalling():
    # Python's re would need years for this (n**6 backtracking); RE2 takes about a millisecond.
    assert not Like(r"\w*\w*\w*\w*\w*\w*!")("a" * 1_000_000)
    assert Like(r"\w*\w*\w*\w*\w*\w*!")("a" * 1_000_000 + "!")


class NoteHook(Hook):
    """A note was written (a hook fired by hand, with a long text)."""

    name = "note"
    provides_args = ["text"]


@pytest.fixture
def note_hook():
    hooks.register(NoteHook)
    yield hooks["note"]
    hooks.unregister(NoteHook)


@pytest.mark.django_db(transaction=True)
def test_hostile_patterns_do_not_hold_up_other_deliveries(worker, receiver, note_hook):
    rng = random.Random(3)
    long_value = "".join(rng.choice("ab") for _ in range(300_000))
    note_hook.listener(url=receiver.url + "/hostile-1").match(text=Like(r"\w*\w*\w*\w*\w*\w*!")).save()
    note_hook.listener(url=receiver.url + "/hostile-2").match(text=Like("a[ab]{20}c")).save()  # RE2's worst case
    note_hook.listener(url=receiver.url + "/every").save()

    note_hook.send(text=long_value)
    note_hook.send(text="short")

    arrived = receiver.wait_for(2, timeout=20)  # generous: a stalled worker would never get there
    assert sorted(r.json()["text"][:10] for r in arrived) == [long_value[:10], "short"]
    assert {r.path for r in arrived} == {"/hook/every"}
