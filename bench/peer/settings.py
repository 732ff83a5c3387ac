"""Django settings of the peer: django-webhook sending ``peer.Person`` changes through Celery.

Same database choice as ``bench.settings`` (``BENCH_DB``, ``BENCH_SQLITE``, ``BENCH_PG_NAME``);
Celery uses the same Redis server as durian (``$REDIS_URL``, database 1).
"""

import os

from bench.databases import database

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

DATABASES = {"default": database("bench-peer.sqlite3")}

DJANGO_WEBHOOK = {"MODELS": ["peer.Person"]}

_redis = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0] + "/1"
CELERY_BROKER_URL = _redis
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
