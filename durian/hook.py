"""Hooks: the events a site offers to its clients.

A ``Hook`` is fired by hand with ``send()``; a ``ModelHook`` fires on a model signal. Only the
fields named in ``provides_args`` ever leave the site.

``async_`` (default True) picks the delivery path: through the Redis Stream and the workers, or
in the calling process right after commit. The original durian spelled it ``async``, a keyword
since Python 3.7; ``async_`` follows PEP 8's trailing-underscore rule.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db import DEFAULT_DB_ALIAS, models
from django.db.models import signals as model_signals
from django.dispatch import Signal

from .core import match, payload
from .core.event import Event
from .exceptions import HookError
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

    def validate(self) -> None:
        """Raise ``HookError`` when the declaration is wrong. Called by ``hooks.register``."""
        if not self.name or not isinstance(self.name, str):
            raise HookError(f"{type(self).__name__} needs a non-empty string `name`.")

    def validate_filters(self, filters: Mapping[str, Any]) -> None:
        """Raise ``ValidationError`` naming the first unknown field or unusable matcher."""
        known = self.fields
        for field, matcher in filters.items():
            if known and field not in known:
                raise ValidationError(
                    {field: f"Hook {self.name!r} has no field {field!r}; it provides {', '.join(known)}."}
                )
            match.coerce(matcher).validate(field)

    # -- firing --------------------------------------------------------------------------------

    def send(self, sender: Any = None, /, **data: Any) -> Event:
        """Fire this hook with ``data`` (only ``provides_args`` keys are kept, when declared)."""
        if self.provides_args:
            data = {k: v for k, v in data.items() if k in self.provides_args}
        return self.emit(payload.jsonable(data, where=f"hook {self.name!r}"))

    def emit(self, data: dict[str, Any], using: str = DEFAULT_DB_ALIAS) -> Event:
        """Hand a ready JSON payload to the dispatcher: it leaves after the transaction commits."""
        event = Event(hook=self.name, payload=data)
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
    """A hook fired by a model signal (``post_save`` by default) for ``model``."""

    signal: ClassVar[Signal | None] = model_signals.post_save

    @property
    def fields(self) -> list[str]:
        fields = list(self.provides_args)
        if self.signal is model_signals.post_save:
            fields.append("created")
        return fields

    def validate(self) -> None:
        super().validate()
        if self.model is None:
            raise HookError(f"Hook {self.name!r}: set `model` on {type(self).__name__}.")
        if self.signal is None:
            raise HookError(f"Hook {self.name!r}: set `signal` on {type(self).__name__}.")
        try:
            self._fields = payload.model_fields(self.model, self.provides_args)
        except KeyError as exc:
            raise HookError(
                f"Hook {self.name!r}: provides_args names {exc.args[0]!r}, "
                f"which is no field of {self.model._meta.label}."
            ) from None

    def _dispatch_uid(self) -> str:
        # Per instance: unregistering one hook never disconnects another of the same name.
        return f"durian:{self.name}:{id(self)}"

    def connect(self) -> None:
        assert self.signal is not None
        self.signal.connect(self.receive, sender=self.model, weak=False, dispatch_uid=self._dispatch_uid())

    def disconnect(self) -> None:
        assert self.signal is not None
        self.signal.disconnect(sender=self.model, dispatch_uid=self._dispatch_uid())

    def build_payload(self, instance: models.Model, **kwargs: Any) -> dict[str, Any]:
        """The payload for one signal: the provided fields, plus ``created`` for ``post_save``."""
        fields = getattr(self, "_fields", None) or payload.model_fields(type(instance), self.provides_args)
        data = payload.from_instance(instance, fields, self.name)
        if self.signal is model_signals.post_save:
            data["created"] = bool(kwargs.get("created"))
        return data

    def receive(self, sender: Any, instance: models.Model, **kwargs: Any) -> None:
        """Signal receiver: build the payload and emit the event."""
        if kwargs.get("raw"):  # loaddata: fixtures are not changes
            return
        self.emit(self.build_payload(instance, **kwargs), using=kwargs.get("using") or DEFAULT_DB_ALIAS)
