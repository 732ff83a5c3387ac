"""Hooks: the events a site offers to its clients.

A ``Hook`` is fired by hand with ``send()``; a ``ModelHook`` fires on a model signal. Only the
fields named in ``provides_args`` ever leave the site.

``async_`` (default True) picks the delivery path: through the Redis Stream and the workers, or
in the calling process right after commit. The original durian spelled it ``async``, a keyword
since Python 3.7; ``async_`` follows PEP 8's trailing-underscore rule.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import signals as model_signals
from django.dispatch import Signal

from .core import changes, match, payload, schema
from .core.event import Event
from .exceptions import HookError, PayloadError
from .listeners import ListenerBuilder
from .pipeline import dispatch


class Hook:
    """An event clients can listen to. Subclass it and set ``name`` and ``provides_args``."""

    name: ClassVar[str] = ""
    model: ClassVar[type[models.Model] | None] = None
    signal: ClassVar[Signal | None] = None
    provides_args: ClassVar[Sequence[str]] = ()
    async_: ClassVar[bool] = True
    description: ClassVar[str] = ""
    #: JSON Schemas of payload fields, by name: every field of a ``Hook``, the fields a
    #: ``ModelHook.shape`` adds, or to override a derived one. Undeclared fields accept any JSON.
    fields_schema: ClassVar[Mapping[str, Mapping[str, Any]]] = {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r}>"

    # -- what the hook offers ------------------------------------------------------------------

    @property
    def fields(self) -> list[str]:
        """The payload fields a listener may filter on."""
        return list(self.provides_args)

    def get_description(self) -> str:
        """``description``, else the first paragraph of the class docstring."""
        if self.description:
            return self.description
        doc = inspect.getdoc(type(self)) or ""
        if type(self).__doc__ is None or doc in (inspect.getdoc(Hook), inspect.getdoc(ModelHook)):
            return ""
        return doc.split("\n\n")[0].replace("\n", " ")

    @property
    def reports_changes(self) -> bool:
        """True when payloads carry ``changed`` and ``previous`` (``ModelHook.on_change``)."""
        return False

    def schema(self) -> dict[str, Any]:
        """The JSON Schema (draft 2020-12) of this hook's payload."""
        properties = {name: dict(self.fields_schema.get(name, {})) for name in self.provides_args}
        return schema.object_schema(
            self.name, properties, description=self.get_description(), closed=bool(self.provides_args)
        )

    def validate(self) -> None:
        """Raise ``HookError`` when the declaration is wrong. Called by ``hooks.register``."""
        if not self.name or not isinstance(self.name, str):
            raise HookError(f"{type(self).__name__} needs a non-empty string `name`.")

    def field_is_text(self, name: str) -> bool:
        """True when payload field ``name`` carries text, so that the text matchers (starts with, ends
        with, contains, like) fit it. Every field of a plain ``Hook`` does."""
        return True

    def validate_filters(self, filters: Mapping[str, Any]) -> None:
        """Raise ``ValidationError`` naming the first unknown field or unusable matcher.

        The one set of rules for every way of making a listener (the builder, the pages, the admin,
        the API): the matcher's own (``Matcher.validate``: plain values, at most
        ``DURIAN_LIKE_MAX_LENGTH`` characters), text matchers on text fields only, and ``is`` and
        ``changed`` values of the field's JSON type (``schema()``).
        """
        known = self.fields
        types: dict[str, Any] | None = None
        for field, matcher in filters.items():
            if known and field not in known:
                raise ValidationError(
                    {field: f"Hook {self.name!r} has no field {field!r}; it provides {', '.join(known)}."}
                )
            matcher = match.coerce(matcher)
            matcher.validate(field)
            if match.is_text_matcher(matcher) and not self.field_is_text(field):
                raise ValidationError(
                    {field: f"{matcher.label.capitalize()} needs a text field; {field!r} is not text: use is or any."}
                )
            if isinstance(matcher, (match.Is, match.Changed)):
                if types is None:
                    types = {k: v.get("type") for k, v in self.schema().get("properties", {}).items()}
                values = [matcher.value] if isinstance(matcher, match.Is) else list(matcher.value.values())
                for value in values:
                    wrong = schema.wrong_type(value, types.get(field))
                    if wrong:
                        raise ValidationError({field: f"The value for {field!r} must be {wrong}, got {value!r}."})
            if isinstance(matcher, match.Changed):
                if not self.reports_changes:
                    raise ValidationError(
                        {field: f"Hook {self.name!r} does not report changes; its ModelHook needs `on_change`."}
                    )
                if field not in self.provides_args:
                    raise ValidationError({field: f"Changed needs a provided field; {field!r} never changes."})

    # -- firing --------------------------------------------------------------------------------

    def send(self, sender: Any = None, /, **data: Any) -> Event:
        """Fire this hook with ``data`` (only ``provides_args`` keys are kept, when declared)."""
        if self.provides_args:
            data = {k: v for k, v in data.items() if k in self.provides_args}
        return self.emit(payload.jsonable(data, where=f"hook {self.name!r}"))

    def emit(self, data: dict[str, Any], using: str = DEFAULT_DB_ALIAS, row: Any = None) -> Event:
        """Hand a ready JSON payload to the dispatcher: it leaves after the transaction commits.
        ``row``: the primary key of the row the event is about (kept on the site, see ``Event.row``)."""
        event = Event(hook=self.name, payload=data, row=None if row is None else str(row))
        dispatch.schedule(event, using=using, in_process=not self.async_)
        return event

    # -- listeners -----------------------------------------------------------------------------

    def listener(self, url: str, **config: Any) -> ListenerBuilder:
        """Start a listener on this hook: ``hook.listener(url=...).match(...).save()``."""
        return ListenerBuilder(self, url, config)

    # -- registry plumbing ----------------------------------------------------------------------

    def connect(self) -> None:
        """Start listening to the signal (called on registration)."""

    def disconnect(self) -> None:
        """Stop listening to the signal (called on unregistration)."""


