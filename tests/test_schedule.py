"""The retry schedule."""

from hypothesis import given
from hypothesis import strategies as st

from durian.core.schedule import max_attempts, retry_delay

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
