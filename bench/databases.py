"""The database of either side of the benchmark, from the environment (no durian import).

``BENCH_DB=postgres`` uses database ``BENCH_PG_NAME`` on ``PGHOST:PGPORT`` as ``PGUSER``
(``BENCH_CONN_MAX_AGE`` seconds of connection reuse, default 0 as in Django); otherwise the
SQLite file ``BENCH_SQLITE`` (``default_sqlite`` when unset).
"""

import os
from typing import Any


def database(default_sqlite: str) -> dict[str, Any]:
    """The ``DATABASES["default"]`` entry the environment asks for."""
    if os.environ.get("BENCH_DB") == "postgres":
        return {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "USER": os.environ.get("PGUSER", "postgres"),
            "PASSWORD": os.environ.get("PGPASSWORD", ""),
            "NAME": os.environ["BENCH_PG_NAME"],
            "CONN_MAX_AGE": int(os.environ.get("BENCH_CONN_MAX_AGE", "0")),
        }
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("BENCH_SQLITE", default_sqlite),
        "OPTIONS": {"timeout": 30},
    }
