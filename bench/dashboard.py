"""The delivery-health dashboard at 1 million delivery records: queries and time, and the storage it takes.

    python bench/dashboard.py [--rows 1000000] [--db sqlite|postgres|both]

It fills a fresh database with ``--rows`` delivery records of 200 listeners spread over 30 days
(the default retention; ~33,000 in the last 24 h), then times, each three times (the best shown):
the dashboard's figures for 24 h and for 30 days (every row), and the figures of one page of 50
listener cards. It prints the query count and the time, the table's size per million records, and
how long the retention pass takes to remove one day of records. Redis is not needed: the backlog
figures are left out (they are one Redis call and one COUNT of the outbox).
"""

from __future__ import annotations

import argparse
import datetime
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))


def setup(db: str) -> str:
    """Point Django at a fresh database of kind ``db``; returns its description."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"
    if db == "postgres":
        import psycopg

        name = f"bench_dashboard_{os.getpid()}"
        conn = psycopg.connect(host=os.environ.get("PGHOST", "127.0.0.1"), user=os.environ.get("PGUSER", "postgres"),
                               dbname="postgres", autocommit=True)  # fmt: skip
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
        conn.close()
        os.environ.update(BENCH_DB="postgres", BENCH_PG_NAME=name)
        return "PostgreSQL"
    path = os.path.join(tempfile.mkdtemp(prefix="durian-bench-dashboard-"), "db.sqlite3")
    os.environ.update(BENCH_DB="sqlite", BENCH_SQLITE=path)
    return "SQLite"


def fill(rows: int, listeners: int = 200) -> None:
    """``listeners`` listeners and ``rows`` delivery records over 30 days, made by the database itself."""
    from django.db import connection

    from durian.models import Listener

    made = Listener.objects.bulk_create(
        Listener(hook="person", url=f"https://example.com/{i}", consecutive_failures=i % 7) for i in range(listeners)
    )
    first = min(x.pk for x in made)
    columns = "listener_id, hook, event_id, webhook_id, attempt, ok, status_code, error, duration_ms, created_at"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO durian_delivery ({columns}) "
                f"SELECT {first} + mod(g, {listeners}), 'person', 'e' || g, 'msg_e' || g, 1, ok, "
                "CASE WHEN ok THEN 200 ELSE 503 END, '', 10 + (random() * 90)::int "
                "+ CASE WHEN random() < 0.01 THEN 2000 ELSE 0 END, now() - random() * interval '30 days' "
                "FROM (SELECT g, random() > 0.05 AS ok FROM generate_series(1, %s) g) AS s",
                [rows],
            )
            cursor.execute("ANALYZE durian_delivery")
        else:
            cursor.execute(
                f"WITH RECURSIVE c(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM c WHERE g < %s), "
                "s(g, ok) AS (SELECT g, abs(random()) % 100 >= 5 FROM c) "
                f"INSERT INTO durian_delivery ({columns}) "
                f"SELECT {first} + g % {listeners}, 'person', 'e' || g, 'msg_e' || g, 1, ok, "
                "CASE WHEN ok THEN 200 ELSE 503 END, '', 10 + abs(random()) % 90 "
                "+ CASE WHEN abs(random()) % 100 = 0 THEN 2000 ELSE 0 END, "
                "strftime('%Y-%m-%d %H:%M:%f', 'now', '-' || (abs(random()) % 2592000) || ' seconds') FROM s",
                [rows],
            )
            cursor.execute("ANALYZE")


def best_of(fn, repeat: int = 3) -> tuple[float, int]:
    """The best time (ms) of ``repeat`` calls and the queries one call makes."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    times = []
    for _ in range(repeat):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            fn()
            times.append((time.perf_counter() - started) * 1000)
    return min(times), len(queries.captured_queries)


def table_bytes() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT pg_total_relation_size('durian_delivery')")
            return int(cursor.fetchone()[0])
        cursor.execute("PRAGMA page_size")
        page = cursor.fetchone()[0]
        try:
            cursor.execute("SELECT SUM(pgsize) FROM dbstat WHERE name LIKE 'durian_delivery%'")
            return int(cursor.fetchone()[0])
        except Exception:  # no dbstat: the whole file
            cursor.execute("PRAGMA page_count")
            return int(cursor.fetchone()[0]) * page


def run(db: str, rows: int) -> list[tuple[str, str, str, str]]:
    label = setup(db)
    import django

    django.setup()
    from django.core.management import call_command

    from durian.models import Delivery, Listener
    from durian.storage import retention, stats
    from durian.web import dashboard

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    fill(rows)
    fill_s = time.perf_counter() - started
    print(f"[{label}] {rows:,} records written in {fill_s:.0f} s", file=sys.stderr)
    from django.utils import timezone

    cards = list(Listener.objects.order_by("hook", "id")[:50])
    since = timezone.now() - datetime.timedelta(hours=24)
    out = []
    for name, fn in [
        ("dashboard, last 24 h", lambda: dashboard.figures(24)),
        ("dashboard, last 30 days (every row)", lambda: dashboard.figures(24 * 30)),
        ("listener page: figures of 50 cards", lambda: stats.for_listeners(cards, since)),
    ]:
        ms, queries = best_of(lambda fn=fn: _without_redis(fn))
        out.append((label, name, str(queries), f"{ms:,.0f} ms"))
    size = table_bytes()
    out.append((label, "delivery table + indexes per million records", "", f"{size / rows * 1e6 / 2**20:,.0f} MiB"))
    before = timezone.now() - datetime.timedelta(days=29)
    old = Delivery.objects.filter(created_at__lt=before).count()
    started = time.perf_counter()
    removed = retention.delete_in_batches(retention.old_deliveries(before), 5000)
    ms = (time.perf_counter() - started) * 1000
    out.append(
        (label, f"retention: remove one day ({removed:,} of {old:,} rows, batches of 5000)", "", f"{ms:,.0f} ms")
    )
    return out


def _without_redis(fn):
    from durian.storage import stats

    real = stats.backlog
    stats.backlog = lambda client: stats.Backlog(0, 0, 0, 0)
    try:
        return fn()
    finally:
        stats.backlog = real


def drop(db: str) -> None:
    """Remove the benchmark's PostgreSQL database (the SQLite file is in a temporary directory)."""
    if db != "postgres" or "BENCH_PG_NAME" not in os.environ:
        return
    import psycopg
    from django.db import connections

    connections.close_all()
    conn = psycopg.connect(host=os.environ.get("PGHOST", "127.0.0.1"), user=os.environ.get("PGUSER", "postgres"),
                           dbname="postgres", autocommit=True)  # fmt: skip
    conn.execute(f"DROP DATABASE IF EXISTS {os.environ['BENCH_PG_NAME']}")
    conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args(argv)
    try:
        rows = run(args.db, args.rows)
    finally:
        drop(args.db)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    header = ("database", "what", "queries", "time / size")
    widths = [max(w, len(h)) for w, h in zip(widths, header, strict=True)]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
