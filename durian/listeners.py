"""Making listeners: the one check against the site's hooks, and the Python builder.

``validate_listener`` is what every way of making a listener calls: the builder
(``hook.listener(url=...).save()``), the web form and the admin form. It runs the model's own
invariants (``full_clean``), then what depends on the site: the hook is registered, the filters
fit the fields it provides, and the URL may be delivered to (``durian.transport.ssrf``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import signals as model_signals

from .conf import settings
from .core import match
from .models import Backfill, Listener
from .pipeline import backfill as backfills
from .registry import hooks
from .transport.ssrf import validate_listener_url

if TYPE_CHECKING:
    from .hook import Hook


def validate_listener(listener: Listener, exclude: Iterable[str] = ()) -> None:
    """Raise ``ValidationError`` (by field) unless ``listener`` can be saved and delivered to.

    ``exclude`` names model fields left out of ``full_clean`` (a form that does not edit them).
    """
    errors: dict[str, list[str]] = {}
    try:
        listener.full_clean(exclude=list(exclude), validate_unique=False)
    except ValidationError as exc:
        errors = exc.message_dict
    hook = hooks.get(listener.hook)
    if hook is None:
        errors.setdefault("hook", []).append(f"No hook named {listener.hook!r} is registered.")
    if listener.url and "url" not in errors:
        try:
            validate_listener_url(listener.url)
        except ValidationError as exc:
            errors.setdefault("url", []).extend(exc.messages)
    if hook is not None and "fields" not in errors and isinstance(listener.fields, list):
        unknown = [name for name in listener.fields if name not in hook.fields]
        if unknown:
            errors.setdefault("fields", []).append(
                f"{listener.hook!r} provides no field {', '.join(map(repr, unknown))}; "
                f"choose among {', '.join(hook.fields) or 'none'}."
            )
    if hook is not None and not errors.keys() - {"url", "description", "fields", "headers", "retry_schedule"}:
        try:
            hook.validate_filters(listener.matchers)
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                errors.setdefault(field, []).extend(messages)
    if errors:
        raise ValidationError(errors)


def check_quota(owner: Any) -> None:
    """Raise ``ValidationError`` when ``owner`` may not make another listener.

    ``DURIAN_MAX_LISTENERS_PER_USER`` caps how many listeners one user owns; staff, listeners
    without an owner and a cap of ``None`` are exempt.
    """
    limit = settings.MAX_LISTENERS_PER_USER
    if limit is None or owner is None or getattr(owner, "is_staff", False) or owner.pk is None:
        return
    if Listener.objects.filter(owner=owner).count() >= int(limit):
        raise ValidationError(
            f"You already have {int(limit)} listeners, the most one user may have. "
            "Delete one you no longer need, or ask the site's staff."
        )


def validate_backfill(hook_name: str) -> None:
    """Raise ``ValidationError`` naming ``backfill`` unless hook ``hook_name`` can be backfilled: a
    registered ``ModelHook`` fired on ``post_save`` (its rows exist; a delete hook's do not) whose events
    go through the workers (``async_``: live events of an in-process hook could not wait for it)."""
    hook = hooks.get(hook_name)
    if hook is None:
        raise ValidationError({"backfill": f"No hook named {hook_name!r} is registered; nothing to backfill."})
    if hook.model is None:  # a plain Hook: a ModelHook always has its model
        raise ValidationError(
            {"backfill": f"Hook {hook_name!r} is not tied to a model: only a ModelHook's rows can be backfilled."}
        )
    if hook.signal is not model_signals.post_save:
        raise ValidationError(
            {"backfill": f"Hook {hook_name!r} fires when a row is deleted: existing rows cannot be backfilled."}
        )
    if not hook.async_:
        raise ValidationError(
            {
                "backfill": f"Hook {hook_name!r} delivers in the saving process (async_ = False): it cannot be backfilled."
            }
        )


def start_backfill(listener: Listener, worker_after_ms: int | None = None) -> Backfill:
    """Start (or start again) the backfill of a saved ``listener``, in the caller's transaction: from
    the commit on its live events wait, and a worker runs it (``durian.pipeline.backfill``), after
    ``worker_after_ms`` when the caller runs it itself (``manage.py durian_backfill``).
    Raises ``ValidationError`` naming ``backfill`` for a hook that cannot be backfilled."""
    validate_backfill(listener.hook)
    with transaction.atomic():
        backfill = backfills.begin(listener)
        backfills.queue_run(listener.pk, delay_ms=worker_after_ms)
    return backfill


def create_listener(listener: Listener, backfill: bool = False) -> Listener:
    """Save a new, validated ``listener``, with its backfill when asked, in one transaction (so that
    no live event reaches it before the backfill's wait does). Every way of making one calls it."""
    if backfill:
        validate_backfill(listener.hook)
    with transaction.atomic():
        listener.save()
        if backfill:
            start_backfill(listener)
    return listener


class ListenerBuilder:
    """``hook.listener(url=...).match(**filters).save()``: builds and saves a ``Listener``.

    ``backfill=True`` (a ``ModelHook``'s only) sends it one event for each existing row its filters
    match before its live events."""

    def __init__(self, hook: Hook, url: str, config: dict[str, Any]) -> None:
        self.hook = hook
        self.url = url
        self.backfill = bool(config.pop("backfill", False))
        self.config = config
        self.filters: dict[str, match.Matcher] = {}

    def match(self, **filters: Any) -> ListenerBuilder:
        """Add filters (field=matcher or field=value); all must hold. Unknown fields fail at once."""
        coerced = {field: match.coerce(m) for field, m in filters.items()}
        self.hook.validate_filters(coerced)
        self.filters.update(coerced)
        return self

    def build(self) -> Listener:
        """An unsaved, validated ``Listener``."""
        listener = Listener(
            hook=self.hook.name, url=self.url, filters=match.filters_to_json(self.filters), **self.config
        )
        validate_listener(listener)
        if self.backfill:
            validate_backfill(listener.hook)
        check_quota(listener.owner)
        return listener

    def save(self) -> Listener:
        """Validate and save the listener; raises ``ValidationError`` on bad input. With
        ``backfill=True`` it first receives every existing row its filters match (``start_backfill``)."""
        return create_listener(self.build(), backfill=self.backfill)
