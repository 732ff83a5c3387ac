"""Durations in words (``durian.core.durations``), as disable reasons and owner emails show them."""

import pytest

from durian.core.durations import in_words


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(5 * 86400, "5 day(s)"), (1.5 * 86400, "1.5 day(s)"), (3600, "1 hour(s)"), (3700, "1 hour(s)"),
     (5400, "1.5 hour(s)"), (720, "12 minute(s)"), (30, "30 s"), (0.25, "0.25 s")],
)  # fmt: skip
def test_a_duration_reads_in_the_largest_unit_it_reaches(seconds, words):
    assert in_words(seconds) == words