class ModelHook(Hook):
    """A hook fired by a model signal (``post_save`` by default, or ``post_delete``) for ``model``.

    ``on_change`` names fields: a save of an existing row then fires only when one of them
    changed (a create always fires), and the payload also carries ``changed`` (the sorted names
    of provided fields that changed) and ``previous`` (their values before).
    """

    signal: ClassVar[Signal | None] = model_signals.post_save
    on_change: ClassVar[Sequence[str]] = ()

    @property
    def fields(self) -> list[str]:
        fields = list(self.provides_args)
        if self.signal is model_signals.post_save:
            fields.append("created")
        return fields

    @property
    def reports_changes(self) -> bool:
        return bool(self.on_change) and self.signal is model_signals.post_save

    def field_is_text(self, name: str) -> bool:
        """True for a field whose model field is a ``CharField`` or ``TextField`` (or that the model
        does not declare); ``created``, numbers, booleans, dates... are not text."""
        if name == "created" and name not in self.provides_args:
            return self.signal is not model_signals.post_save
        if self.model is None or name not in self.provides_args:
            return True
        field = payload.model_fields(self.model, [name]).get(name)
        if isinstance(field, models.ForeignKey):
            return False
        return field is None or isinstance(field, (models.CharField, models.TextField))

    def schema(self) -> dict[str, Any]:
        """The JSON Schema of the payload: derived from the model's fields (``fields_schema``
        adds or overrides), with ``created``, ``changed`` and ``previous`` where they are sent."""
        fields = self.model_fields()
        properties: dict[str, Any] = {name: schema.field_schema(field) for name, field in fields.items()}
        if self.signal is model_signals.post_save:
            properties["created"] = {"type": "boolean", "description": "True for a new row."}
        if self.reports_changes:
            properties["changed"] = {
                "type": "array",
                "items": {"enum": sorted(fields)},
                "uniqueItems": True,
                "description": "The provided fields this save changed (empty for a new row).",
            }
            properties["previous"] = {
                "type": "object",
                "properties": {name: properties[name] for name in fields},
                "additionalProperties": False,
                "description": "The values before this save of the fields in `changed`.",
            }
        required = list(properties)
        for name, declared in self.fields_schema.items():
            properties[name] = dict(declared)
        return schema.object_schema(self.name, properties, required, description=self.get_description())

    def validate(self) -> None:
        super().validate()
        if self.model is None:
            raise HookError(f"Hook {self.name!r}: set `model` on {type(self).__name__}.")
        if self.signal is None:
            raise HookError(f"Hook {self.name!r}: set `signal` on {type(self).__name__}.")
        for names, what in ((self.provides_args, "provides_args"), (self.on_change, "on_change")):
            try:
                found = payload.model_fields(self.model, names)
            except KeyError as exc:
                raise HookError(
                    f"Hook {self.name!r}: {what} names {exc.args[0]!r}, which is no field of {self.model._meta.label}."
                ) from None
            if what == "provides_args":
                self._fields = found
        if self.on_change and self.signal is not model_signals.post_save:
            raise HookError(f"Hook {self.name!r}: on_change needs signal = post_save.")

    def model_fields(self) -> dict[str, models.Field]:
        """The model fields the payload carries (``provides_args``), by name."""
        assert self.model is not None
        return getattr(self, "_fields", None) or payload.model_fields(self.model, self.provides_args)

    @functools.cached_property
    def watched_attnames(self) -> list[str]:
        """The attnames of the ``on_change`` fields."""
        assert self.model is not None
        return [field.attname for field in payload.model_fields(self.model, self.on_change).values()]

    def _dispatch_uid(self) -> str:
        # Per instance: unregistering one hook never disconnects another of the same name.
        return f"durian:{self.name}:{id(self)}"

    def connect(self) -> None:
        assert self.signal is not None and self.model is not None
        if self.reports_changes:
            changes.track(self.model)
        self.signal.connect(self.receive, sender=self.model, weak=False, dispatch_uid=self._dispatch_uid())
        _connected.setdefault(self.model, []).append(self)

    def disconnect(self) -> None:
        assert self.signal is not None and self.model is not None
        self.signal.disconnect(sender=self.model, dispatch_uid=self._dispatch_uid())
        if self.reports_changes:
            changes.untrack(self.model)
        if self in _connected.get(self.model, ()):
            _connected[self.model].remove(self)

    # -- payloads ------------------------------------------------------------------------------

    def shape(self, instance: models.Model, data: dict[str, Any]) -> dict[str, Any]:
        """Override to shape the payload: ``data`` holds the provided fields (and ``created``,
        ``changed``, ``previous``); return what to send, e.g. with a related object's name added.

        The result goes through the same JSON checks, and may hold no other field of the model
        than those in ``provides_args``.
        """
        return data

    def build_payload(
        self, instance: models.Model, created: bool = False, before: Mapping[str, Any] | None = None
    ) -> dict[str, Any] | None:
        """The payload for one change of ``instance``; ``None`` when ``on_change`` says it does
        not fire. ``before`` maps the attnames of the fields the save changed to their old values
        (``None``: not known, every save fires)."""
        fields = self.model_fields()
        data = payload.from_instance(instance, fields, self.name)
        if self.signal is model_signals.post_save:
            data["created"] = bool(created)
        if self.reports_changes:
            if not created and before is not None and not any(a in before for a in self.watched_attnames):
                return None
            before = {} if created or before is None else before
            changed = sorted(name for name, field in fields.items() if field.attname in before)
            data["changed"] = changed
            data["previous"] = {
                name: payload.jsonable(before[fields[name].attname], where=f"hook {self.name!r}, field {name!r}")
                for name in changed
            }
        return self._checked(instance, self.shape(instance, data))

    def _checked(self, instance: models.Model, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            raise PayloadError(f"hook {self.name!r}: shape() must return a dict, got {type(data).__name__}.")
        leaked = sorted(k for k in data.keys() - self.provides_args if k in _field_names(type(instance)))
        if leaked:
            raise PayloadError(
                f"hook {self.name!r}: the payload holds {', '.join(leaked)}, field(s) of "
                f"{instance._meta.label} not in provides_args; nothing else leaves the site."
            )
        return payload.jsonable(data, where=f"hook {self.name!r}")

    def receive(self, sender: Any, instance: models.Model, **kwargs: Any) -> None:
        """Signal receiver: build the payload and emit the event (unless ``on_change`` skips it)."""
        if kwargs.get("raw"):  # loaddata: fixtures are not changes
            return
        created = bool(kwargs.get("created"))
        before = changes.saved_changes(instance) if self.reports_changes else None
        data = self.build_payload(instance, created=created, before=before)
        if data is not None:
            self.emit(data, using=kwargs.get("using") or DEFAULT_DB_ALIAS, row=instance.pk)


@functools.cache
def _field_names(model: type[models.Model]) -> frozenset[str]:
    """Names and attnames of the concrete fields of ``model``."""
    return frozenset(n for f in model._meta.concrete_fields for n in (f.name, f.attname))


#: Connected model hooks by model, for bulk writes (``durian.bulk``).
_connected: dict[type[models.Model], list[ModelHook]] = {}


def hooks_of(model: type[models.Model], signal: Signal) -> list[ModelHook]:
    """The connected hooks of ``model`` on ``signal``, in the order they were connected."""
    return [hook for hook in _connected.get(model, ()) if hook.signal is signal]
