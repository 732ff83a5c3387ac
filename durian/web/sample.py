"""Test events: a sample payload for a listener, delivered at once and never recorded."""

from __future__ import annotations

from typing import Any

from ..conf import settings
from ..core import match
from ..core.event import Event
from ..core.outcome import Outcome
from ..models import Listener
from ..registry import hooks
from ..transport import delivery
from .hookfields import sample_value


def sample_payload(listener: Listener) -> dict[str, Any]:
    """A payload with every field the hook provides, shaped to pass the listener's simple filters."""
    hook = hooks[listener.hook]
    data = {name: sample_value(hook, name) for name in hook.fields}
    if hook.reports_changes:
        data.update(changed=[], previous={})
    for name, matcher in ({} if listener.filters_problem else listener.matchers).items():
        if isinstance(matcher, match.Is):
            data[name] = matcher.value
        elif isinstance(matcher, match.Startswith):
            data[name] = f"{matcher.value}example"
        elif isinstance(matcher, match.Endswith):
            data[name] = f"example{matcher.value}"
        elif isinstance(matcher, match.Contains):
            data[name] = f"example {matcher.value} example"
    return data


def send_test_event(listener: Listener) -> tuple[Event, Outcome]:
    """POST a signed sample event to the listener now, whatever its state; returns what happened.

    The attempt is neither recorded as a delivery nor counted in the listener's health.
    """
    event = Event(hook=listener.hook, payload=sample_payload(listener))
    total = float(settings.TEST_SEND_TIMEOUT)
    return event, delivery.attempt(
        event,
        listener.pk,
        listener.url,
        listener.sealed_secrets(),
        listener.payload_format,
        total,
        headers=listener.sealed_headers,
        fields=listener.fields,
    )
