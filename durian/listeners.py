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

from .conf import settings
from .core import match
from .models import Listener
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


class ListenerBuilder:
    """``hook.listener(url=...).match(**filters).save()``: builds and saves a ``Listener``."""

    def __init__(self, hook: Hook, url: str, config: dict[str, Any]) -> None:
        self.hook = hook
        self.url = url
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
        check_quota(listener.owner)
        return listener

    def save(self) -> Listener:
        """Validate and save the listener; raises ``ValidationError`` on bad input."""
        listener = self.build()
        listener.save()
        return listener
