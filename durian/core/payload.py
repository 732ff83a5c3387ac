"""Event payloads: picking the provided fields off an instance and encoding them as JSON."""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models
from django.db.models.fields.files import FieldFile

from ..exceptions import PayloadError

#: The payload formats a listener may ask for, the default first: ``flat`` (the event's fields),
#: ``standard`` (the Standard Webhooks envelope) or ``cloudevents`` (a CloudEvents 1.0 structured
#: message); see ``durian.transport.delivery.body_of``.
PAYLOAD_FORMATS = ("flat", "standard", "cloudevents")


def jsonable(value: Any, *, where: str = "payload") -> Any:
    """``value`` as plain JSON data: dates as ISO 8601, decimals and UUIDs as strings.

    Raises ``PayloadError`` (naming ``where``) for a value that has no JSON form.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise PayloadError(f"{where}: {value!r} is not a JSON number.")
        return value
    if isinstance(value, datetime.datetime):
        offset = value.utcoffset()
        if offset is not None and offset % datetime.timedelta(minutes=1):
            value = value.astimezone(datetime.UTC)  # RFC 3339 offsets are whole minutes (old LMT zones are not)
        text = value.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text
    if isinstance(value, (datetime.date, datetime.time)):
        return value.isoformat()
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    if isinstance(value, FieldFile):
        return value.name or None
    if isinstance(value, models.Model):
        return jsonable(value.pk, where=where)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, where=f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, where=f"{where}[]") for v in value]
    raise PayloadError(
        f"{where}: a value of type {type(value).__name__} cannot be sent as JSON; "
        "send a str, number, bool, None, date, Decimal, UUID, list or dict."
    )


def model_fields(model: type[models.Model], names: Iterable[str]) -> dict[str, models.Field]:
    """The concrete fields of ``model`` named in ``names``, by name (a missing name: KeyError)."""
    fields: dict[str, models.Field] = {}
    for name in names:
        try:
            field = model._meta.get_field(name)
        except Exception:
            raise KeyError(name) from None
        if not getattr(field, "concrete", False):
            raise KeyError(name)
        fields[name] = field  # type: ignore[assignment]
    return fields


def from_instance(instance: models.Model, fields: Mapping[str, models.Field], hook: str) -> dict[str, Any]:
    """The JSON payload of ``instance``: each provided field, foreign keys as their primary key."""
    return {
        name: jsonable(getattr(instance, field.attname), where=f"hook {hook!r}, field {name!r}")
        for name, field in fields.items()
    }


def dumps(payload: Mapping[str, Any]) -> str:
    """The compact JSON text sent as the request body."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
