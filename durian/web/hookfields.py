"""What the web pages know about a hook's fields: typing a filter value, showing it, sampling it.

A filter value typed in a form is text. For a ``ModelHook`` the model field behind each provided
field turns it into the value the payload carries (``42`` for an ``IntegerField``, ``true`` for a
``BooleanField``), so ``is`` compares like with like. Fields of a plain ``Hook`` stay text.
"""

from __future__ import annotations

import datetime
import decimal
import uuid
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import signals

from ..core import payload
from ..hook import Hook

#: The boolean ``created`` field that ``post_save`` hooks add to every payload.
CREATED = "created"


def model_field(hook: Hook, name: str) -> models.Field | None:
    """The model field behind ``name`` in ``hook``'s payload, or None (plain hooks, ``created``)."""
    model = getattr(hook, "model", None)
    if model is None or name not in hook.provides_args:
        return None
    try:
        return payload.model_fields(model, [name])[name]
    except KeyError:
        return None


def _is_created(hook: Hook, name: str) -> bool:
    return name == CREATED and CREATED not in hook.provides_args and getattr(hook, "signal", None) is signals.post_save


def parse_value(hook: Hook, name: str, text: str) -> Any:
    """The payload value ``text`` stands for in field ``name``; ``ValidationError`` when it has none."""
    if _is_created(hook, name):
        return _parse_bool(text)
    field = model_field(hook, name)
    if field is None:
        return text
    if isinstance(field, models.BooleanField):
        return _parse_bool(text)
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if text == "" and field.null and not isinstance(field, (models.CharField, models.TextField)):
        return None
    return payload.jsonable(field.to_python(text), where=name)


def is_text(hook: Hook | None, name: str) -> bool:
    """True when field ``name`` carries text, so that the string matchers (starts with, like...) fit it:
    the hook's own rule (``Hook.field_is_text``), which every way of making a listener applies."""
    return hook is None or hook.field_is_text(name)


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "1"):
        return True
    if lowered in ("false", "no", "0"):
        return False
    raise ValidationError("Enter true or false.")


def format_value(value: Any) -> str:
    """A stored filter value as form text (the inverse of ``parse_value``)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def sample_value(hook: Hook, name: str) -> Any:
    """A plausible payload value for field ``name``, for test events."""
    if _is_created(hook, name):
        return True
    field = model_field(hook, name)
    if isinstance(field, models.ForeignKey):
        field = field.target_field
    if field is None or isinstance(field, (models.CharField, models.TextField)):
        return f"sample {name}"
    if isinstance(field, models.BooleanField):
        return True
    if isinstance(field, (models.IntegerField, models.AutoField)):
        return 1
    if isinstance(field, models.FloatField):
        return 1.5
    if isinstance(field, models.DecimalField):
        return payload.jsonable(decimal.Decimal("1.00"))
    if isinstance(field, models.DateTimeField):
        return payload.jsonable(datetime.datetime(2026, 1, 1, 12, 0, tzinfo=datetime.UTC))
    if isinstance(field, models.DateField):
        return payload.jsonable(datetime.date(2026, 1, 1))
    if isinstance(field, models.UUIDField):
        return str(uuid.UUID(int=1))
    return None
