"""Settings for the test suite: a real Redis (embedded unless $REDIS_URL is set), SQLite or PostgreSQL."""

import os
import tempfile
from pathlib import Path

import django

from durian.conf import dramatiq_broker
from durian.embedded import ensure_redis_url

REDIS_URL = ensure_redis_url()
BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = "tests"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True

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
    "tests.testapp",
]
MIDDLEWARE = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
ROOT_URLCONF = "tests.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
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
STATIC_URL = "static/"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

if os.environ.get("DURIAN_TEST_DATABASE") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "NAME": os.environ.get("PGDATABASE", "test"),
            "TEST": {"NAME": f"test_durian_{os.getpid()}"},
        }
    }
else:
    _db = os.path.join(tempfile.gettempdir(), f"durian-test-{os.getpid()}.sqlite3")
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": _db,
            "TEST": {"NAME": _db},
            # IMMEDIATE: a transaction takes the write lock when it begins, so concurrent writers
            # (delivery threads, a bulk update) wait for it instead of failing on an upgrade.
            "OPTIONS": {"timeout": 30, **({"transaction_mode": "IMMEDIATE"} if django.VERSION >= (5, 1) else {})},
        }
    }

if os.environ.get("DURIAN_TEST_DB_NAME"):  # a worker process started by a fault test: the test's database
    DATABASES["default"]["NAME"] = DATABASES["default"]["TEST"]["NAME"] = os.environ["DURIAN_TEST_DB_NAME"]

# The subscriptions API (durian.api): its OpenAPI schema is drf-spectacular's.
REST_FRAMEWORK = {"DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema"}
DRAMATIQ_BROKER = dramatiq_broker(REDIS_URL)
if os.environ.get("DURIAN_TEST_BROKER") == "rabbitmq":  # the delivery queue on RabbitMQ (.ci/run's pass)
    DRAMATIQ_BROKER = {
        "BROKER": "dramatiq.brokers.rabbitmq.RabbitmqBroker",
        "OPTIONS": {"url": os.environ.get("RABBITMQ_URL", "amqp://guest:guest@127.0.0.1:5672")},
        "MIDDLEWARE": DRAMATIQ_BROKER["MIDDLEWARE"],
    }
DURIAN_BLOCK_MS = 100
DURIAN_RETRY_SCHEDULE = [0.1, 0.2]
DURIAN_RETRY_JITTER = 0.0
DURIAN_CONNECT_TIMEOUT = 2.0
DURIAN_READ_TIMEOUT = 5.0
# The receivers of the test suite listen on loopback, which durian refuses by default (SSRF).
DURIAN_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]
# No DNS in tests: names resolve through a FixedResolver (tests/names.py), never the system's.
DURIAN_RESOLVER = "tests.names.NAMES"
# Store delivery records at once, so no test sees rows of another; tests/test_recorder.py covers
# the background batches production uses.
DURIAN_RECORD_INTERVAL_MS = 0
