"""Django settings of the benchmark's durian side: the example ``people`` app, durian's defaults.

``BENCH_DB`` picks the database: ``sqlite`` (the file ``BENCH_SQLITE``) or ``postgres`` (database
``BENCH_PG_NAME`` on ``PGHOST:PGPORT`` as ``PGUSER``). Redis comes from ``$REDIS_URL``.
"""

import json
import os

from bench.databases import database
from durian.conf import dramatiq_broker

SECRET_KEY = "bench-only"
DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django_dramatiq",
    "durian",
    "example_project.people",
]

DATABASES = {"default": database("bench-durian.sqlite3")}

DRAMATIQ_BROKER = dramatiq_broker(os.environ.get("REDIS_URL"))
# The benchmark's receiver listens on loopback, which durian refuses by default (SSRF).
DURIAN_ALLOWED_NETWORKS = ["127.0.0.0/8"]
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"durian": {"handlers": ["console"], "level": "WARNING"}},
}

# Experiments: BENCH_DURIAN_<NAME>=value overrides DURIAN_<NAME> (integers only).
for _key, _value in list(os.environ.items()):
    if _key.startswith("BENCH_DURIAN_"):
        globals()[_key.removeprefix("BENCH_")] = json.loads(_value)  # a number, or a list (a retry schedule)
