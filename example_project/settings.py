"""Settings of the example project (SQLite, Redis from $REDIS_URL)."""

import os
from pathlib import Path

from durian.conf import dramatiq_broker

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("DURIAN_EXAMPLE_VAR", BASE_DIR / "var"))
VAR_DIR.mkdir(exist_ok=True)

SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-secret")
DEBUG = os.environ.get("DJANGO_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_dramatiq",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "durian",
    "example_project.people",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "example_project.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "example_project" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
WSGI_APPLICATION = "example_project.wsgi.application"

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": VAR_DIR / "example.sqlite3"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
TIME_ZONE = "UTC"
STATIC_URL = "static/"
# Any user may sign in here (the admin's login page takes staff only); the webhook pages need it.
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "/webhooks/"
LOGOUT_REDIRECT_URL = "/"

# durian: Redis from $REDIS_URL (the `python dev.py example` launcher starts an embedded one).
# The subscriptions API (durian.api): its OpenAPI schema is drf-spectacular's.
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
# prometheus=True: each worker serves Dramatiq's and durian's metrics on port 9191 (dramatiq_prom_port;
# `python dev.py example` picks a free one when 9191 is taken, and says which).
DRAMATIQ_BROKER = dramatiq_broker(prometheus=True)
DURIAN_RETRY_SCHEDULE = [2, 10, 30]  # short, so the demo shows retries quickly
# The demo delivers to its own receiver on loopback, which durian refuses unless allowed (SSRF).
DURIAN_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(name)s %(levelname)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "durian": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "example_project": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}
