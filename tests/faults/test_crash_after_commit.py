"""The process that saved dies right after the commit, before relaying its events to Redis."""

import os
import subprocess
import sys
import time

import pytest
from django.db import connection

from durian.models import OutboxEvent
from durian.storage.connection import get_redis
from example_project.people.hooks import PersonHook

from .conftest import FAULTS_A, ROOT, WORKER_SETTINGS, await_all, report

# FAULTS_A: two fault tests at most at once (tests/faults/conftest.py says why).
pytestmark = [pytest.mark.fault, FAULTS_A, pytest.mark.timeout(400)]

EVENTS = 100

#: Saves EVENTS people in one transaction, and exits (no clean-up) in the first on_commit callback,
#: which runs before durian's relay because it was registered first.
CRASHING_SITE = f"""
import os
import django

django.setup()
from django.db import transaction
from example_project.people.models import Person

with transaction.atomic():
    transaction.on_commit(lambda: os._exit(3))
    for i in range({EVENTS}):
        Person.objects.create(name=f"crash{{i}}", address="a", secret="s")
"""


def test_events_of_a_process_killed_between_commit_and_relay_are_delivered_by_the_sweep(cluster, receiver):
    PersonHook().listener(url=receiver.url).save()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": WORKER_SETTINGS,
        "REDIS_URL": cluster.redis.url,
        "DURIAN_TEST_DB_NAME": str(connection.settings_dict["NAME"]),
        "PYTHONPATH": str(ROOT),
    }
    site = subprocess.run([sys.executable, "-c", CRASHING_SITE], cwd=ROOT, env=env, timeout=60, capture_output=True)
    assert site.returncode == 3, site.stderr.decode()[-2000:]
    assert OutboxEvent.objects.count() == EVENTS  # committed with the people...
    assert not get_redis("worker").exists("durian:events")  # ...and never relayed

    started = time.monotonic()
    cluster.start_worker()
    tally = await_all(receiver, EVENTS, saved={f"crash{i}" for i in range(EVENTS)})
    report("crash between commit and relay", tally, recovered_s_incl_worker_start=time.monotonic() - started - 0.5)
    tally.assert_complete(max_duplicates=0)
    assert not OutboxEvent.objects.exists()
