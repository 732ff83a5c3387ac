"""System checks: ``manage.py check`` reports a misconfigured durian before anything runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.checks import Error, Warning, register

from .conf import settings


@register("durian")
def check_dramatiq(app_configs: Any = None, **kwargs: Any) -> list:
    errors = []
    apps = list(django_settings.INSTALLED_APPS)
    if "django_dramatiq" not in apps:
        errors.append(
            Error(
                "durian needs 'django_dramatiq' in INSTALLED_APPS (before 'durian').",
                hint="Add 'django_dramatiq' to INSTALLED_APPS; its rundramatiq command runs durian's workers.",
                id="durian.E001",
            )
        )
    elif "durian" in apps and apps.index("django_dramatiq") > apps.index("durian"):
        errors.append(Error("'django_dramatiq' must come before 'durian' in INSTALLED_APPS.", id="durian.E002"))
    if not hasattr(django_settings, "DRAMATIQ_BROKER"):
        errors.append(
            Warning(
                "DRAMATIQ_BROKER is not set; django-dramatiq's default names a middleware that "
                "Dramatiq 2 no longer has.",
                hint="Set DRAMATIQ_BROKER explicitly, with the full MIDDLEWARE list (see README.rst).",
                id="durian.W001",
            )
        )
    return errors


@register("durian")
def check_settings(app_configs: Any = None, **kwargs: Any) -> list:
    errors = []
    schedule = settings.RETRY_SCHEDULE
    try:
        ok = all(float(x) >= 0 for x in schedule)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        errors.append(
            Error(
                f"DURIAN_RETRY_SCHEDULE must be a list of non-negative delays in seconds, got {schedule!r}.",
                id="durian.E010",
            )
        )
    for name in ("CONNECT_TIMEOUT", "READ_TIMEOUT", "REDIS_REQUEST_TIMEOUT"):
        value = getattr(settings, name)
        if not isinstance(value, (int, float)) or value <= 0:
            errors.append(
                Error(f"DURIAN_{name} must be a positive number of seconds, got {value!r}.", id="durian.E011")
            )
    url = settings.REDIS_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        errors.append(Error(f"DURIAN_REDIS_URL {url!r} is not a redis://, rediss:// or unix:// URL.", id="durian.E012"))
    return errors
