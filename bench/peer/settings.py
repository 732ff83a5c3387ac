"""Django settings of the peer: django-webhook sending ``peer.Person`` changes through Celery.

Same database choice as ``bench.settings`` (``BENCH_DB``, ``BENCH_SQLITE``, ``BENCH_PG_NAME``);
Celery uses the same Redis server as durian (``$REDIS_URL``, database 1).
"""

import os

SECRET_KEY = "bench-only"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_webhook",
    "bench.peer.apps.PeerConfig",
]

if os.environ.get("BENCH_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "NAME": os.environ["BENCH_PG_NAME"],
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("BENCH_SQLITE", "bench-peer.sqlite3"),
            "OPTIONS": {"timeout": 30},
        }
    }

DJANGO_WEBHOOK = {"MODELS": ["peer.Person"]}

_redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/1"
CELERY_BROKER_URL = _redis
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
