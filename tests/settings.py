"""Settings for the test suite: a real Redis (embedded unless $REDIS_URL is set), SQLite or PostgreSQL.

Under pytest-xdist each worker process (``PYTEST_XDIST_WORKER``: gw0, gw1, ...) has a Redis and a
database of its own, since every test empties its Redis: an embedded redis-server per worker, or,
when ``$REDIS_URL`` names a server, a database number per worker on it (see ``redis_url_of_this_run``).
"""

import os
import tempfile
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import django

from durian.conf import dramatiq_broker
from durian.embedded import ensure_redis_url

#: The xdist worker this process is (or was started by); "" without xdist.
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")


def redis_db_of_worker(url: str, worker: str, databases: int = 16) -> str:
    """``url`` with the Redis database number of xdist ``worker``: gw0 keeps the URL's, gwN takes
    the Nth below it (wrapping round Redis's 16), so ``/15`` gives gw0 15, gw1 14, gw2 13 ..."""
    if not worker:
        return url
    parts = urlsplit(url)
    base = int(parts.path.strip("/") or 0)
    return urlunsplit(parts._replace(path=f"/{(base - int(worker.removeprefix('gw'))) % databases}"))


def redis_url_of_this_run() -> str:
    """The Redis of this test process, exported as ``$REDIS_URL`` for the processes it starts.

    ``$REDIS_URL`` as the user gave it (kept in ``$DURIAN_TEST_REDIS_GIVEN`` for the xdist workers):
    one database of that server per worker. None given: an embedded redis-server per process that
    runs tests. A process started by a test process (a fault test's worker, which the test points at
    its own Redis) keeps the ``$REDIS_URL`` it was given: ``$DURIAN_TEST_REDIS_FOR`` names its worker.
    """
    if os.environ.get("REDIS_URL") and os.environ.get("DURIAN_TEST_REDIS_FOR") == XDIST_WORKER:
        return os.environ["REDIS_URL"]
    given = os.environ.setdefault("DURIAN_TEST_REDIS_GIVEN", os.environ.get("REDIS_URL", ""))
    if given:
        os.environ["REDIS_URL"] = redis_db_of_worker(given, XDIST_WORKER)
    else:  # not the embedded server of the xdist controller (which runs no test): one of our own
        os.environ.pop("REDIS_URL", None)
        ensure_redis_url()
    os.environ["DURIAN_TEST_REDIS_FOR"] = XDIST_WORKER
    return os.environ["REDIS_URL"]


REDIS_URL = redis_url_of_this_run()
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
            # One database per test process (each xdist worker, each concurrent run on the machine).
            "TEST": {"NAME": f"test_durian_{XDIST_WORKER or 'main'}_{os.getpid()}"},
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
    # One RabbitMQ serves every xdist worker: each delivers through queues of its own names.
    if XDIST_WORKER:
        DURIAN_QUEUE_NAME = f"durian-{XDIST_WORKER}"
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
