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


def test_the_default_schedule_follows_trusted_senders():
    from durian.conf import DEFAULTS

    assert list(DEFAULTS["RETRY_SCHEDULE"]) == [5, 300, 1800, 7200, 18000, 36000, 36000]
    assert max_attempts(DEFAULTS["RETRY_SCHEDULE"]) == 8
