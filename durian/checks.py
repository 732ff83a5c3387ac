"""System checks: ``manage.py check`` reports a misconfigured durian before anything runs."""

from __future__ import annotations

from typing import Any

from django.conf import settings as django_settings
from django.core.checks import Error, Warning, register

from .conf import settings

#: The middleware that runs the stream consumer in every worker process.
STREAM_CONSUMER = "workers.middleware.StreamConsumerMiddleware"


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
    else:
        middleware = list((django_settings.DRAMATIQ_BROKER or {}).get("MIDDLEWARE") or ())
        if STREAM_CONSUMER not in middleware:
            errors.append(
                Warning(
                    f"DRAMATIQ_BROKER['MIDDLEWARE'] does not list {STREAM_CONSUMER!r}; durian.tasks adds it "
                    "when the workers load, but a broker built elsewhere would never read the event stream.",
                    hint="Use durian.conf.dramatiq_broker(...), or add the middleware to the list (see README.rst).",
                    id="durian.W003",
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
    for name in (
        "CONNECT_TIMEOUT",
        "READ_TIMEOUT",
        "TOTAL_TIMEOUT",
        "REDIS_REQUEST_TIMEOUT",
        "SWEEP_INTERVAL",
        "DEDUP_TTL",
    ):
        value = getattr(settings, name)
        if not isinstance(value, (int, float)) or value <= 0:
            errors.append(
                Error(f"DURIAN_{name} must be a positive number of seconds, got {value!r}.", id="durian.E011")
            )
    verify = settings.VERIFY_SCHEDULE
    try:
        ok = bool(verify) and not isinstance(verify, str) and all(float(x) > 0 for x in verify)
    except (TypeError, ValueError):
        ok = False
    if not ok:
        errors.append(
            Error(
                f"DURIAN_VERIFY_SCHEDULE must be a non-empty list of positive delays in seconds, got {verify!r}.",
                id="durian.E015",
            )
        )
    origin = settings.WEBHOOK_ORIGIN
    if origin is not None and (not isinstance(origin, str) or not origin.strip() or "/" in origin):
        errors.append(
            Error(
                f"DURIAN_WEBHOOK_ORIGIN must be a DNS name such as 'webhooks.example.com', got {origin!r}.",
                id="durian.E016",
            )
        )
    url = settings.REDIS_URL
    if not url.startswith(("redis://", "rediss://", "unix://")):
        errors.append(Error(f"DURIAN_REDIS_URL {url!r} is not a redis://, rediss:// or unix:// URL.", id="durian.E012"))
    return errors


@register("durian")
def check_security_settings(app_configs: Any = None, **kwargs: Any) -> list:
    """The SSRF allowlist and resolver, the egress proxy and CA bundle, and the Like length cap."""
    from django.utils.module_loading import import_string

    from .transport.ssrf import allowed_networks

    errors: list = []
    try:
        networks = allowed_networks()
    except (TypeError, ValueError) as exc:
        errors.append(
            Error(
                f"DURIAN_ALLOWED_NETWORKS must be a list of CIDR networks such as '10.20.0.0/16': {exc}",
                id="durian.E013",
            )
        )
        networks = ()
    for network in networks:
        if network.prefixlen < 8:
            errors.append(
                Warning(
                    f"DURIAN_ALLOWED_NETWORKS names {network}, which opens most of the address space to listener URLs.",
                    hint="Name only the internal networks listeners may reach; the SSRF defence relies on it.",
                    id="durian.W002",
                )
            )
    resolver = settings.RESOLVER
    if isinstance(resolver, str):
        try:
            import_string(resolver)
        except ImportError as exc:
            errors.append(Error(f"DURIAN_RESOLVER {resolver!r} cannot be imported: {exc}", id="durian.E014"))
    elif resolver is not None and not callable(resolver):
        errors.append(Error("DURIAN_RESOLVER must be a callable, its dotted path, or None.", id="durian.E014"))
    errors += _egress_errors()
    return errors


def _egress_errors() -> list:
    """``DURIAN_PROXY`` is an http(s) URL with a host (shown without its password); ``DURIAN_CA_BUNDLE``
    a readable file."""
    import os

    from urllib3.util import parse_url

    from .core.redact import display_url

    errors: list = []
    proxy = settings.PROXY
    if proxy:
        try:
            parsed = parse_url(str(proxy))
            valid = parsed.scheme in ("http", "https") and bool(parsed.host)
        except ValueError:
            valid = False
        if not valid:
            errors.append(
                Error(
                    f"DURIAN_PROXY {display_url(str(proxy))!r} is not an http:// or https:// proxy URL with a host.",
                    hint="Such as 'http://user:password@egress.internal:4750', or None to send directly.",
                    id="durian.E020",
                )
            )
    bundle = settings.CA_BUNDLE
    if bundle and not os.path.isfile(str(bundle)):
        errors.append(Error(f"DURIAN_CA_BUNDLE {bundle!r} is not a file (a PEM bundle of CAs).", id="durian.E021"))
    return errors
