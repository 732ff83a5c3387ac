"""The event: one occurrence of a hook, with an id receivers can deduplicate on."""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from .payload import dumps


def new_event_id() -> str:
    """A new event id: 32 hex digits, unique across processes and hosts."""
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Event:
    """A hook fired with a payload. ``id`` is stable from the signal to the receiver."""

    hook: str
    payload: dict[str, Any]
    id: str = field(default_factory=new_event_id)
    created_at: float = field(default_factory=time.time)

    def webhook_id(self, listener_id: int) -> str:
        """The ``webhook-id`` of this event for one listener: the same on every retry."""
        return webhook_id(self.id, listener_id)

    def to_fields(self) -> dict[str, str]:
        """The flat field map stored in a Redis Stream entry."""
        return {"id": self.id, "hook": self.hook, "payload": dumps(self.payload), "ts": repr(self.created_at)}

    @classmethod
    def from_fields(cls, fields: dict[Any, Any]) -> Event:
        """Rebuild an event from a stream entry (keys and values as bytes or str)."""
        f = {_s(k): _s(v) for k, v in fields.items()}
        return cls(hook=f["hook"], payload=json.loads(f["payload"]), id=f["id"], created_at=float(f["ts"]))


def webhook_id(event_id: str, listener_id: int) -> str:
    """``msg_<event id>_<listener id>``: unique per event and listener."""
    return f"msg_{event_id}_{listener_id}"


def _s(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
