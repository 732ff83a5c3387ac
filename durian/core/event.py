"""The event: one occurrence of a hook, with an id receivers can deduplicate on."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from . import tracing
from .payload import dumps


def new_event_id() -> str:
    """A new event id: 32 hex digits, unique across processes and hosts."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Event:
    """A hook fired with a payload. ``id`` is stable from the signal to the receiver.

    ``trace`` is the trace context of the span current where the event was made (``traceparent``,
    ``tracestate``; ``{}`` when none, or without OpenTelemetry): each attempt's span is its child.
    ``row`` is the primary key (as text) of the row a ``ModelHook`` event is about, or ``None``; it
    never leaves the site. ``backfill`` marks an event sent by a listener's backfill (``durian.pipeline.backfill``).
    """

    hook: str
    payload: dict[str, Any]
    id: str = field(default_factory=new_event_id)
    created_at: float = field(default_factory=time.time)
    trace: dict[str, str] = field(default_factory=tracing.carrier, compare=False, repr=False)
    row: str | None = field(default=None, compare=False)
    backfill: bool = field(default=False, compare=False)

    def webhook_id(self, listener_id: int) -> str:
        """The ``webhook-id`` of this event for one listener: the same on every retry."""
        return webhook_id(self.id, listener_id)

    def to_fields(self) -> dict[str, str]:
        """The flat field map stored in a Redis Stream entry."""
        fields = {"id": self.id, "hook": self.hook, "payload": dumps(self.payload), "ts": repr(self.created_at)}
        if self.trace:
            fields["trace"] = dumps(self.trace)
        if self.row is not None:
            fields["row"] = self.row
        return fields

    @classmethod
    def from_fields(cls, fields: dict[Any, Any]) -> Event:
        """Rebuild an event from a stream entry (keys and values as bytes or str)."""
        f = {_s(k): _s(v) for k, v in fields.items()}
        trace = tracing.clean(json.loads(f["trace"])) if f.get("trace") else {}
        return cls(
            hook=f["hook"],
            payload=json.loads(f["payload"]),
            id=f["id"],
            created_at=float(f["ts"]),
            trace=trace,
            row=f.get("row"),
        )


def webhook_id(event_id: str, listener_id: int) -> str:
    """``msg_<event id>_<listener id>``: unique per event and listener."""
    return f"msg_{event_id}_{listener_id}"


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
