"""durian's pytest plugin (loaded by pytest through the ``pytest11`` entry point).

``durian_events``: the events the test sends, captured instead of sent (``durian.testing.capture``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from .core.event import Event


@pytest.fixture
def durian_events() -> Iterator[list[Event]]:
    """A list that fills with the events the test's committed changes fire; nothing is sent.

    In a test inside a transaction that never commits (pytest-django's ``db`` fixture, Django's
    ``TestCase``), use ``durian.testing.capture(commit=True)`` around the code instead.
    """
    from .testing import capture

    with capture() as events:
        yield events
