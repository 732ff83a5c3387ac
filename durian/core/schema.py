"""JSON Schemas (draft 2020-12) of event payloads, derived from model fields.

Each schema describes the JSON a field becomes in a payload (``durian.core.payload.jsonable``):
dates and times as ISO 8601 strings, decimals and UUIDs as strings, durations as seconds,
foreign keys as the related row's primary key, files as their name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.conf import settings as django_settings
from django.db import models

DIALECT = "https://json-schema.org/draft/2020-12/schema"

_STRING_FORMATS: list[tuple[type[models.Field], str]] = [
    (models.EmailField, "email"),
    (models.URLField, "uri"),
    (models.UUIDField, "uuid"),
    (models.DateTimeField, "date-time"),  # before DateField, its base class
    (models.DateField, "date"),
    (models.TimeField, "time"),
    (models.GenericIPAddressField, "ip-address"),
]


def field_schema(field: models.Field) -> dict[str, Any]:
    """The schema of one model field's payload value (``null`` allowed when the field is)."""
    if field.is_relation and field.target_field is not None:  # type: ignore[union-attr]
        schema = field_schema(field.target_field)  # type: ignore[union-attr]
        schema.pop("description", None)
        schema = {k: v for k, v in schema.items() if k != "enum"}
    else:
        schema = _base_schema(field)
    if field.choices and not field.is_relation:
        schema["enum"] = [value for value, _ in field.flatchoices]
    if field.null or isinstance(field, models.FileField):
        schema = _nullable(schema)
    if field.help_text:
        schema["description"] = str(field.help_text)
    return schema


def _base_schema(field: models.Field) -> dict[str, Any]:
    if isinstance(field, models.BooleanField):
        return {"type": "boolean"}
    if isinstance(field, (models.IntegerField, models.AutoField)):
        return {"type": "integer"}
    if isinstance(field, (models.FloatField, models.DurationField)):
        return {"type": "number"}
    if isinstance(field, models.DecimalField):
        return {"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?$"}
    if isinstance(field, models.JSONField):
        return {}
    for cls, fmt in _STRING_FORMATS:
        if isinstance(field, cls):
            if fmt == "ip-address":
                return {"type": "string"}
            if fmt == "date-time" and not django_settings.USE_TZ:  # naive: ISO 8601 without an offset
                return {"type": "string", "description": "Local time, ISO 8601 without an offset."}
            return {"type": "string", "format": fmt}
    schema: dict[str, Any] = {"type": "string"}
    if getattr(field, "max_length", None) and isinstance(field, models.CharField):
        schema["maxLength"] = field.max_length
    return schema


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    kind = schema.get("type")
    if kind is None:
        return schema
    out = dict(schema)
    out["type"] = [kind, "null"] if isinstance(kind, str) else [*kind, "null"]
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def object_schema(
    title: str,
    properties: Mapping[str, Any],
    required: Iterable[str] = (),
    description: str = "",
    closed: bool = True,
) -> dict[str, Any]:
    """A whole payload's schema: an object with ``properties`` (only those, when ``closed``)."""
    schema: dict[str, Any] = {"$schema": DIALECT, "title": title, "type": "object"}
    if description:
        schema["description"] = description
    schema["properties"] = dict(properties)
    schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    return schema


def body_schema(payload: Mapping[str, Any], payload_format: str, fields: Sequence[str] = ()) -> dict[str, Any]:
    """The schema of the body one listener receives: ``payload`` (a hook's ``schema()``) cut to
    ``fields`` (empty: all), in the listener's payload format (``flat``, ``standard`` or ``cloudevents``,
    see ``durian.transport.delivery.body_of``)."""
    data = dict(payload)
    if fields:
        properties = {k: v for k, v in data.get("properties", {}).items() if k in fields}
        data["properties"] = properties
        data["required"] = [k for k in data.get("required", []) if k in properties]
        data["additionalProperties"] = False
    if payload_format == "flat":
        return data
    title = str(data.get("title", ""))
    inner = {k: v for k, v in data.items() if k != "$schema"}
    when = {"type": "string", "format": "date-time"}
    if payload_format == "standard":
        properties: dict[str, Any] = {"type": {"const": title}, "timestamp": when, "data": inner}
    else:
        properties = {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "minLength": 1, "description": "The webhook-id header's value."},
            "source": {"type": "string", "minLength": 1, "format": "uri-reference"},
            "type": {"const": title},
            "time": when,
            "datacontenttype": {"const": "application/json"},
            "data": inner,
        }
    return object_schema(title, properties, required=list(properties), description=str(data.get("description", "")))


def type_label(schema: Mapping[str, Any]) -> str:
    """A short word for a field's type, as the select-event page shows it: ``string (date-time)``."""
    kind = schema.get("type", "any")
    words = " or ".join(kind) if isinstance(kind, list) else str(kind)
    return f"{words} ({schema['format']})" if "format" in schema else words


_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list, tuple),
    "object": (dict,),
}
_WORDS = {"string": "text", "integer": "a whole number", "number": "a number", "boolean": "true or false"}


def wrong_type(value: Any, kind: str | list[str] | None) -> str:
    """What ``value`` should be when it is not of the JSON Schema ``type`` ``kind`` (``""`` when it is,
    or when ``kind`` says nothing): ``"true or false"``, ``"a number or null"``."""
    kinds = [kind] if isinstance(kind, str) else list(kind or [])
    if not kinds:
        return ""
    for k in kinds:
        types = _JSON_TYPES.get(k)
        if types is None:
            return ""
        if isinstance(value, types) and not (isinstance(value, bool) and k in ("integer", "number")):
            return ""
    return " or ".join(_WORDS.get(k, k) for k in kinds)
