"""The Django app: wires durian's signal receivers and system checks, and finds each app's hooks."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save
from django.utils.module_loading import autodiscover_modules


class DurianConfig(AppConfig):
    name = "durian"
    verbose_name = "Webhooks"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import checks  # noqa: F401  (registers the system checks)
        from .models import Listener
        from .signals import listener_disabled
        from .storage import alerts

        post_save.connect(_listener_saved, sender=Listener, dispatch_uid="durian:listener-saved")
        post_delete.connect(_listener_deleted, sender=Listener, dispatch_uid="durian:listener-deleted")
        listener_disabled.connect(alerts.on_listener_disabled, dispatch_uid="durian:alert-owner")
        autodiscover_modules("hooks")


def _listener_saved(sender: Any, instance: Any, **kwargs: Any) -> None:
    from .pipeline import validation
    from .storage import listener_cache

    listener_cache.on_listener_saved(instance)
    validation.on_saved(instance)  # a new URL is validated at once (DURIAN_VERIFY_ENDPOINTS)


def _listener_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    from .storage import listener_cache

    listener_cache.on_listener_deleted(instance.pk)
