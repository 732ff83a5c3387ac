"""The retry schedule."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from durian.core.schedule import max_attempts, retry_delay, validate_retry_schedule

schedules = st.lists(st.floats(min_value=0, max_value=1e5), min_size=1, max_size=10)


@given(schedule=schedules, jitter=st.floats(min_value=0, max_value=0.5), data=st.data())
def test_each_delay_stays_within_the_jitter_of_its_schedule_entry(schedule, jitter, data):
    attempt = data.draw(st.integers(min_value=1, max_value=len(schedule)))
    delay = retry_delay(attempt, schedule, jitter)
    base = schedule[attempt - 1]
    assert base * (1 - jitter) - 1e-6 <= delay <= base * (1 + jitter) + 1e-6


@given(schedule=schedules)
def test_no_delay_after_the_last_attempt(schedule):
    assert retry_delay(max_attempts(schedule), schedule) is None
    assert retry_delay(len(schedule), schedule) is not None


def test_by_default_a_failing_receiver_is_retried_for_about_a_day_with_growing_waits(settings):
    from durian.conf import settings as durian_settings

    del settings.DURIAN_RETRY_SCHEDULE  # the documented default, not the suite's quick one
    schedule = list(durian_settings.RETRY_SCHEDULE)
    waits = [retry_delay(n, schedule, 0.0) for n in range(1, max_attempts(schedule))]
    assert retry_delay(max_attempts(schedule), schedule, 0.0) is None
    assert waits[0] <= 10  # a blip is retried within seconds
    assert waits == sorted(waits)  # never sooner than the previous wait
    assert 20 * 3600 <= sum(waits) <= 48 * 3600  # about a day in all before it is a dead letter


# -- a listener's own schedule (``Listener.retry_schedule``): what it may hold ---------------------

SHORTEST, LONGEST = 1, 7 * 24 * 3600
delays = st.one_of(st.integers(min_value=SHORTEST, max_value=LONGEST), st.floats(min_value=SHORTEST, max_value=LONGEST))
valid_schedules = st.lists(delays, min_size=1, max_size=20)
out_of_range = st.one_of(
    st.floats(max_value=SHORTEST, exclude_max=True),
    st.floats(min_value=LONGEST, exclude_min=True),
    st.integers(max_value=SHORTEST - 1),
    st.integers(min_value=LONGEST + 1),
)
not_numbers = st.one_of(
    st.booleans(), st.none(), st.text(), st.lists(st.integers(), max_size=2), st.dictionaries(st.text(), st.integers())
)


def refusal(value):
    with pytest.raises(ValidationError) as info:
        validate_retry_schedule(value)
    return info.value.messages


def test_no_schedule_means_the_site_s_schedule_and_is_valid():
    validate_retry_schedule(None)


@given(schedule=valid_schedules)
def test_one_to_twenty_delays_between_one_second_and_seven_days_are_a_valid_schedule(schedule):
    validate_retry_schedule(schedule)
    validate_retry_schedule(tuple(schedule))


def test_a_delay_under_one_second_is_refused_saying_which():
    assert refusal([10, 0.5]) == ["Each delay must be between 1 s and 7 days; 0.5 is not."]


@given(schedule=valid_schedules, bad=out_of_range, data=st.data())
def test_any_delay_outside_one_second_to_seven_days_is_refused_naming_it(schedule, bad, data):
    at = data.draw(st.integers(min_value=0, max_value=len(schedule) - 1))
    schedule[at] = bad
    messages = refusal(schedule)
    assert len(messages) == 1
    assert messages[0].startswith("Each delay must be between 1 s and 7 days; ")
    assert messages[0].endswith(" is not.")


@given(schedule=valid_schedules, bad=not_numbers, data=st.data())
def test_a_delay_that_is_not_a_number_is_refused_booleans_included(schedule, bad, data):
    at = data.draw(st.integers(min_value=0, max_value=len(schedule) - 1))
    schedule[at] = bad
    assert refusal(schedule)[0].startswith("Each delay must be a number of seconds; ")


def test_the_refusal_shows_the_value_as_json_as_typed_in_a_form():
    assert refusal([True, "10", float("nan")]) == [
        "Each delay must be a number of seconds; true is not.",
        'Each delay must be a number of seconds; "10" is not.',
        "Each delay must be between 1 s and 7 days; NaN is not.",
    ]


@given(schedule=st.one_of(st.just([]), st.lists(delays, min_size=21, max_size=40)))
def test_a_schedule_needs_one_to_twenty_delays(schedule):
    assert refusal(schedule) == [
        f"The retry schedule needs 1 to 20 delays; it has {len(schedule)}. Leave it empty (null) for the site's schedule."
    ]


@given(value=st.one_of(st.integers(), st.floats(), st.booleans(), st.text(), st.dictionaries(st.text(), delays)))
def test_a_schedule_must_be_a_list(value):
    assert refusal(value)[0].startswith("The retry schedule must be a list of delays in seconds, such as [10, 60, 300]")
