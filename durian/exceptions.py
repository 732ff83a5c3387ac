"""One exception hierarchy for everything durian raises on purpose."""

from __future__ import annotations

from django.core.exceptions import ValidationError


class DurianError(Exception):
    """Base class of durian's own errors."""


class HookError(DurianError):
    """A hook is declared or registered wrongly (duplicate name, unknown field...)."""


class PayloadError(DurianError, TypeError):
    """A value in an event payload cannot be sent as JSON."""


class DeliveryError(DurianError):
    """One delivery attempt failed; ``status_code`` is set when the receiver answered."""

    def __init__(self, message: str, status_code: int | None = None, excerpt: str = "") -> None:
        super().__init__(message)
        self.status_code = status_code
        self.excerpt = excerpt


__all__ = ["DurianError", "HookError", "PayloadError", "DeliveryError", "ValidationError"]
