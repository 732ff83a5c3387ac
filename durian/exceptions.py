"""Every exception durian raises on purpose, in one hierarchy (``DurianError`` at the top).

Bad input to a listener (a URL, a filter) is reported with Django's ``ValidationError``, as forms
and ``full_clean()`` expect; it is re-exported here so that one import covers both.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


class DurianError(Exception):
    """Base class of durian's own errors."""


class HookError(DurianError):
    """A hook is declared or registered wrongly (duplicate name, unknown field...)."""


class PayloadError(DurianError, TypeError):
    """A value in an event payload cannot be sent as JSON."""


class RefusedURL(DurianError):
    """A URL durian will not deliver to; the message says why, in words a client understands."""


class UnresolvableHost(DurianError):
    """The host name has no address right now (a transient failure at delivery time)."""


class InvalidWebhook(DurianError):
    """A received request is not a webhook signed with one of the given secrets; ``str()`` says why."""


class AmbiguousDuration(DurianError, ValueError):
    """An operator typed a duration whose unit could mean two things (``1m``: a minute or a month?)."""


class SealError(DurianError):
    """A stored signing secret cannot be sealed or opened with the configured keys."""


class TooManyListeners(DurianError):
    """A user already owns ``DURIAN_MAX_LISTENERS_PER_USER`` listeners."""


__all__ = [
    "DurianError",
    "HookError",
    "PayloadError",
    "RefusedURL",
    "UnresolvableHost",
    "InvalidWebhook",
    "SealError",
    "AmbiguousDuration",
    "TooManyListeners",
    "ValidationError",
]
